//go:build !unix

package loadgen

import (
	"errors"
	"time"
)

// processCPU needs getrusage.
func processCPU() (time.Duration, error) {
	return 0, errors.New("process CPU time needs getrusage (unix)")
}
