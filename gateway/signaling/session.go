// Package signaling serves the HTTP side of WHIP (RFC 9725) and WHEP
// (draft-ietf-wish-whep), which share one resource model: POST an offer to
// an endpoint, get an answer and a session URL, PATCH it for trickle ICE,
// DELETE it to leave. What a session does is the caller's (whip, whep).
package signaling

import (
	"context"

	"github.com/pion/webrtc/v4"
)

// Session is one WHIP or WHEP session resource.
type Session interface {
	// AddICECandidate trickles one remote candidate; unusable ones may fail.
	AddICECandidate(webrtc.ICECandidateInit) error
	// Close ends the session and frees its resources at once, and closes
	// Done before it returns. Idempotent.
	Close() error
	// RemoteICEUfrag is the client's current ICE username fragment: a PATCH
	// with another one is an ICE restart, with the same one a trickle.
	RemoteICEUfrag() string
	// Done is closed when the session ended by itself (ICE failure, stream over).
	Done() <-chan struct{}
}

// Restarter is a Session that takes ICE restarts (RFC 9725 section 4.4):
// the handler then gives it a strong ETag, new with each restart.
type Restarter interface {
	Session
	// RestartICE switches to the client's new ICE credentials and returns
	// the server's new ones and its candidates as an
	// application/trickle-ice-sdpfrag body. On error the old ICE session
	// goes on.
	RestartICE(ufrag, pwd string) ([]byte, error)
}

// StartRequest is a POSTed offer.
type StartRequest struct {
	Stream string
	Offer  []byte
	Remote string // client address, for logs
}

// Starter makes a session from an offer and returns the SDP answer, which
// must hold all of the gateway's candidates (it does not trickle).
type Starter func(ctx context.Context, req StartRequest) (Session, []byte, error)

// StatusError lets a Starter choose the HTTP status a refusal gets.
type StatusError interface {
	error
	HTTPStatus() int
}

// RetryAfterError adds the Retry-After seconds a client should wait.
type RetryAfterError interface {
	StatusError
	RetryAfter() int
}

// Refusal is a ready-made StatusError.
type Refusal struct {
	Status int
	Msg    string
	// Retry is the Retry-After value in seconds, 0 for none.
	Retry int
}

func (e *Refusal) Error() string { return e.Msg }

// HTTPStatus is the status the client gets.
func (e *Refusal) HTTPStatus() int { return e.Status }

// RetryAfter is the Retry-After value in seconds.
func (e *Refusal) RetryAfter() int { return e.Retry }
