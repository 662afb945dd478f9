//go:build race

package e2e

// Under -race the pure-Go codecs run several times slower: tests that
// time them allow for it.
func init() { audioRace = true }
