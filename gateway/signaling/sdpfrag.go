package signaling

import (
	"bufio"
	"bytes"
	"strings"
)

// maxFragLines bounds the lines read from a trickle fragment.
const maxFragLines = 512

// fragment is a parsed application/trickle-ice-sdpfrag body (RFC 8840 section 4.4).
type fragment struct {
	ufrag, pwd string
	candidates []fragCandidate
}

type fragCandidate struct {
	mid       string
	candidate string // "candidate:..." without the "a=" prefix
}

// parseFragment reads the attributes trickle ICE and ICE restarts carry and
// ignores the rest; malformed candidate lines are dropped later by ICE.
func parseFragment(body []byte) fragment {
	var f fragment
	mid := ""
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for n := 0; sc.Scan() && n < maxFragLines; n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=ice-pwd:"):
			f.pwd = strings.TrimPrefix(line, "a=ice-pwd:")
		case strings.HasPrefix(line, "m="):
			mid = ""
		case strings.HasPrefix(line, "a=mid:"):
			mid = strings.TrimPrefix(line, "a=mid:")
		case strings.HasPrefix(line, "a=candidate:"):
			f.candidates = append(f.candidates, fragCandidate{mid: mid, candidate: strings.TrimPrefix(line, "a=")})
		}
	}
	return f
}
