// Package cost measures what one stream costs the gateway in CPU, in
// mCPU (thousandths of a core per real-time second of media), for `make
// bench` (issue 6): the packager, and the audio transcoder in each
// direction. Each measurement runs the work as fast as it can and divides
// the process's CPU time (user + system, garbage collection included) by
// the media time it processed, so other processes on the machine do not
// inflate it. Nothing else should run in the process meanwhile.
package cost

import (
	"errors"
	"fmt"
	"runtime"
	"time"
)

// MilliCPU is a CPU cost in thousandths of a core, so per-stream costs add
// up to what a machine of N cores (N x 1000 mCPU) can carry.
type MilliCPU float64

// String formats the cost as, e.g., "12.3 mCPU".
func (c MilliCPU) String() string { return fmt.Sprintf("%.1f mCPU", float64(c)) }

// perMediaSecond turns CPU time spent on media of length media into mCPU.
func perMediaSecond(cpu, media time.Duration) (MilliCPU, error) {
	if media <= 0 {
		return 0, errors.New("cost: no media was processed")
	}
	return MilliCPU(1000 * cpu.Seconds() / media.Seconds()), nil
}

// measure runs work and returns the process CPU time it took. It collects
// the garbage first, so what was made before is not charged to work.
func measure(work func() error) (time.Duration, error) {
	runtime.GC()
	before, err := cpuTime()
	if err != nil {
		return 0, err
	}
	if err := work(); err != nil {
		return 0, err
	}
	after, err := cpuTime()
	if err != nil {
		return 0, err
	}
	return after - before, nil
}
