// Package limit holds the small admission primitives the gateway's limits
// are built from: a counting semaphore (Counter), the same per key (Keyed),
// a token bucket per key with bounded memory (Rate), and the key most limits
// are counted under (ClientKey). What a refusal looks like to a client
// (status, Retry-After, reason) is the caller's business.
package limit

import (
	"net/netip"
	"sync"
)

// Counter admits at most Max holders at once.
type Counter struct {
	max int

	mu sync.Mutex
	n  int
}

// NewCounter makes a Counter admitting max holders; max must be positive.
func NewCounter(max int) *Counter {
	if max <= 0 {
		panic("limit: Counter max must be positive")
	}
	return &Counter{max: max}
}

// Acquire takes a slot. It returns a release func (idempotent) and true, or
// nil and false when all Max slots are taken.
func (c *Counter) Acquire() (release func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n >= c.max {
		return nil, false
	}
	c.n++
	return onceFunc(func() {
		c.mu.Lock()
		c.n--
		c.mu.Unlock()
	}), true
}

// Count is the number of slots taken.
func (c *Counter) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Max is the number of slots.
func (c *Counter) Max() int { return c.max }

// Keyed admits at most Max holders per key. Keys with no holder take no
// memory, so the map is bounded by the number of slots taken.
type Keyed struct {
	max int

	mu sync.Mutex
	n  map[string]int
}

// NewKeyed makes a Keyed admitting max holders per key; max must be positive.
func NewKeyed(max int) *Keyed {
	if max <= 0 {
		panic("limit: Keyed max must be positive")
	}
	return &Keyed{max: max, n: map[string]int{}}
}

// Acquire takes a slot of key; see Counter.Acquire.
func (k *Keyed) Acquire(key string) (release func(), ok bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.n[key] >= k.max {
		return nil, false
	}
	k.n[key]++
	return onceFunc(func() {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.n[key] <= 1 {
			delete(k.n, key)
			return
		}
		k.n[key]--
	}), true
}

// Count is the number of slots of key taken.
func (k *Keyed) Count(key string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n[key]
}

// Keys is the number of keys holding a slot (its memory).
func (k *Keyed) Keys() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.n)
}

// Max is the number of slots per key.
func (k *Keyed) Max() int { return k.max }

func onceFunc(f func()) func() {
	var once sync.Once
	return func() { once.Do(f) }
}

// ClientKey is the key a client is counted under, from a RemoteAddr
// ("ip:port") or a bare IP: an IPv4 address, or the /64 of an IPv6 address
// (one subscriber line gets a whole /64, RFC 6177, so counting single
// addresses would count nothing). Anything unparsable is its own key.
func ClientKey(remote string) string {
	ip, err := netip.ParseAddr(remote)
	if err != nil {
		ap, err := netip.ParseAddrPort(remote)
		if err != nil {
			return remote
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return ip.String()
	}
	return p.String()
}
