package origin

import (
	"strconv"
	"time"
)

// responseKind is what an HLS response is, for caching.
type responseKind uint8

const (
	kindUnknownStream    responseKind = iota // no such stream
	kindMultivariant                         // index.m3u8
	kindPlaylist                             // media playlist without _HLS_msn
	kindBlockingPlaylist                     // media playlist with _HLS_msn
	kindMedia                                // init segment, segment, part
)

const (
	// mediaMaxAge: media URIs carry the muxer's ID, so their bytes never
	// change; an hour is far beyond the spec's "6 x TD or longer".
	mediaMaxAge = time.Hour
	// unknownStreamMaxAge shields the origin from polling for a stream that
	// is not there, yet lets a new stream appear within a second.
	unknownStreamMaxAge = time.Second
)

// cacheControl is the one table of Cache-Control values, per response kind
// and outcome, from the spec's Appendix B.1 list (rfc8216bis Appendix B.1);
// td is the stream's TARGETDURATION.
//
//	kind               200                       error
//	blocking playlist  max-age=6TD               max-age=4TD
//	playlist           max-age=TD/2 (>=1 s)      max-age=TD
//	multivariant       max-age=TD/2 (>=1 s)      max-age=TD
//	media              max-age=3600, immutable   no-store (a part asked too early exists soon)
//	unknown stream     -                         max-age=1
func cacheControl(kind responseKind, ok bool, td time.Duration) string {
	half := max(time.Second, td/2)
	switch {
	case kind == kindBlockingPlaylist && ok:
		return maxAge(6 * td)
	case kind == kindBlockingPlaylist:
		return maxAge(4 * td)
	case (kind == kindPlaylist || kind == kindMultivariant) && ok:
		return maxAge(half)
	case kind == kindPlaylist || kind == kindMultivariant:
		return maxAge(td)
	case kind == kindMedia && ok:
		return maxAge(mediaMaxAge) + ", immutable"
	case kind == kindMedia:
		return "no-store"
	}
	return maxAge(unknownStreamMaxAge)
}

func maxAge(d time.Duration) string {
	return "max-age=" + strconv.Itoa(int(d/time.Second))
}
