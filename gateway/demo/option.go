package demo

import (
	"context"
	"fmt"
	"time"
)

// Defaults for Run, overridden by Options.
const (
	// defaultMTU keeps RTP packets under a typical path MTU after SRTP, UDP, IP
	// and TURN overhead, as browsers do.
	defaultMTU = 1200
	// minMTU leaves room for an FU-A header and a useful fragment.
	minMTU = 100
	// defaultReportInterval is how often a sender report maps each track's RTP
	// clock to wall clock (RFC 3550 section 6.2 suggests ~5 s; 1 s lets a
	// joining viewer sync sooner).
	defaultReportInterval = time.Second
)

// Clock is what Run paces playout against; tests pass a virtual one so a
// file loop plays instantly and deterministically.
type Clock interface {
	Now() time.Time
	// Sleep waits d (returning at once if d <= 0) or until ctx is done, and
	// then returns ctx.Err().
	Sleep(ctx context.Context, d time.Duration) error
}

// Option configures a Source at construction.
type Option func(*config) error

type config struct {
	clock          Clock
	mtu            int
	reportInterval time.Duration
}

func defaultConfig() config {
	return config{clock: wallClock{}, mtu: defaultMTU, reportInterval: defaultReportInterval}
}

// WithClock replaces the wall clock so tests drive time instead of sleeping.
func WithClock(c Clock) Option {
	return func(cfg *config) error {
		if c == nil {
			return fmt.Errorf("demo: nil clock")
		}
		cfg.clock = c
		return nil
	}
}

// WithMTU sets the largest H264 RTP payload (FU-A splits larger NAL units),
// for paths smaller than the default 1200 bytes. Opus frames are never split.
func WithMTU(mtu int) Option {
	return func(cfg *config) error {
		if mtu < minMTU || mtu > 0xFFFF {
			return fmt.Errorf("demo: mtu %d outside [%d, 65535]", mtu, minMTU)
		}
		cfg.mtu = mtu
		return nil
	}
}

// WithReportInterval sets how often sender reports are sent, for receivers
// that need sync sooner or later than every second.
func WithReportInterval(d time.Duration) Option {
	return func(cfg *config) error {
		if d <= 0 {
			return fmt.Errorf("demo: report interval %v must be positive", d)
		}
		cfg.reportInterval = d
		return nil
	}
}

// wallClock is the real time source Run uses by default.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	return ctx.Err()
}
