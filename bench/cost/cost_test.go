package cost

import (
	"context"
	"testing"
	"time"
)

// The measurements run at a small size and give figures in a sane range:
// above zero (the work was done and counted) and below what a core can
// give (a broken division would show up as thousands of cores).
func TestPackager(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Packager(ctx, 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("packager: %v per stream", c)
	if c <= 0 || c > 1000 {
		t.Fatalf("packager costs %v per stream, want within (0, 1000)", c)
	}
}

func TestTranscode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, dir := range []Direction{AACToOpus, OpusToAAC} {
		c, err := transcode(ctx, dir, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %v per stream", dir, c)
		if c <= 0 || c > 1000 {
			t.Fatalf("%s costs %v per stream, want within (0, 1000)", dir, c)
		}
	}
	if _, err := Transcode(ctx, "mp3-to-opus"); err == nil {
		t.Fatal("an unknown direction was measured")
	}
}

func TestPackagerRefusesNoMedia(t *testing.T) {
	if _, err := Packager(context.Background(), 0); err == nil {
		t.Fatal("no media measured")
	}
}

// BenchmarkCost reports each per-stream cost once, whatever b.N is:
//
//	go test ./bench/cost -run '^$' -bench Cost -benchtime 1x
func BenchmarkCost(b *testing.B) {
	ctx := context.Background()
	b.Run("packager", func(b *testing.B) {
		for b.Loop() {
			c, err := Packager(ctx, 2*time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(c), "mCPU")
		}
	})
	for _, dir := range []Direction{AACToOpus, OpusToAAC} {
		b.Run(string(dir), func(b *testing.B) {
			for b.Loop() {
				c, err := Transcode(ctx, dir)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(c), "mCPU")
			}
		})
	}
}
