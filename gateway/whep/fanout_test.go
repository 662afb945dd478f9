package whep

import (
	"testing"

	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

func videoPacket(ts uint32, size int, marker bool) *stream.Packet {
	return &stream.Packet{Header: rtp.Header{Timestamp: ts, Marker: marker}, Payload: make([]byte, size)}
}

func audioPacket(size int) *stream.Packet {
	return &stream.Packet{Payload: make([]byte, size)}
}

// TestFanoutPadsFrames: a frame's video packets but its last are padded to
// the longest of them, so the frame can go out as one GSO train; padding
// past what one packet can carry (255 bytes) is not attempted, and audio
// packets between them are left alone.
func TestFanoutPadsFrames(t *testing.T) {
	type pkt struct {
		kind   packager.Kind
		size   int
		marker bool
	}
	v := func(size int, marker bool) pkt { return pkt{packager.KindVideo, size, marker} }
	a := func(size int) pkt { return pkt{packager.KindAudio, size, false} }
	for _, tc := range []struct {
		name string
		in   []pkt
		pads []int
	}{
		{"equal fragments and a short last", []pkt{v(1100, false), v(1100, false), v(400, true)}, []int{0, 0, 0}},
		{"off by a byte", []pkt{v(1099, false), v(1100, false), v(1099, false), v(700, true)}, []int{1, 0, 1, 0}},
		{"audio in the middle", []pkt{v(1090, false), a(120), v(1100, false), v(50, true)}, []int{10, 0, 0, 0}},
		{"too far to pad", []pkt{v(30, false), v(1100, false), v(600, true)}, []int{0, 0, 0}},
		{"a last longer than the rest", []pkt{v(1000, false), v(1000, false), v(1100, true)}, []int{100, 100, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFanout(nil)
			for _, p := range tc.in {
				if p.kind == packager.KindAudio {
					f.WritePacket(p.kind, audioPacket(p.size))
				} else {
					f.WritePacket(p.kind, videoPacket(3000, p.size, p.marker))
				}
			}
			got, first, missed := f.read(nil, 0)
			if first != 0 || missed != 0 || len(got) != len(tc.in) {
				t.Fatalf("read %d entries from %d (missed %d), want %d from 0", len(got), first, missed, len(tc.in))
			}
			for i, e := range got {
				if e.pad != tc.pads[i] {
					t.Errorf("packet %d (%d bytes): padding %d, want %d", i, len(e.p.Payload), e.pad, tc.pads[i])
				}
			}
		})
	}
}

// TestFanoutWakes: workers are woken at a frame's end and by audio outside
// a frame, not by every packet; a reader that fell more than the ring
// behind gets the newest ringSize packets and the count it missed.
func TestFanoutWakes(t *testing.T) {
	f := newFanout(nil)
	w := &worker{wake: make(chan struct{}, 1)}
	f.attach(w)
	woken := func() bool {
		select {
		case <-w.wake:
			return true
		default:
			return false
		}
	}
	steps := []struct {
		name string
		kind packager.Kind
		p    *stream.Packet
		wake bool
	}{
		{"first packet of a frame", packager.KindVideo, videoPacket(1, 1100, false), false},
		{"audio inside the frame", packager.KindAudio, audioPacket(100), false},
		{"frame's last packet", packager.KindVideo, videoPacket(1, 500, true), true},
		{"audio between frames", packager.KindAudio, audioPacket(100), true},
		{"next frame's first", packager.KindVideo, videoPacket(2, 1100, false), false},
	}
	for _, s := range steps {
		f.WritePacket(s.kind, s.p)
		if got := woken(); got != s.wake {
			t.Errorf("%s: woken %v, want %v", s.name, got, s.wake)
		}
	}
	// A publisher that never sets the marker still wakes them now and then.
	n := 0
	for i := range wakeEvery * 3 {
		f.WritePacket(packager.KindVideo, videoPacket(uint32(10+i), 1100, false))
		if woken() {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d wakes over %d packets without a marker, want 3", n, wakeEvery*3)
	}
	total := f.position()
	got, first, missed := f.read(nil, 0)
	if total <= ringSize {
		for range ringSize {
			f.WritePacket(packager.KindAudio, audioPacket(10))
		}
		total = f.position()
		got, first, missed = f.read(nil, 0)
	}
	if uint64(len(got)) != ringSize || first != total-ringSize || missed != total-ringSize {
		t.Errorf("read from 0 at %d: %d entries from %d, missed %d; want %d from %d, missed %d",
			total, len(got), first, missed, ringSize, total-ringSize, total-ringSize)
	}
	if f.detach(w) != true {
		t.Error("fan-out with no viewer left: not empty")
	}
}
