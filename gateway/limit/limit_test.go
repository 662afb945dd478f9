package limit

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestCounter(t *testing.T) {
	c := NewCounter(2)
	r1, ok1 := c.Acquire()
	r2, ok2 := c.Acquire()
	if !ok1 || !ok2 {
		t.Fatal("first two Acquires refused")
	}
	if _, ok := c.Acquire(); ok {
		t.Fatal("third Acquire admitted with max 2")
	}
	r1()
	r1() // idempotent: must not free a second slot
	if c.Count() != 1 {
		t.Fatalf("count %d after one release, want 1", c.Count())
	}
	r3, ok := c.Acquire()
	if !ok {
		t.Fatal("Acquire refused after a release")
	}
	if _, ok := c.Acquire(); ok {
		t.Fatal("a double release freed a slot")
	}
	r2()
	r3()
	if c.Count() != 0 {
		t.Fatalf("count %d after all releases", c.Count())
	}
}

func TestCounterConcurrent(t *testing.T) {
	c := NewCounter(10)
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	var releases []func()
	for range 100 {
		wg.Go(func() {
			if r, ok := c.Acquire(); ok {
				mu.Lock()
				admitted++
				releases = append(releases, r)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if admitted != 10 {
		t.Fatalf("admitted %d of 100 concurrent Acquires, want 10", admitted)
	}
	for _, r := range releases {
		r()
	}
	if c.Count() != 0 {
		t.Fatalf("count %d after all releases", c.Count())
	}
}

func TestKeyed(t *testing.T) {
	k := NewKeyed(1)
	ra, ok := k.Acquire("a")
	if !ok {
		t.Fatal("a refused")
	}
	if _, ok := k.Acquire("a"); ok {
		t.Fatal("second a admitted with max 1")
	}
	rb, ok := k.Acquire("b")
	if !ok {
		t.Fatal("b refused: keys must be counted apart")
	}
	ra()
	rb()
	if k.Keys() != 0 {
		t.Fatalf("%d keys kept after every release, want 0 (bounded memory)", k.Keys())
	}
}

func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1:5000":                "192.0.2.1",
		"192.0.2.1":                     "192.0.2.1",
		"[::ffff:192.0.2.1]:80":         "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443":    "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1%eth0]:1": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":               "2001:db8:1:3::/64",
		"pipe":                          "pipe",
	} {
		if got := ClientKey(in); got != want {
			t.Errorf("ClientKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// fakeClock is a clock the test moves.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *fakeClock               { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func TestRateBurstThenRefill(t *testing.T) {
	clk := newClock()
	r := NewRate(RateConfig{PerSecond: 2, Burst: 3, Now: clk.now})
	for i := range 3 {
		if ok, _ := r.Allow("ip"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := r.Allow("ip")
	if ok {
		t.Fatal("fourth request admitted past a burst of 3")
	}
	if wait != 500*time.Millisecond {
		t.Fatalf("retry after %v, want 500ms (one token at 2/s)", wait)
	}
	if ok, _ := r.Allow("other"); !ok {
		t.Fatal("another key was refused: buckets must be per key")
	}
	clk.add(499 * time.Millisecond)
	if ok, _ := r.Allow("ip"); ok {
		t.Fatal("admitted before a token was back")
	}
	clk.add(time.Millisecond)
	if ok, _ := r.Allow("ip"); !ok {
		t.Fatal("refused once a token was back")
	}
}

func TestRateEvictsIdleKeys(t *testing.T) {
	clk := newClock()
	r := NewRate(RateConfig{PerSecond: 10, Burst: 10, Now: clk.now})
	for i := range 1000 {
		r.Allow(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	if r.Keys() != 1000 {
		t.Fatalf("%d keys, want 1000", r.Keys())
	}
	clk.add(time.Second) // every bucket is full again: idle
	r.Allow("new")
	if r.Keys() != 1 {
		t.Fatalf("%d keys after the idle ones refilled, want 1", r.Keys())
	}
}

func TestRateMaxKeys(t *testing.T) {
	clk := newClock()
	r := NewRate(RateConfig{PerSecond: 1, Burst: 1, MaxKeys: 100, Now: clk.now})
	for i := range 10_000 {
		r.Allow(fmt.Sprint(i))
		if r.Keys() > 100 {
			t.Fatalf("%d keys after %d requests, over MaxKeys 100", r.Keys(), i+1)
		}
	}
	// The last key is remembered: its bucket is empty.
	if ok, _ := r.Allow("9999"); ok {
		t.Fatal("the newest key lost its bucket")
	}
}
