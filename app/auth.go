package app

import (
	"strings"

	"github.com/frontrow-live/frontrow/gateway/signaling"
)

// publishTokens are the publish credentials: a token per stream, and a
// fallback for the streams without one ("" leaves those open). Stream
// names match without regard to case, as configuration keys do.
type publishTokens struct {
	fallback string
	streams  map[string]string // lower-cased stream name -> token
}

func newPublishTokens(fallback string, perStream map[string]string) *publishTokens {
	t := &publishTokens{fallback: fallback, streams: make(map[string]string, len(perStream))}
	for name, tok := range perStream {
		t.streams[strings.ToLower(name)] = tok
	}
	return t
}

// forStream is the token a publisher of stream must present; "" is open.
func (t *publishTokens) forStream(stream string) string {
	if tok, ok := t.streams[strings.ToLower(stream)]; ok {
		return tok
	}
	return t.fallback
}

// elsewhere reports whether tok is a publish token of some stream. Every
// token is compared, in constant time each, so the answer takes as long
// whichever one matches.
func (t *publishTokens) elsewhere(tok string) bool {
	found := false
	if t.fallback != "" && signaling.TokenEqual(tok, t.fallback) {
		found = true
	}
	for _, want := range t.streams {
		if signaling.TokenEqual(tok, want) {
			found = true
		}
	}
	return found
}

// open reports whether some stream may be published without a token.
func (t *publishTokens) open() bool { return t.fallback == "" }
