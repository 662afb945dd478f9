//go:build race

package e2e

// Under -race the binary is built with -race too: it reuses the packages
// the test build compiled, and the shutdown runs under the detector.
func init() { buildRace = true }
