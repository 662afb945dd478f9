package stream

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/frontrow-live/frontrow/packager"
)

// The fan-out hands each packet to every WebRTC viewer from a few worker
// goroutines, one per core, each serving its own share of the viewers in
// turn. A viewer sends synchronously (its send path never blocks: the
// socket's sender queues), so a packet costs one goroutine wake-up per
// worker instead of one per viewer, and the encryption of all viewers still
// spreads over every core.

// fanoutQueueLen bounds the packets waiting for a worker: a second of a
// 1.5 Mbit/s stream. A worker that falls this far behind drops packets for
// its viewers (counted) rather than delaying the ingest.
const fanoutQueueLen = 256

type fanItem struct {
	kind packager.Kind
	p    *Packet
}

// shard is one worker's share of the viewers.
type shard struct {
	in      chan fanItem
	viewers atomic.Pointer[[]Viewer] // copy on write, under Stream.mu
	// dropped counts viewer-packets lost to a full queue.
	dropped atomic.Uint64
}

type fanout struct {
	inline bool // no workers: deliver in the caller's goroutine
	shards []*shard
	next   int // the shard the next viewer joins; under Stream.mu
	stop   chan struct{}
	wg     sync.WaitGroup
}

// newFanout starts workers goroutines; with none, forward delivers inline
// to one shard.
func newFanout(workers int) *fanout {
	f := &fanout{stop: make(chan struct{}), inline: workers <= 0}
	for range max(1, workers) {
		sh := &shard{in: make(chan fanItem, fanoutQueueLen)}
		sh.viewers.Store(&[]Viewer{})
		f.shards = append(f.shards, sh)
		if !f.inline {
			f.wg.Add(1)
			go f.work(sh)
		}
	}
	return f
}

func (f *fanout) work(sh *shard) {
	defer f.wg.Done()
	for {
		select {
		case it := <-sh.in:
			for _, v := range *sh.viewers.Load() {
				v.WritePacket(it.kind, it.p)
			}
		case <-f.stop:
			return
		}
	}
}

// forward queues p for every shard with viewers; it never blocks.
func (f *fanout) forward(kind packager.Kind, p *Packet) {
	if f.inline {
		for _, v := range *f.shards[0].viewers.Load() {
			v.WritePacket(kind, p)
		}
		return
	}
	for _, sh := range f.shards {
		n := len(*sh.viewers.Load())
		if n == 0 {
			continue
		}
		select {
		case sh.in <- fanItem{kind: kind, p: p}:
		default:
			sh.dropped.Add(uint64(n))
		}
	}
}

// add puts v in the next shard, round robin; the caller holds Stream.mu.
func (f *fanout) add(v Viewer) *shard {
	sh := f.shards[f.next%len(f.shards)]
	f.next++
	next := append(slices.Clone(*sh.viewers.Load()), v)
	sh.viewers.Store(&next)
	return sh
}

// remove takes v out of sh; the caller holds Stream.mu.
func (f *fanout) remove(sh *shard, v Viewer) {
	cur := *sh.viewers.Load()
	if i := slices.Index(cur, v); i >= 0 {
		next := slices.Delete(slices.Clone(cur), i, i+1)
		sh.viewers.Store(&next)
	}
}

// dropped is the viewer-packets lost to full worker queues.
func (f *fanout) dropped() uint64 {
	var n uint64
	for _, sh := range f.shards {
		n += sh.dropped.Load()
	}
	return n
}

// close stops the workers and waits for them. Idempotent.
func (f *fanout) close() {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	f.wg.Wait()
}
