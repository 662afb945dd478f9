//go:build race

package e2e

// Under -race the pure-Go codecs run several times slower, and a WebRTC
// viewer's sync sees their processing time (see webrtcAVAllowance).
func init() { audioRace = true }
