//go:build race

// Package race says whether the race detector is on: it changes allocation
// counts and slows timing-sensitive work, so allocation checks and
// measurements skip under it (make test runs them in a pass without it).
package race

// Enabled is true in a -race build.
const Enabled = true
