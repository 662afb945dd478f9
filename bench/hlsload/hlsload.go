// Package hlsload measures the LL-HLS tier of an in-process gateway for
// `make bench` (issue 6): how soon after a part is complete M players
// blocked on it (_HLS_msn/_HLS_part) all have the playlist that lists it,
// how long after its last sample arrived the part is served, and how many
// parts per second the origin serves. The gateway publishes its looping
// demo stream (H264 30 fps + Opus, 200 ms parts, 1 s segments); players
// are HTTP clients in the same process, on loopback, so the figures are
// the gateway's plus the clients' share of the same cores.
package hlsload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

const (
	// DefaultServeClients is K, the clients fetching parts in the
	// throughput phase: enough to keep two cores busy.
	DefaultServeClients = 64
	// DefaultServeDuration is how long the throughput phase runs.
	DefaultServeDuration = 3 * time.Second
	// partTarget and segmentTarget are the gateway's defaults.
	partTarget    = 200 * time.Millisecond
	segmentTarget = time.Second
	// readyTimeout bounds the start: the demo's first segment, every
	// client's first blocking answer.
	readyTimeout = 20 * time.Second
	// answerGrace is how long after the measured window clients keep
	// reading, so the window's last parts reach every client.
	answerGrace = time.Second
)

// Config sizes a run; zero fields take the defaults.
type Config struct {
	// Clients is M, the players blocked on the next part; at least 1.
	Clients int
	// Duration is how long parts are measured once every client is
	// blocked; at least one part target (200 ms).
	Duration time.Duration
	// ServeClients is K, the clients of the parts-per-second phase;
	// DefaultServeClients if zero.
	ServeClients int
	// ServeDuration is how long that phase runs; DefaultServeDuration if zero.
	ServeDuration time.Duration
	// Logger receives the run's progress and the gateway's logs; nil
	// discards them.
	Logger *slog.Logger
}

// Result is what one run measured. Percentiles are nearest-rank over the
// measured parts, so with few parts p99 is the worst.
type Result struct {
	// Clients is M, as configured.
	Clients int
	// Parts is how many video parts completed in the measured window.
	Parts int
	// Answers counts blocking playlist answers for the measured parts: M
	// per part when every client got every part.
	Answers int
	// ClientsAnswered counts the clients that had at least one of them.
	ClientsAnswered int
	// Skipped counts (part, client) pairs without an answer: the client's
	// previous answer came so late that its playlist already listed this
	// part, so it blocked on a later one.
	Skipped int
	// Failed counts the players' requests that failed (transport error or
	// a status other than 200) during the whole run; FailedClients the
	// players that had one.
	Failed, FailedClients int
	// LastP50 and LastP99 are percentiles over parts of the time from a
	// part's completion (PartInfo.Completed) to the last of the M clients
	// having read the whole playlist that lists it: the fan-out delay.
	LastP50, LastP99 time.Duration
	// MedianP50 and MedianP99 are the same for each part's median client.
	MedianP50, MedianP99 time.Duration
	// ServedP50 and ServedP99 are percentiles over parts of the time from
	// the arrival of a part's last sample (PartInfo.LastArrival) to the
	// first blocked client having read the playlist that lists the part.
	ServedP50, ServedP99 time.Duration
	// BuildP50 and BuildP99 are the packager's share of that: last sample
	// arrival to part completion. A part closes when the sample after its
	// last arrives (only then is the last one's duration known), so this
	// is about one frame interval.
	BuildP50, BuildP99 time.Duration
	// Renders is how many playlists the stream's muxer rendered in the
	// measured window: once per change per request kind, not per client.
	Renders uint64
	// ServeClients and ServeDuration are the throughput phase's K and
	// length, as run.
	ServeClients  int
	ServeDuration time.Duration
	// PartsPerSecond is how many GETs of the newest complete parts the
	// origin answered in full per second to ServeClients clients.
	PartsPerSecond float64
	// PartBytesPerSecond is the media bytes those answers carried.
	PartBytesPerSecond float64
	// ServeFailed counts part GETs that failed in the throughput phase.
	ServeFailed int
}

// Run starts a gateway on loopback with the demo stream, measures it as
// cfg says and stops it. It fails when the gateway or the clients cannot
// start, or ctx ends; failed requests during the run are counted, not
// errors.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	g, err := startGateway(ctx, cfg)
	if err != nil {
		return Result{}, err
	}
	res, err := measure(ctx, cfg, g)
	if stopErr := g.stop(); stopErr != nil {
		err = errors.Join(err, stopErr)
	}
	return res, err
}

func (c Config) withDefaults() (Config, error) {
	if c.Clients < 1 {
		return c, fmt.Errorf("hlsload: Clients %d must be at least 1", c.Clients)
	}
	if c.Duration < partTarget {
		return c, fmt.Errorf("hlsload: Duration %v must be at least a part (%v)", c.Duration, partTarget)
	}
	if c.ServeClients == 0 {
		c.ServeClients = DefaultServeClients
	}
	if c.ServeClients < 0 {
		return c, fmt.Errorf("hlsload: ServeClients %d must be positive", c.ServeClients)
	}
	if c.ServeDuration == 0 {
		c.ServeDuration = DefaultServeDuration
	}
	if c.ServeDuration < 0 {
		return c, fmt.Errorf("hlsload: ServeDuration %v must be positive", c.ServeDuration)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// measure runs the two phases against a started gateway.
func measure(ctx context.Context, cfg Config, g *gateway) (Result, error) {
	res := Result{Clients: cfg.Clients, ServeClients: cfg.ServeClients, ServeDuration: cfg.ServeDuration}
	if err := g.ready(ctx); err != nil {
		return res, err
	}
	if err := blockedPhase(ctx, cfg, g, &res); err != nil {
		return res, err
	}
	cfg.Logger.Info("hlsload: blocked clients measured", "clients", res.Clients, "parts", res.Parts,
		"last_p50", res.LastP50, "last_p99", res.LastP99, "served_p50", res.ServedP50, "failed", res.Failed)
	if err := servePhase(ctx, cfg, g, &res); err != nil {
		return res, err
	}
	cfg.Logger.Info("hlsload: parts served", "clients", res.ServeClients, "per_second", res.PartsPerSecond)
	return res, nil
}
