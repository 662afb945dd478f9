package fanout

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// gatewayView is what the benchmark reads from the gateway's /metrics.
type gatewayView struct {
	viewers float64
	delay   histogram
	drops   float64 // packets dropped at full viewer queues
	// The shared socket's send totals (absent: zero).
	datagrams, trains, calls float64
}

// histogram is a cumulative Prometheus histogram: counts[i] observations
// were at most bounds[i] seconds.
type histogram struct {
	bounds []float64
	counts []float64
	total  float64
}

// minus is h with an earlier reading of the same histogram taken away.
func (h histogram) minus(earlier histogram) histogram {
	out := histogram{bounds: h.bounds, counts: make([]float64, len(h.counts)), total: h.total - earlier.total}
	for i := range h.counts {
		out.counts[i] = h.counts[i]
		if i < len(earlier.counts) {
			out.counts[i] -= earlier.counts[i]
		}
	}
	return out
}

// quantile estimates the q-quantile (0..1) by linear interpolation inside
// its bucket, as Prometheus's histogram_quantile does; beyond the last
// bound it answers the last bound. NaN without observations.
func (h histogram) quantile(q float64) float64 {
	if h.total <= 0 || len(h.bounds) == 0 {
		return math.NaN()
	}
	rank := q * h.total
	lower, below := 0.0, 0.0
	for i, b := range h.bounds {
		if h.counts[i] >= rank {
			in := h.counts[i] - below
			if in <= 0 {
				return b
			}
			return lower + (b-lower)*(rank-below)/in
		}
		lower, below = b, h.counts[i]
	}
	return h.bounds[len(h.bounds)-1]
}

func (h histogram) quantileDuration(q float64) time.Duration {
	v := h.quantile(q)
	if math.IsNaN(v) {
		return 0
	}
	return time.Duration(v * float64(time.Second))
}

// scrape reads the gateway's figures for one stream.
func scrape(ctx context.Context, client *http.Client, url, stream string) (gatewayView, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return gatewayView{}, fmt.Errorf("fanout: scrape: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return gatewayView{}, fmt.Errorf("fanout: scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return gatewayView{}, fmt.Errorf("fanout: scrape %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return gatewayView{}, fmt.Errorf("fanout: scrape: parse: %w", err)
	}
	var v gatewayView
	if m := find(fams["frontrow_viewers"], "stream", stream, "tier", "webrtc"); m != nil {
		v.viewers = m.GetGauge().GetValue()
	}
	if m := find(fams["frontrow_drops_total"], "stream", stream, "reason", "viewer_queue_full"); m != nil {
		v.drops = m.GetCounter().GetValue()
	}
	for name, dst := range map[string]*float64{
		"frontrow_webrtc_udp_datagrams_sent_total": &v.datagrams,
		"frontrow_webrtc_udp_messages_sent_total":  &v.trains,
		"frontrow_webrtc_udp_send_calls_total":     &v.calls,
	} {
		if m := find(fams[name]); m != nil {
			*dst = m.GetCounter().GetValue()
		}
	}
	m := find(fams["frontrow_webrtc_forward_delay_seconds"], "stream", stream)
	if m == nil {
		return gatewayView{}, fmt.Errorf("fanout: scrape: no frontrow_webrtc_forward_delay_seconds for stream %q", stream)
	}
	h := m.GetHistogram()
	v.delay.total = float64(h.GetSampleCount())
	for _, b := range h.GetBucket() {
		if math.IsInf(b.GetUpperBound(), 1) {
			continue
		}
		v.delay.bounds = append(v.delay.bounds, b.GetUpperBound())
		v.delay.counts = append(v.delay.counts, float64(b.GetCumulativeCount()))
	}
	return v, nil
}

// find is the metric of a family whose labels include the given pairs.
func find(f *dto.MetricFamily, pairs ...string) *dto.Metric {
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(pairs); i += 2 {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		return m
	}
	return nil
}
