package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// lossyConn is a client's UDP socket that loses a share of the RTP it
// receives: the choice is a seeded pseudo-random one, so a run drops the
// same packets of the same arrival order. STUN, DTLS and RTCP (RFC 7983,
// RFC 5761 section 4: second byte 192-223) always get through. SRTP leaves
// the RTP header in clear, so it counts what it dropped and let through per
// SSRC and sequence number.
type lossyConn struct {
	net.PacketConn // an interface, not *net.UDPConn: pion's mux must use ReadFrom

	rate float64
	mu   sync.Mutex
	rng  *rand.Rand
	ssrc map[uint32]*ssrcTally
}

// ssrcTally is what lossyConn saw of one SSRC.
type ssrcTally struct {
	received, dropped int
	// redelivered counts packets that got through with a sequence number
	// dropped before: retransmissions on the media stream itself.
	redelivered int
	droppedSeq  map[uint16]bool
}

func newLossyConn(c net.PacketConn, rate float64, seed uint64) *lossyConn {
	return &lossyConn{PacketConn: c, rate: rate, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), ssrc: map[uint32]*ssrcTally{}}
}

// isRTP reports whether a datagram is RTP (or SRTP): version 2 and not an
// RTCP packet type.
func isRTP(b []byte) bool {
	return len(b) >= 12 && b[0] >= 128 && b[0] <= 191 && (b[1] < 192 || b[1] > 223)
}

// ReadFrom returns the next datagram that is not lost.
func (c *lossyConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || !isRTP(b[:n]) || !c.lose(b[:n]) {
			return n, addr, err
		}
	}
}

// lose decides a packet's fate and counts it.
func (c *lossyConn) lose(b []byte) bool {
	ssrc := uint32(b[8])<<24 | uint32(b[9])<<16 | uint32(b[10])<<8 | uint32(b[11])
	seq := uint16(b[2])<<8 | uint16(b[3])
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.ssrc[ssrc]
	if t == nil {
		t = &ssrcTally{droppedSeq: map[uint16]bool{}}
		c.ssrc[ssrc] = t
	}
	if c.rng.Float64() < c.rate {
		t.dropped++
		t.droppedSeq[seq] = true
		return true
	}
	t.received++
	if t.droppedSeq[seq] {
		t.redelivered++
	}
	return false
}

// tally returns a copy of the counts for ssrc (zero if never seen) and the
// SSRCs seen.
func (c *lossyConn) tally(ssrc uint32) (ssrcTally, []uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var seen []uint32
	for s := range c.ssrc {
		seen = append(seen, s)
	}
	if t := c.ssrc[ssrc]; t != nil {
		return ssrcTally{received: t.received, dropped: t.dropped, redelivered: t.redelivered}, seen
	}
	return ssrcTally{}, seen
}

// answerSSRCs reads the video SSRC, its RTX SSRC (a=ssrc-group:FID, 0 if
// none) and the audio SSRC of a WHEP answer.
func answerSSRCs(answer string) (video, rtx, audio uint32, err error) {
	var d sdp.SessionDescription
	if err := d.UnmarshalString(answer); err != nil {
		return 0, 0, 0, fmt.Errorf("answer: %w", err)
	}
	for _, m := range d.MediaDescriptions {
		for _, a := range m.Attributes {
			var f []string
			switch a.Key {
			case "ssrc-group":
				f = fidLine.FindStringSubmatch(a.Value)
				if f == nil {
					continue
				}
				v, _ := strconv.ParseUint(f[1], 10, 32)
				r, _ := strconv.ParseUint(f[2], 10, 32)
				video, rtx = uint32(v), uint32(r)
			case "ssrc":
				f = ssrcLine.FindStringSubmatch(a.Value)
				if f == nil {
					continue
				}
				s, _ := strconv.ParseUint(f[1], 10, 32)
				switch m.MediaName.Media {
				case "video":
					if video == 0 {
						video = uint32(s)
					}
				case "audio":
					audio = uint32(s)
				}
			}
		}
	}
	if video == 0 || audio == 0 {
		return 0, 0, 0, fmt.Errorf("answer without a video and an audio SSRC:\n%s", answer)
	}
	return video, rtx, audio, nil
}

var (
	fidLine  = regexp.MustCompile(`^FID (\d+) (\d+)$`)
	ssrcLine = regexp.MustCompile(`^(\d+) `)
)

