//go:build !unix

package cost

import (
	"errors"
	"time"
)

// cpuTime needs getrusage, which only unix systems have.
func cpuTime() (time.Duration, error) {
	return 0, errors.New("cost: process CPU time is only measured on unix systems")
}
