package e2e

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// rawViewer is a WHEP viewer that records the RTP sequence numbers it
// receives on video, duplicates included (SRTP replay protection off, so a
// retransmission of a packet it already has is seen).
type rawViewer struct {
	pc       *webrtc.PeerConnection
	mu       sync.Mutex
	ssrc     uint32
	seen     map[uint16]int
	order    []uint16
	changed  chan struct{}
	location string
}

func newRawViewer(t *testing.T) *rawViewer {
	t.Helper()
	api := clientAPIWith(t, func(s *webrtc.SettingEngine) { s.DisableSRTPReplayProtection(true) })
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	v := &rawViewer{pc: pc, seen: map[uint16]int{}, changed: make(chan struct{})}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			v.mu.Lock()
			v.ssrc = pkt.SSRC
			v.seen[pkt.SequenceNumber]++
			v.order = append(v.order, pkt.SequenceNumber)
			close(v.changed)
			v.changed = make(chan struct{})
			v.mu.Unlock()
		}
	})
	return v
}

// waitFor waits until cond holds on the recorded packets.
func (v *rawViewer) waitFor(ctx context.Context, what string, cond func() bool) error {
	for {
		v.mu.Lock()
		ok, ch := cond(), v.changed
		v.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return &timeoutErr{what: what}
		}
	}
}

type timeoutErr struct{ what string }

func (e *timeoutErr) Error() string { return "timed out waiting for " + e.what }

// TestNACKAnsweredFromBuffer: a viewer's NACK for a packet is answered with
// that packet again, from the gateway's retransmission buffer.
func TestNACKAnsweredFromBuffer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := startGateway(t)
	startPublisher(t, ctx, g, "live")
	v := newRawViewer(t)
	loc, err := offerAndPost(ctx, v.pc, g.base+"/whep/live", "")
	if err != nil {
		t.Fatal(err)
	}
	v.location = loc
	if err := v.waitFor(ctx, "100 video packets", func() bool { return len(v.order) >= 100 }); err != nil {
		t.Fatal(err)
	}
	v.mu.Lock()
	ssrc, want := v.ssrc, v.order[len(v.order)-20]
	v.mu.Unlock()
	nack := &rtcp.TransportLayerNack{MediaSSRC: ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{want})}
	if err := v.pc.WriteRTCP([]rtcp.Packet{nack}); err != nil {
		t.Fatal(err)
	}
	if err := v.waitFor(ctx, "the retransmission", func() bool { return v.seen[want] >= 2 }); err != nil {
		t.Fatalf("NACK for sequence %d: %v", want, err)
	}
}

// TestKeyframeRequestsUpstream: a joining viewer's keyframe request, and a
// later PLI from a viewer, reach the WHIP publisher. (The rate limit on them
// is TestRequestKeyframeRateLimit in gateway/stream.)
func TestKeyframeRequestsUpstream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := startGateway(t)
	pub, _ := startPublisher(t, ctx, g, "live")
	drain := func() {
		select {
		case <-pub.pliCh:
		default:
		}
	}
	waitPLI := func(what string) {
		t.Helper()
		select {
		case <-pub.pliCh:
		case <-ctx.Done():
			t.Fatalf("no keyframe request reached the publisher %s", what)
		}
	}
	drain()
	v := newRawViewer(t)
	if _, err := offerAndPost(ctx, v.pc, g.base+"/whep/live", ""); err != nil {
		t.Fatal(err)
	}
	waitPLI("after a viewer joined")
	if err := v.waitFor(ctx, "video", func() bool { return len(v.order) > 0 }); err != nil {
		t.Fatal(err)
	}
	v.mu.Lock()
	ssrc := v.ssrc
	v.mu.Unlock()
	drain()
	// The rate limit lets one through per 500 ms: keep asking, bounded.
	for i := 0; ; i++ {
		if err := v.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-pub.pliCh:
			return
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("viewer PLIs (%d sent) never reached the publisher", i+1)
		}
	}
}
