package hlsload

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A small run measures every figure: each client answered for each part,
// nothing failed, the delays are positive and in the order they must be.
func TestRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
	defer cancel()
	const clients = 20
	res, err := Run(ctx, Config{Clients: clients, Duration: 2 * time.Second, ServeClients: 8, ServeDuration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Clients != clients || res.Parts < 5 {
		t.Fatalf("%d clients, %d parts measured in 2 s; want %d and >= 5 (200 ms parts)", res.Clients, res.Parts, clients)
	}
	if res.Failed != 0 || res.FailedClients != 0 {
		t.Errorf("%d requests of %d clients failed", res.Failed, res.FailedClients)
	}
	if res.ClientsAnswered != clients {
		t.Errorf("%d of %d clients had an answer for a measured part", res.ClientsAnswered, clients)
	}
	// A client answered so late that the next part was out too skips that
	// one: it happens on a loaded machine (the race detector, other tests),
	// but every (part, client) pair is either answered or skipped.
	if res.Answers+res.Skipped != res.Parts*clients || res.Answers < res.Parts {
		t.Errorf("%d answers + %d skipped, want %d parts x %d clients, mostly answered", res.Answers, res.Skipped, res.Parts, clients)
	}
	// Answers are read until a grace period after the window, so no delay
	// can be longer than the window and the grace.
	if res.LastP50 <= 0 || res.MedianP50 <= 0 || res.MedianP50 > res.LastP50 || res.LastP50 > res.LastP99 ||
		res.LastP99 > 2*time.Second+answerGrace {
		t.Errorf("fan-out delays out of order: median p50 %v, last p50 %v, last p99 %v", res.MedianP50, res.LastP50, res.LastP99)
	}
	if res.BuildP50 <= 0 || res.BuildP99 < res.BuildP50 || res.ServedP50 <= 0 || res.ServedP99 < res.ServedP50 {
		t.Errorf("arrival delays out of order: build p50 %v p99 %v, served p50 %v p99 %v", res.BuildP50, res.BuildP99, res.ServedP50, res.ServedP99)
	}
	// Renders happen per change, never per client.
	if res.Renders == 0 || res.Renders > uint64(4*res.Parts+8) {
		t.Errorf("%d playlist renders for %d video parts and %d clients", res.Renders, res.Parts, clients)
	}
	if res.PartsPerSecond <= 0 || res.PartBytesPerSecond < 1000*res.PartsPerSecond || res.ServeFailed != 0 {
		t.Errorf("served %.0f parts/s (%.0f B/s), %d failed", res.PartsPerSecond, res.PartBytesPerSecond, res.ServeFailed)
	}
}

func TestConfigRefused(t *testing.T) {
	for _, cfg := range []Config{
		{Clients: 0, Duration: time.Second},
		{Clients: 1, Duration: time.Millisecond},
		{Clients: 1, Duration: time.Second, ServeClients: -1},
	} {
		if _, err := Run(context.Background(), cfg); err == nil {
			t.Errorf("%+v: ran", cfg)
		}
	}
}

func TestParseHint(t *testing.T) {
	body := []byte("#EXTM3U\n#EXT-X-PART:DURATION=0.2,URI=\"video_ab12_7.3.mp4\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"video_ab12_7.4.mp4\"\n#EXT-X-RENDITION-REPORT:URI=\"audio.m3u8\",LAST-MSN=7,LAST-PART=3\n")
	h, err := parseHint(body)
	if err != nil {
		t.Fatal(err)
	}
	if h.next != (partKey{7, 4}) || h.prefix != "video_ab12_" {
		t.Fatalf("hint %+v", h)
	}
	for _, bad := range []string{"#EXTM3U\n", "#EXT-X-PRELOAD-HINT:TYPE=PART\n", "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"video_ab12_init0.mp4\"\n"} {
		if _, err := parseHint([]byte(bad)); err == nil {
			t.Errorf("%q: parsed", bad)
		}
	}
}

// BenchmarkLLHLS runs the whole measurement at M = 100 and 1000 blocked
// clients for 10 s each; one run per sub-benchmark whatever b.N is:
//
//	go test ./bench/hlsload -run '^$' -bench LLHLS -benchtime 1x
func BenchmarkLLHLS(b *testing.B) {
	for _, clients := range []int{100, 1000} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			for b.Loop() {
				res, err := Run(context.Background(), Config{Clients: clients, Duration: 10 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				b.Logf("%+v", res)
				ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
				b.ReportMetric(ms(res.LastP50), "last-p50-ms")
				b.ReportMetric(ms(res.LastP99), "last-p99-ms")
				b.ReportMetric(ms(res.MedianP50), "median-p50-ms")
				b.ReportMetric(ms(res.ServedP50), "served-p50-ms")
				b.ReportMetric(ms(res.ServedP99), "served-p99-ms")
				b.ReportMetric(ms(res.BuildP50), "build-p50-ms")
				b.ReportMetric(float64(res.Skipped), "skipped")
				b.ReportMetric(float64(res.Failed), "failed")
				b.ReportMetric(res.PartsPerSecond, "parts/s")
			}
		})
	}
}
