//go:build race

package stream

// raceEnabled: the race detector changes allocation counts, so allocation
// checks (TestAllocs...) skip under it; make test runs them without it.
const raceEnabled = true
