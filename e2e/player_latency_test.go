package e2e

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/internal/race"
)

// latencyRun is what harness.js's hlsLatency measured.
type latencyRun struct {
	HLSLatencyMs, PDTLatencyMs []float64
	Waiting, Frames            int
	MaxFrameGapMs              float64
	TargetLatencyMs            float64
	PlaybackRates              []float64
	Swapped                    bool
	// Stalls has one entry per waiting event: when (page clock, ms), the
	// playhead, and what each SourceBuffer held ([start, end] seconds).
	Stalls []struct {
		T, CurrentTime float64
		SourceBuffers  []struct {
			Mime     string
			Buffered [][2]float64
		}
	}
}

// percentile is the p-th percentile (0-100, nearest rank) of xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(p/100*float64(len(s)-1) + 0.5)
	return s[i]
}

const (
	latencyPlayback = 60 * time.Second       // measured playback, after the catch-up
	latencyCatchUp  = 5 * time.Second        // hls.js reaching its target (rate up to 1.5x)
	latencyMax      = 600 * time.Millisecond // issue 5 (f), on loopback
	partTarget      = 200 * time.Millisecond // startGateway's, the default
	frameGapMax     = 500 * time.Millisecond // a longer gap between frames is a stall
	latencySample   = 250 * time.Millisecond
)

// (f) LL-HLS latency with the default 200 ms parts: an HLS-only
// distribution (webRtc: null) of a stream the pion WHIP client publishes,
// played by the bundled player in Chromium. Latency is measured in the page
// both as hls.js's hls.latency and as Date.now() - hls.playingDate
// (PROGRAM-DATE-TIME, stamped from the gateway's ingest clock; same machine,
// same clock), four times a second over 60 s after the catch-up: median
// and 95th percentile at most 0.6 s (no sample more than a part above), no
// waiting event, no gap between presented frames above 500 ms.
//
// It is a measurement, so it runs without the race detector (which slows
// the gateway's pure-Go AAC encoder several times) and alone: `make test`
// runs it in a second pass after the race-enabled suite.
func TestPlayerLLHLSLatency(t *testing.T) {
	if race.Enabled {
		t.Skip("a latency measurement: make test runs it without -race, after the rest (go test -run TestPlayerLLHLSLatency ./e2e)")
	}
	br := startBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), latencyPlayback+40*time.Second)
	defer cancel()
	g := startGateway(t)
	startPublisher(t, ctx, g, "lat")
	if err := waitHLSReady(ctx, g.base+"/hls/lat/index.m3u8"); err != nil {
		t.Fatal(err)
	}
	// The viewer joins at once, in the stream's first segment. hls.js 1.7.4
	// cannot load the parts of a segment numbered 0 (detectEvictedFragments
	// takes `part.fragment.sn || -1`: it drops the segment at every part's
	// append, loads the same parts again and again and stalls, and the stall
	// raises its target latency for good), so the packager numbers from 1;
	// this join is what would stall if it did not.
	id, _ := distribution(t, ctx, g, "lat", `{"name":"hls-only","webRtc":null}`)
	p := br.open(t, ctx, g.base+"/play/"+id)
	waitPlays(t, ctx, p, "hls", 10*time.Second)

	var warm, run latencyRun
	if err := p.call(ctx, "hlsLatency", map[string]any{"durationMs": latencyCatchUp.Milliseconds()}, &warm); err != nil {
		t.Fatal(err)
	}
	t.Logf("catch-up (%v): hls.latency %.0f -> %.0f ms, PDT %.0f -> %.0f ms", latencyCatchUp,
		first(warm.HLSLatencyMs), last(warm.HLSLatencyMs), first(warm.PDTLatencyMs), last(warm.PDTLatencyMs))
	if err := p.call(ctx, "hlsLatency", map[string]any{"durationMs": latencyPlayback.Milliseconds(), "sampleMs": latencySample.Milliseconds()}, &run); err != nil {
		t.Fatal(err)
	}
	if n := int(latencyPlayback / (2 * latencySample)); len(run.HLSLatencyMs) < n || len(run.PDTLatencyMs) < n {
		t.Fatalf("too few latency samples: %d hls.latency, %d PROGRAM-DATE-TIME", len(run.HLSLatencyMs), len(run.PDTLatencyMs))
	}
	t.Logf("LL-HLS latency over %v (%d samples; hls.js target %.0f ms): hls.latency median %.0f ms, p95 %.0f, max %.0f; "+
		"Date.now()-playingDate median %.0f ms, p95 %.0f, max %.0f; %d waiting events, longest frame gap %.0f ms, %d frames, playback rate %.2f-%.2f",
		latencyPlayback, len(run.HLSLatencyMs), run.TargetLatencyMs,
		percentile(run.HLSLatencyMs, 50), percentile(run.HLSLatencyMs, 95), percentile(run.HLSLatencyMs, 100),
		percentile(run.PDTLatencyMs, 50), percentile(run.PDTLatencyMs, 95), percentile(run.PDTLatencyMs, 100),
		run.Waiting, run.MaxFrameGapMs, run.Frames, percentile(run.PlaybackRates, 0), percentile(run.PlaybackRates, 100))

	// At most 0.6 s: the median and the 95th percentile by both measures.
	// A single sample may exceed it while the player catches up from a
	// hiccup (a busy CI core), but never by more than one part.
	limit := float64(latencyMax.Milliseconds())
	for _, m := range []struct {
		name    string
		samples []float64
	}{{"hls.latency", run.HLSLatencyMs}, {"Date.now() - hls.playingDate", run.PDTLatencyMs}} {
		p50, p95, worst := percentile(m.samples, 50), percentile(m.samples, 95), percentile(m.samples, 100)
		if p95 > limit {
			t.Errorf("%s: median %.0f ms, 95th percentile %.0f ms; want both at most %.0f ms", m.name, p50, p95, limit)
		}
		if excursion := float64((latencyMax + partTarget).Milliseconds()); worst > excursion {
			t.Errorf("%s reached %.0f ms, want never above %.0f ms", m.name, worst, excursion)
		}
	}
	if run.Waiting > 0 {
		t.Errorf("%d stalls (waiting events) during playback", run.Waiting)
		for _, st := range run.Stalls {
			t.Logf("stall at %.0f ms, playhead %.3f s, buffered: %+v", st.T, st.CurrentTime, st.SourceBuffers)
		}
	}
	if warm.Waiting > 0 {
		t.Errorf("%d stalls (waiting events) during the catch-up", warm.Waiting)
		for _, st := range warm.Stalls {
			t.Logf("stall at %.0f ms, playhead %.3f s, buffered: %+v", st.T, st.CurrentTime, st.SourceBuffers)
		}
	}
	// hls.js raises its target by liveSyncOnStallIncrease (0.5 s) at every
	// stall it detects, from the first frame on: a target above the budget
	// means playback stalled, if not during the measurement then before.
	if run.TargetLatencyMs > float64(latencyMax.Milliseconds()) {
		t.Errorf("hls.js raised its target latency to %.0f ms: it saw playback stall", run.TargetLatencyMs)
	}
	if run.MaxFrameGapMs > float64(frameGapMax.Milliseconds()) {
		t.Errorf("a %.0f ms gap between presented frames, want none above %v", run.MaxFrameGapMs, frameGapMax)
	}
	if run.Swapped {
		t.Errorf("the player swapped its video during the measurement")
	}
	if want := int(latencyPlayback.Seconds() * 25); run.Frames < want {
		t.Errorf("%d frames presented in %v, want at least %d", run.Frames, latencyPlayback, want)
	}
}

