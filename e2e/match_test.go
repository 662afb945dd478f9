package e2e

import (
	"bytes"
	"fmt"
	"slices"
)

// auEqual compares two access units NAL unit by NAL unit.
func auEqual(a, b [][]byte) bool {
	return slices.EqualFunc(a, b, bytes.Equal)
}

// findRun locates got as a contiguous run inside sent and returns where it
// starts. The demo file loops, so the same unit recurs every loop; any start
// that matches the whole run is as good as another.
func findRun[T any](sent, got []T, eq func(a, b T) bool) (int, error) {
	if len(got) == 0 {
		return 0, fmt.Errorf("nothing received")
	}
	for start := 0; start+len(got) <= len(sent); start++ {
		if !eq(sent[start], got[0]) {
			continue
		}
		ok := true
		for i := range got {
			if !eq(sent[start+i], got[i]) {
				ok = false
				break
			}
		}
		if ok {
			return start, nil
		}
	}
	// Say where it goes wrong: the longest matching prefix from any start.
	best, bestAt := 0, -1
	for start := range sent {
		n := 0
		for n < len(got) && start+n < len(sent) && eq(sent[start+n], got[n]) {
			n++
		}
		if n > best {
			best, bestAt = n, start
		}
	}
	return 0, fmt.Errorf("received %d units are not a contiguous run of the %d sent: longest match %d units from sent[%d]",
		len(got), len(sent), best, bestAt)
}
