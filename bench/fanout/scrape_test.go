package fanout

import (
	"math"
	"testing"
	"time"
)

func TestHistogramQuantile(t *testing.T) {
	h := histogram{bounds: []float64{0.001, 0.002, 0.005}, counts: []float64{50, 90, 100}, total: 100}
	for _, tc := range []struct {
		q    float64
		want float64
	}{
		{0.5, 0.001},   // exactly the first bucket's top
		{0.25, 0.0005}, // half way into the first bucket
		{0.7, 0.0015},  // half way into the second
		{0.99, 0.0047}, // 9 of 10 into the third
		{1.0, 0.005},   // the top
	} {
		if got := h.quantile(tc.q); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	// Beyond the last bound: the last bound.
	over := histogram{bounds: []float64{0.001}, counts: []float64{1}, total: 10}
	if got := over.quantile(0.99); got != 0.001 {
		t.Errorf("overflow quantile = %v", got)
	}
	if got := (histogram{}).quantileDuration(0.5); got != 0 {
		t.Errorf("empty = %v", got)
	}
}

func TestHistogramMinus(t *testing.T) {
	a := histogram{bounds: []float64{0.001, 0.002}, counts: []float64{10, 20}, total: 25}
	b := histogram{bounds: []float64{0.001, 0.002}, counts: []float64{110, 220}, total: 225}
	d := b.minus(a)
	if d.total != 200 || d.counts[0] != 100 || d.counts[1] != 200 {
		t.Errorf("minus = %+v", d)
	}
	if got := d.quantileDuration(0.5); got != time.Millisecond {
		t.Errorf("p50 = %v", got)
	}
}

func TestQuantileNearestRank(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	if got := quantile(ds, 0.5); got != 3 {
		t.Errorf("p50 = %v", got)
	}
	if got := quantile(ds, 0.95); got != 5 {
		t.Errorf("p95 = %v", got)
	}
	if got := quantile(nil, 0.5); got != 0 {
		t.Errorf("empty = %v", got)
	}
}