func first(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[0]
}

func last(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[len(xs)-1]
}

// BenchmarkPlayerFirstFrame measures, per page load of the bundled player,
// the time from the navigation to the first frame on screen (the player's
// first-frame event), for a distribution that plays WebRTC first and one
// that offers LL-HLS only. The pion test publisher plays the demo file (1 s
// GOP; it cannot answer a keyframe request), so a WebRTC viewer can wait up
// to a GOP for its keyframe; loads start at a random phase. For the closing note:
// go test ./e2e -run '^$' -bench PlayerFirstFrame -benchtime=7x
func BenchmarkPlayerFirstFrame(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	br := startBrowser(b)
	g := startGateway(b)
	startPublisher(b, ctx, g, "ttff")
	if err := waitHLSReady(ctx, g.base+"/hls/ttff/index.m3u8"); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct{ name, tier, body string }{
		{"tier=webrtc", "webrtc", `{"name":"front","webRtc":{"priority":0},"hls":{"priority":1}}`},
		{"tier=llhls", "hls", `{"name":"cdn","webRtc":null}`},
	} {
		id := benchDistribution(b, ctx, g, "ttff", tc.body)
		b.Run(tc.name, func(b *testing.B) {
			var first []time.Duration
			for b.Loop() {
				b.StopTimer()
				time.Sleep(rand.N(time.Second)) // a random join phase, not synchronisation
				b.StartTimer()
				var r struct{ Page int }
				if err := br.do(ctx, map[string]any{"op": "open", "url": g.base + "/play/" + id}, &r); err != nil {
					b.Fatal(err)
				}
				p := &browserPage{b: br, id: r.Page}
				var plays playerPlays
				err := p.call(ctx, "playerPlays", map[string]any{"tier": tc.tier, "frames": 1, "timeoutMs": 10000}, &plays)
				if cerr := br.do(ctx, map[string]any{"op": "close", "page": p.id}, nil); cerr != nil && err == nil {
					err = cerr
				}
				if err != nil {
					b.Fatal(err)
				}
				ff, ok := plays.Player.first("first-frame", tc.tier, 0)
				if !ok {
					b.Fatalf("no first-frame event: %+v", plays.Player.Events)
				}
				first = append(first, time.Duration(ff.T*float64(time.Millisecond)))
			}
			b.StopTimer()
			b.Logf("%s: first frame after navigation, sorted: %v", tc.name, slices.Sorted(slices.Values(first)))
			reportDurations(b, "first-frame", first)
		})
	}
}

// benchDistribution creates a distribution of stream (the tests' api and
// distribution helpers take a *testing.T).
func benchDistribution(b *testing.B, ctx context.Context, g *gateway, stream, body string) string {
	b.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.base+"/api/v1/streams/"+stream+"/distributions", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || resp.StatusCode != http.StatusCreated || d.ID == "" {
		b.Fatalf("POST distribution: status %d, %v", resp.StatusCode, err)
	}
	return d.ID
}
