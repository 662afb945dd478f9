package limit

import (
	"math"
	"sync"
	"time"
)

// DefaultMaxKeys bounds the buckets a Rate keeps: about 100 bytes each, so
// the table stays under ~10 MB whatever a flood of addresses does.
const DefaultMaxKeys = 100_000

// RateConfig sets up a Rate.
type RateConfig struct {
	// PerSecond is the sustained rate a key may go at; must be positive.
	PerSecond float64
	// Burst is how many requests a key may make at once; must be positive.
	Burst int
	// MaxKeys bounds memory; DefaultMaxKeys if zero.
	MaxKeys int
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Rate is a token bucket per key. A key's bucket holds up to Burst tokens,
// refills at PerSecond, and each request takes one.
//
// Memory is bounded: a bucket that has refilled to full is the same as no
// bucket, so idle keys are swept away, at most once per refill time; if
// MaxKeys keys are all active, the new key evicts an arbitrary one (which
// gets a fresh bucket on its next request: a flood of addresses can cost
// some keys their history, never the process its memory).
type Rate struct {
	perSecond float64
	burst     float64
	full      time.Duration // time an empty bucket takes to refill
	maxKeys   int
	now       func() time.Time

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// NewRate makes a Rate; it panics on a non-positive PerSecond or Burst.
func NewRate(cfg RateConfig) *Rate {
	if cfg.PerSecond <= 0 || cfg.Burst <= 0 {
		panic("limit: Rate needs a positive PerSecond and Burst")
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	full := time.Duration(float64(cfg.Burst) / cfg.PerSecond * float64(time.Second))
	return &Rate{
		perSecond: cfg.PerSecond, burst: float64(cfg.Burst), full: max(full, time.Millisecond),
		maxKeys: cfg.MaxKeys, now: cfg.Now, buckets: map[string]*bucket{}, lastSweep: cfg.Now(),
	}
}

// Allow takes a token from key's bucket. When there is none it returns
// false and how long until there is one.
func (r *Rate) Allow(key string) (ok bool, retryAfter time.Duration) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.Sub(r.lastSweep) >= r.full {
		r.sweep(now)
	}
	b := r.buckets[key]
	if b == nil {
		if len(r.buckets) >= r.maxKeys {
			r.sweep(now)
			for k := range r.buckets { // still full: evict any one
				if len(r.buckets) < r.maxKeys {
					break
				}
				delete(r.buckets, k)
			}
		}
		b = &bucket{tokens: r.burst, at: now}
		r.buckets[key] = b
	}
	if d := now.Sub(b.at); d > 0 {
		b.tokens = math.Min(r.burst, b.tokens+d.Seconds()*r.perSecond)
		b.at = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / r.perSecond * float64(time.Second))
	return false, max(wait, time.Nanosecond)
}

// sweep drops the buckets that are full again by now.
func (r *Rate) sweep(now time.Time) {
	r.lastSweep = now
	for k, b := range r.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*r.perSecond >= r.burst {
			delete(r.buckets, k)
		}
	}
}

// Keys is the number of buckets kept (its memory).
func (r *Rate) Keys() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buckets)
}
