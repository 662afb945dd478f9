package stream

import (
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/packager"
)

// seqViewer records the sequence numbers it is given, and signals when it
// has n of them.
type seqViewer struct {
	mu      sync.Mutex
	seqs    []uint16
	changed chan struct{} // closed and replaced on every packet
}

func newSeqViewer() *seqViewer { return &seqViewer{changed: make(chan struct{})} }

func (v *seqViewer) WritePacket(_ packager.Kind, p *Packet) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seqs = append(v.seqs, p.Header.SequenceNumber)
	close(v.changed)
	v.changed = make(chan struct{})
}

// wait waits until the viewer has n packets (10 s at most).
func (v *seqViewer) wait(t *testing.T, n int) []uint16 {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		v.mu.Lock()
		got, changed := v.seqs, v.changed
		v.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("viewer got %d of %d packets", len(got), n)
		}
	}
}
func (v *seqViewer) StreamEnded() {}

// With workers, every viewer gets every packet, in order, whichever worker
// serves it; closing waits for the workers.
func TestFanoutWorkersDeliverInOrder(t *testing.T) {
	const packets = 500
	f := newFanout(3)
	var vs []*seqViewer
	for range 7 {
		v := newSeqViewer()
		vs = append(vs, v)
		f.add(v)
	}
	const burst = 100 // under fanoutQueueLen: nothing may be dropped
	for i := range packets {
		f.forward(packager.KindVideo, &Packet{Header: rtp.Header{SequenceNumber: uint16(i)}})
		if (i+1)%burst == 0 {
			for _, v := range vs {
				v.wait(t, i+1)
			}
		}
	}
	if d := f.dropped(); d != 0 {
		t.Fatalf("%d viewer-packets dropped", d)
	}
	for i, v := range vs {
		for j, s := range v.wait(t, packets) {
			if s != uint16(j) {
				t.Fatalf("viewer %d: packet %d is seq %d: out of order", i, j, s)
			}
		}
	}
	f.close()
	f.close() // idempotent
}

// blockingViewer holds its worker until released.
type blockingViewer struct{ release chan struct{} }

func (v *blockingViewer) WritePacket(packager.Kind, *Packet) { <-v.release }
func (v *blockingViewer) StreamEnded()                       {}

// A worker that cannot keep up drops for its own viewers, counted per
// viewer, and forward never blocks.
func TestFanoutFullQueueDrops(t *testing.T) {
	f := newFanout(1)
	b := &blockingViewer{release: make(chan struct{})}
	f.add(b)
	f.add(newSeqViewer())
	p := &Packet{}
	for range fanoutQueueLen + 10 {
		f.forward(packager.KindVideo, p) // must return at once
	}
	// One packet is with the blocked viewer, fanoutQueueLen wait: at least
	// 9 found the queue full, each lost for both viewers.
	if got := f.dropped(); got < 2*9 || got%2 != 0 {
		t.Errorf("dropped %d viewer-packets, want at least 18, two per packet", got)
	}
	close(b.release)
	f.close()
}
