//go:build race

package loadgen

// raceEnabled: the race detector changes allocation counts (sync.Pool
// drops items), so allocation checks are skipped under it.
const raceEnabled = true
