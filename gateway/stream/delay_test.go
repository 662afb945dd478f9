package stream

import (
	"testing"
	"time"
)

func TestDelayRecorderBuckets(t *testing.T) {
	for _, tc := range []struct {
		d      time.Duration
		bucket int
	}{
		{0, 0},
		{50 * time.Microsecond, 0},
		{51 * time.Microsecond, 1},
		{time.Millisecond, 4},
		{4 * time.Millisecond, 7},
		{time.Second, len(delayBounds) - 1},
		{time.Minute, len(delayBounds)},
	} {
		var r DelayRecorder
		r.Observe(tc.d)
		h := r.Snapshot()
		if h.Counts[tc.bucket] != 1 || h.Total() != 1 || h.Sum != tc.d {
			t.Errorf("Observe(%v): counts %v sum %v, want one in bucket %d", tc.d, h.Counts, h.Sum, tc.bucket)
		}
	}
}

func TestDelayHistogramAdd(t *testing.T) {
	var a, b DelayRecorder
	a.Observe(time.Millisecond)
	b.Observe(time.Millisecond)
	b.Observe(time.Hour)
	var sum ViewerStats
	sum.add(ViewerStats{ForwardDelay: a.Snapshot()})
	sum.add(ViewerStats{ForwardDelay: b.Snapshot()})
	if got := sum.ForwardDelay; got.Total() != 3 || got.Counts[4] != 2 || got.Counts[len(delayBounds)] != 1 || got.Sum != time.Hour+2*time.Millisecond {
		t.Errorf("sum = %+v", got)
	}
}

func BenchmarkDelayObserve(b *testing.B) {
	var r DelayRecorder
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Observe(time.Duration(i%5000) * time.Microsecond)
	}
}
