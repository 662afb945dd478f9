package whep

import (
	"testing"

	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

// TestWritePacketNeverBlocks: a viewer whose queue is full loses packets
// itself, counted, and the stream's write returns at once.
func TestWritePacketNeverBlocks(t *testing.T) {
	for _, tc := range []struct {
		name            string
		queue, written  int
		wantQueued, drp int
	}{
		{"room to spare", 8, 5, 5, 0},
		{"exactly full", 8, 8, 8, 0},
		{"overflow drops the excess", 8, 20, 8, 12},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newViewer(nil, nil, "", tc.queue, discard())
			p := &stream.Packet{}
			for range tc.written {
				v.WritePacket(packager.KindVideo, p) // nothing drains the queue
			}
			if got := len(v.queue); got != tc.wantQueued {
				t.Errorf("queued %d, want %d", got, tc.wantQueued)
			}
			if got := v.drops.Load(); got != uint64(tc.drp) {
				t.Errorf("dropped %d, want %d", got, tc.drp)
			}
		})
	}
}
