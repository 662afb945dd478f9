package hlsload

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"
)

// fetcher is one client of the throughput phase; its counts are its own
// until the phase has waited for it.
type fetcher struct {
	buf           bytes.Buffer
	parts, failed int
	bytes         int64
}

// run GETs the newest complete video part, again and again, until ctx is done.
func (f *fetcher) run(ctx context.Context, g *gateway) {
	for ctx.Err() == nil {
		k, ok := g.parts.newest()
		if !ok {
			if sleep(ctx, retryPause) != nil {
				return
			}
			continue
		}
		if err := g.fetch(ctx, g.partURL(k), &f.buf); err != nil {
			if ctx.Err() == nil {
				f.failed++
			}
			continue
		}
		f.parts++
		f.bytes += int64(f.buf.Len())
	}
}

// servePhase runs cfg.ServeClients fetchers for cfg.ServeDuration and fills
// res's parts-per-second figures.
func servePhase(ctx context.Context, cfg Config, g *gateway, res *Result) error {
	runCtx, cancel := context.WithTimeout(ctx, cfg.ServeDuration)
	defer cancel()
	fetchers := make([]*fetcher, cfg.ServeClients)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range fetchers {
		fetchers[i] = &fetcher{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fetchers[i].run(runCtx, g)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("hlsload: serving parts: %w", err)
	}
	var parts int
	var size int64
	for _, f := range fetchers {
		parts += f.parts
		size += f.bytes
		res.ServeFailed += f.failed
	}
	res.PartsPerSecond = float64(parts) / elapsed.Seconds()
	res.PartBytesPerSecond = float64(size) / elapsed.Seconds()
	return nil
}
