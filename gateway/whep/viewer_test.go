package whep

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

// fakeWriter is a connection's track writer that records sequence numbers.
type fakeWriter struct {
	seqs []uint16
	err  error
}

func (w *fakeWriter) WriteRTP(h *rtp.Header, _ []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	w.seqs = append(w.seqs, h.SequenceNumber)
	return 0, nil
}

func (w *fakeWriter) Write(b []byte) (int, error) { return len(b), nil }

// testViewer is a viewer with a bound video track writing to w.
func testViewer(t *testing.T, w *fakeWriter) *viewer {
	t.Helper()
	r := stream.NewRegistry(stream.Config{Logger: discard()})
	t.Cleanup(r.Close)
	p, err := r.Publish("v", stream.PublishRequest{Tracks: packager.Tracks{Video: &packager.VideoInfo{}}})
	if err != nil {
		t.Fatal(err)
	}
	v := newViewer(p.Stream(), nil, "", discard())
	ot := newOutTrack(p.Stream().Tracks()[0])
	ot.writer = w
	v.tracks[packager.KindVideo] = ot
	return v
}

func pkt(seq uint16, key bool, session uint32) *stream.Packet {
	return &stream.Packet{Header: rtp.Header{SequenceNumber: seq}, Keyframe: key, Session: session, Arrival: time.Now()}
}

// Video reaches a viewer from a keyframe on, and again from a keyframe when
// a new publisher session starts; retransmissions are not held back.
func TestViewerSendStartsAtKeyframes(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []*stream.Packet
		want []uint16
	}{
		{"waits for a keyframe", []*stream.Packet{pkt(1, false, 1), pkt(2, true, 1), pkt(3, false, 1)}, []uint16{2, 3}},
		{"new session waits again", []*stream.Packet{pkt(1, true, 1), pkt(2, false, 2), pkt(3, true, 2), pkt(4, false, 2)}, []uint16{1, 3, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := &fakeWriter{}
			v := testViewer(t, w)
			for _, p := range tc.in {
				v.WritePacket(packager.KindVideo, p)
			}
			if got := w.seqs; !equal(got, tc.want) {
				t.Errorf("sent %v, want %v", got, tc.want)
			}
			got := v.ViewerStats()
			if got.Sent.Packets != uint64(len(tc.want)) || got.ForwardDelay.Total() != uint64(len(tc.want)) {
				t.Errorf("stats %+v", got)
			}
		})
	}
	w := &fakeWriter{}
	v := testViewer(t, w)
	v.send(packager.KindVideo, pkt(9, false, 1), true)
	st := v.ViewerStats()
	if len(w.seqs) != 1 || st.ForwardDelay.Total() != 0 {
		t.Errorf("a retransmission: sent %v, delay observed %d times", w.seqs, st.ForwardDelay.Total())
	}
}

// A failed send ends the session; later packets are not written.
func TestViewerSendFailureStops(t *testing.T) {
	w := &fakeWriter{err: errors.New("gone")}
	v := testViewer(t, w)
	v.WritePacket(packager.KindVideo, pkt(1, true, 1))
	select {
	case <-v.stop:
	default:
		t.Fatal("a failed send did not stop the viewer")
	}
	w.err = nil
	v.WritePacket(packager.KindVideo, pkt(2, true, 1))
	if len(w.seqs) != 0 {
		t.Errorf("sent %v after the viewer stopped", w.seqs)
	}
	if r := v.reason.Load(); r == nil || *r != "send failed: gone" {
		t.Errorf("reason %v", r)
	}
}

func equal(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
