package loadgen

import (
	"testing"

	"github.com/frontrow-live/frontrow/internal/race"
)

// Allocation checks are named TestAllocs...: make test runs them in a pass
// of their own without the race detector (-run '^TestAllocs'), and they
// skip under it, where allocation counts mean nothing.
func skipAllocsUnderRace(t *testing.T) {
	t.Helper()
	if race.Enabled {
		t.Skip("allocation counts are not the program's under -race (sync.Pool drops items); make test runs this without it")
	}
}
