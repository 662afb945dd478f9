package hlsload

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/frontrow-live/frontrow/packager"
)

// answer is one blocking request a client had answered: the part it
// blocked on and when it had read the whole playlist.
type answer struct {
	part partKey
	at   time.Time
}

// player is one LL-HLS client: it blocks on the next part, reads the
// playlist, blocks on the part after, as hls.js and Safari do at the edge.
// Its fields are its own until run returns.
type player struct {
	g       *gateway
	buf     bytes.Buffer
	answers []answer
	failed  int
}

// run plays until ctx is done; ready gets one value after the first
// blocking answer.
func (p *player) run(ctx context.Context, ready chan<- struct{}) {
	signalled := false
	next, ok := p.resync(ctx)
	for ctx.Err() == nil {
		if !ok {
			if sleep(ctx, retryPause) != nil {
				return
			}
			next, ok = p.resync(ctx)
			continue
		}
		err := p.g.fetch(ctx, p.g.blockingURL(next), &p.buf)
		at := time.Now()
		if err != nil {
			if ctx.Err() == nil {
				p.failed++
				ok = false
			}
			continue
		}
		p.answers = append(p.answers, answer{part: next, at: at})
		if !signalled {
			signalled = true
			ready <- struct{}{}
		}
		h, err := parseHint(p.buf.Bytes())
		if err != nil {
			p.failed++
			ok = false
			continue
		}
		next = h.next
	}
}

// resync reads the playlist without blocking, as a player starting does,
// and returns the part to block on next.
func (p *player) resync(ctx context.Context) (partKey, bool) {
	if err := p.g.fetch(ctx, p.g.base+packager.PlaylistName(packager.RenditionVideo), &p.buf); err != nil {
		if ctx.Err() == nil {
			p.failed++
		}
		return partKey{}, false
	}
	h, err := parseHint(p.buf.Bytes())
	if err != nil {
		p.failed++
		return partKey{}, false
	}
	return h.next, true
}

// blockedPhase runs cfg.Clients players until every one has had a
// blocking answer, measures the parts completed in the next cfg.Duration,
// and fills res's blocked-client figures.
func blockedPhase(ctx context.Context, cfg Config, g *gateway, res *Result) error {
	ctx, cancel := context.WithCancel(ctx)
	players := make([]*player, cfg.Clients)
	ready := make(chan struct{}, cfg.Clients)
	var wg sync.WaitGroup
	for i := range players {
		players[i] = &player{g: g, answers: make([]answer, 0, 2*int(cfg.Duration/partTarget)+16)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			players[i].run(ctx, ready)
		}()
	}
	// stop ends the players; after it their fields may be read.
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			wg.Wait()
		}
	}
	defer stop()

	timeout := time.NewTimer(readyTimeout)
	defer timeout.Stop()
	for n := 0; n < cfg.Clients; n++ {
		select {
		case <-ready:
		case <-timeout.C:
			stop()
			return fmt.Errorf("hlsload: only %d of %d clients had a blocking answer within %v (%d requests failed)",
				n, cfg.Clients, readyTimeout, failures(players))
		case <-ctx.Done():
			return fmt.Errorf("hlsload: waiting for the clients: %w", ctx.Err())
		}
	}
	cfg.Logger.Info("hlsload: every client is blocked on the next part", "clients", cfg.Clients)
	renders := g.renders()
	from := time.Now()
	if err := sleep(ctx, cfg.Duration); err != nil {
		return fmt.Errorf("hlsload: measuring: %w", err)
	}
	to := time.Now()
	res.Renders = g.renders() - renders
	// The window's last parts still reach the clients.
	if err := sleep(ctx, answerGrace); err != nil {
		return fmt.Errorf("hlsload: measuring: %w", err)
	}
	stop()
	summarize(res, g.parts.completedIn(from, to), players)
	return nil
}

func failures(players []*player) int {
	n := 0
	for _, p := range players {
		n += p.failed
	}
	return n
}

// summarize turns the players' answers for the measured parts into res's
// figures.
func summarize(res *Result, measured map[partKey]partTimes, players []*player) {
	byPart := make(map[partKey][]time.Time, len(measured))
	for _, p := range players {
		res.Failed += p.failed
		if p.failed > 0 {
			res.FailedClients++
		}
		answered := false
		for _, a := range p.answers {
			if _, ok := measured[a.part]; ok {
				byPart[a.part] = append(byPart[a.part], a.at)
				answered = true
			}
		}
		if answered {
			res.ClientsAnswered++
		}
	}
	res.Parts = len(measured)
	var last, median, served, build []time.Duration
	for k, pt := range measured {
		ats := byPart[k]
		res.Answers += len(ats)
		res.Skipped += len(players) - len(ats)
		if !pt.lastArrival.IsZero() {
			build = append(build, pt.completed.Sub(pt.lastArrival))
		}
		if len(ats) == 0 {
			continue
		}
		delays := make([]time.Duration, len(ats))
		for i, at := range ats {
			delays[i] = at.Sub(pt.completed)
		}
		slices.Sort(delays)
		last = append(last, delays[len(delays)-1])
		median = append(median, delays[len(delays)/2])
		if !pt.lastArrival.IsZero() {
			served = append(served, delays[0]+pt.completed.Sub(pt.lastArrival))
		}
	}
	res.LastP50, res.LastP99 = percentile(last, 0.5), percentile(last, 0.99)
	res.MedianP50, res.MedianP99 = percentile(median, 0.5), percentile(median, 0.99)
	res.ServedP50, res.ServedP99 = percentile(served, 0.5), percentile(served, 0.99)
	res.BuildP50, res.BuildP99 = percentile(build, 0.5), percentile(build, 0.99)
}

// percentile is the nearest-rank p-quantile of ds (sorted here); 0 for none.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(math.Ceil(float64(len(ds))*p)) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}
