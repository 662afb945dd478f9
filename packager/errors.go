package packager

import "errors"

// Errors the origin turns into status codes; match them with errors.Is.
var (
	// ErrNotFound: no such rendition, part, segment or init segment (any more).
	ErrNotFound = errors.New("packager: not found")
	// ErrBlockTimeout: a blocking request waited longer than BlockTimeout
	// (rfc8216bis Appendix B.1 suggests 503 after 3 x TARGETDURATION).
	ErrBlockTimeout = errors.New("packager: blocked too long")
	// ErrMSNTooFar: _HLS_msn is more than two segments ahead of the last
	// one (rfc8216bis §6.2.5.2 says the server should answer 400).
	ErrMSNTooFar = errors.New("packager: _HLS_msn too far in the future")
	// ErrClosed: the muxer was closed; its stream is gone.
	ErrClosed = errors.New("packager: muxer closed")
	// ErrEnded: a unit or tracks arrived after End.
	ErrEnded = errors.New("packager: stream ended")
	// ErrNoTracks: a unit arrived before SetTracks, or for a track the
	// publication does not have.
	ErrNoTracks = errors.New("packager: no such track")
)
