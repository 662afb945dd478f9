package loadgen

import (
	"sync"
	"time"
)

// Drainer drains the sockets of many viewers once their first keyframe is
// in, with one goroutine: on each tick of its interval it reads every
// viewer's socket in turn (recvmmsg, Linux) into one set of buffers, each
// big enough for a UDP GRO run of packets (1 MiB in all), where a viewer
// without one keeps a goroutine and a 64 KiB buffer of its own and reads
// one datagram per system call. The goroutine runs while the Drainer has
// viewers. Elsewhere than on Linux viewers read each packet as it arrives
// and leave their Drainer unused.
type Drainer struct {
	interval time.Duration

	mu      sync.Mutex
	viewers []*Viewer
	running bool // the goroutine is on; it ends when the last viewer is gone

	// Owned by the goroutine (one at a time: the next starts under mu,
	// after the last has ended).
	pass, gone []*Viewer
	batch      *batch
}

// NewDrainer returns a Drainer that drains its viewers every interval, on
// the clock's multiples of it (0 or negative: 100 ms).
func NewDrainer(interval time.Duration) *Drainer {
	if interval <= 0 {
		interval = defaultReadInterval
	}
	return &Drainer{interval: interval}
}
