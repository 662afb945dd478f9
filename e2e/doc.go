// Package e2e holds frontrow's end-to-end tests: the whole gateway started
// in-process on loopback and driven by real third-party clients (pion as a
// WHIP publisher and WHEP viewer, gohlslib's HLS client).
package e2e
