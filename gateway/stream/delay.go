package stream

import (
	"sync/atomic"
	"time"
)

// The forwarding delay of WebRTC packets (arrival at the gateway to the
// viewer's connection taking them) is kept as a fixed-bucket histogram in
// each viewer, written by that viewer's goroutine only, so observing a
// packet costs one clock read and one uncontended atomic add.

// delayBounds are the histogram's bucket upper bounds, fine where the
// fan-out's goals are (a p99 under 5 ms) and coarse beyond.
var delayBounds = [...]time.Duration{
	50 * time.Microsecond, 100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 3 * time.Millisecond, 5 * time.Millisecond,
	7500 * time.Microsecond, 10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
}

// DelayBounds are the upper bounds of DelayHistogram's buckets (the last
// bucket, beyond them, counts everything slower), for exporters.
func DelayBounds() []time.Duration { return delayBounds[:] }

// DelayHistogram is a snapshot of forwarding delays: Counts[i] packets took
// at most DelayBounds()[i] (and more than the bound before it); the last
// count is beyond every bound.
type DelayHistogram struct {
	Counts [len(delayBounds) + 1]uint64
	Sum    time.Duration
}

// Total is the number of packets observed.
func (h *DelayHistogram) Total() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

func (h *DelayHistogram) add(o DelayHistogram) {
	for i, c := range o.Counts {
		h.Counts[i] += c
	}
	h.Sum += o.Sum
}

// DelayRecorder is one viewer's live histogram: one writer, any readers.
type DelayRecorder struct {
	counts [len(delayBounds) + 1]atomic.Uint64
	sum    atomic.Int64
}

// Observe counts one packet's forwarding delay.
func (r *DelayRecorder) Observe(d time.Duration) {
	i := 0
	for i < len(delayBounds) && d > delayBounds[i] {
		i++
	}
	r.counts[i].Add(1)
	r.sum.Add(int64(d))
}

// Snapshot reads the histogram now.
func (r *DelayRecorder) Snapshot() DelayHistogram {
	var h DelayHistogram
	for i := range r.counts {
		h.Counts[i] = r.counts[i].Load()
	}
	h.Sum = time.Duration(r.sum.Load())
	return h
}