// TestWHEPLossRecovered: a pion WHEP viewer whose socket loses 5 % of the
// RTP it receives asks for it again with pion's NACK generator, and the
// gateway resends it from the stream's retransmission buffer: as RFC 4588
// RTX when the viewer's offer has rtx for H264, on the media stream itself
// when not. Every access unit the viewer rebuilds from its first keyframe
// on is the publisher's, and almost every frame sent in that span is
// complete at the viewer (without retransmission, 5 % loss spoils about
// one frame in seven of the demo stream's).
func TestWHEPLossRecovered(t *testing.T) {
	const (
		lossRate   = 0.05
		window     = 6 * time.Second
		minDropped = 20   // packets lost in the window (about 150 RTP/s come in)
		minFrames  = 0.95 // share of the frames sent in the span complete at the viewer
		rtxPT      = 114  // the client's rtx payload type for H264 (109)
	)
	for _, tc := range []struct {
		name string
		rtx  bool
		seed uint64
	}{
		{"RTX", true, 4588},
		{"NoRTX", false, 4585},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			g := startGateway(t)
			pub, _ := startPublisher(t, ctx, g, "live")

			udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			lossy := newLossyConn(udp, lossRate, tc.seed)
			mux := webrtc.NewICEUDPMux(nil, lossy)
			t.Cleanup(func() { _ = mux.Close() }) // closes udp too
			api := clientAPIInterceptors(t, func(m *webrtc.MediaEngine, reg *interceptor.Registry) error {
				if tc.rtx {
					if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
						MimeType: webrtc.MimeTypeRTX, ClockRate: 90000, SDPFmtpLine: "apt=109",
					}, PayloadType: rtxPT}, webrtc.RTPCodecTypeVideo); err != nil {
						return fmt.Errorf("register rtx: %w", err)
					}
				}
				// pion feeds RTX-repaired packets to the track, not back
				// through the media stream's generator, which therefore
				// asks again for a packet RTX already repaired: bound it.
				gen, err := nack.NewGeneratorInterceptor(nack.GeneratorMaxNacksPerPacket(3))
				if err != nil {
					return fmt.Errorf("nack generator: %w", err)
				}
				reg.Add(gen)
				return nil
			}, func(s *webrtc.SettingEngine) {
				s.SetICEUDPMux(mux)
				// A browser's SRTP replay window (libwebrtc: 1024 packets),
				// not pion's 64: a retransmission comes after the rest of a
				// keyframe's packets.
				s.SetSRTPReplayProtectionWindow(1024)
			})
			viewer := newWHEPClient(t, api)
			if err := viewer.play(ctx, g.base, "live"); err != nil {
				t.Fatalf("play: %v", err)
			}
			offer := viewer.pc.LocalDescription().SDP
			if has := regexp.MustCompile(`a=fmtp:\d+ apt=109`).MatchString(offer); has != tc.rtx {
				t.Fatalf("the viewer's offer has rtx for H264: %v, want %v", has, tc.rtx)
			}
			videoSSRC, rtxSSRC, audioSSRC, err := answerSSRCs(viewer.pc.RemoteDescription().SDP)
			if err != nil {
				t.Fatal(err)
			}
			if tc.rtx != (rtxSSRC != 0) {
				t.Fatalf("answer's RTX SSRC %d for an offer with rtx %v", rtxSSRC, tc.rtx)
			}
			if err := viewer.got.waitFor(ctx, "the first video unit", func(v [][][]byte, _ [][]byte) bool { return len(v) > 0 }); err != nil {
				t.Fatal(err)
			}
			// The window is a span of stream time to observe, not a wait
			// for an event.
			select {
			case <-time.After(window):
			case <-ctx.Done():
				t.Fatal(ctx.Err())
			}

			gotV, _, _ := viewer.got.snapshot()
			gotTS, _ := viewer.got.timestamps()
			sentV, _, _ := pub.sent.snapshot()
			sentTS, _ := pub.sent.timestamps()
			metrics := scrape(t, g.base+"/metrics")
			nacks := metrics[`frontrow_webrtc_nacks_received_total{stream="live"}`]
			resent := metrics[`frontrow_webrtc_retransmissions_total{stream="live"}`]
			video, seen := lossy.tally(videoSSRC)
			audio, _ := lossy.tally(audioSSRC)
			var rtx ssrcTally
			if rtxSSRC != 0 {
				rtx, _ = lossy.tally(rtxSSRC)
			}

			// The loss happened, the gateway heard of it and resent.
			dropped := video.dropped + audio.dropped + rtx.dropped
			t.Logf("seed %d: dropped %d RTP packets (video %d of %d, audio %d of %d, rtx %d of %d); %d lost video packets came again on the media SSRC; gateway: %v NACKed, %v retransmitted",
				tc.seed, dropped, video.dropped, video.dropped+video.received, audio.dropped, audio.dropped+audio.received,
				rtx.dropped, rtx.dropped+rtx.received, video.redelivered, nacks, resent)
			if dropped < minDropped || video.dropped == 0 {
				t.Errorf("dropped %d packets (%d video) in %v, want at least %d: the loss did not happen", dropped, video.dropped, window, minDropped)
			}
			if nacks < 1 || resent < 1 {
				t.Errorf("gateway counted %v NACKed sequence numbers and %v retransmissions, want both above 0", nacks, resent)
			}
			if resent > nacks {
				t.Errorf("gateway retransmitted %v packets for %v NACKed sequence numbers", resent, nacks)
			}

			// How the retransmissions came: on the RTX stream, or on the
			// media stream itself, and nowhere else.
			for _, s := range seen {
				if s != videoSSRC && s != audioSSRC && s != rtxSSRC {
					t.Errorf("RTP on SSRC %d, which the answer does not name", s)
				}
			}
			if tc.rtx {
				if rtx.received+rtx.dropped == 0 {
					t.Errorf("no packet on the RTX SSRC %d: the retransmissions did not come as RTX", rtxSSRC)
				}
				if video.redelivered != 0 {
					t.Errorf("%d lost video packets came again on the media SSRC, though RTX was negotiated", video.redelivered)
				}
			} else if video.redelivered == 0 {
				t.Errorf("none of the %d lost video packets came again on the media SSRC", video.dropped)
			}

			checkRecovered(t, sentV, sentTS, gotV, gotTS, minFrames)
		})
	}
}

// checkRecovered checks the viewer's video from its first keyframe on: each
// access unit is the one the publisher sent with its RTP timestamp (the
// gateway keeps a publisher session's timestamps), and at least minShare of
// the units sent from that keyframe to the viewer's last unit are there.
func checkRecovered(t *testing.T, sentV [][][]byte, sentTS []uint32, gotV [][][]byte, gotTS []uint32, minShare float64) {
	t.Helper()
	first := -1
	for i, au := range gotV {
		if isKeyframe(au) {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatalf("no keyframe in the %d video units the viewer rebuilt", len(gotV))
	}
	if first > 0 {
		// The first keyframe's head was lost and the sample builder
		// started past it: not what this test checks.
		t.Logf("%d video units before the viewer's first keyframe", first)
	}
	sent := make(map[uint32][][]byte, len(sentTS))
	for i, ts := range sentTS {
		sent[ts] = sentV[i]
	}
	got, from, to := 0, gotTS[first], gotTS[len(gotTS)-1]
	for i := first; i < len(gotV); i++ {
		au, ok := sent[gotTS[i]]
		switch {
		case !ok:
			t.Errorf("viewer unit %d (timestamp %d) has no unit the publisher sent with its timestamp", i, gotTS[i])
		case !auEqual(au, gotV[i]):
			t.Errorf("viewer unit %d (timestamp %d) differs from the one the publisher sent", i, gotTS[i])
		default:
			got++
		}
	}
	span := 0
	for _, ts := range sentTS {
		if int32(ts-from) >= 0 && int32(to-ts) >= 0 {
			span++
		}
	}
	if span == 0 {
		t.Fatalf("the publisher sent nothing between timestamps %d and %d", from, to)
	}
	share := float64(got) / float64(span)
	t.Logf("%d of the %d video units sent in the viewer's span (%.1f s) complete and identical at the viewer (%.1f %%)",
		got, span, float64(to-from)/90000, 100*share)
	if share < minShare {
		t.Errorf("%d of %d video units (%.1f %%) complete at the viewer, want at least %.0f %%", got, span, 100*share, 100*minShare)
	}
}
