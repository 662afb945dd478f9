package origin

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/frontrow-live/frontrow/packager"
)

// Kinds of HLS request, as metrics label them.
const (
	KindMultivariant     = "multivariant"
	KindPlaylist         = "playlist"
	KindBlockingPlaylist = "blocking_playlist" // with _HLS_msn (rfc8216bis §6.2.5.2)
	KindInit             = "init"
	KindSegment          = "segment"
	KindPart             = "part"
	KindPreflight        = "preflight" // CORS OPTIONS
	KindOther            = "other"     // anything else under /hls/: a 404 or 405
)

// RequestKind classifies a request for /hls/{stream}/{file}; it only reads
// the path and query, so it costs nothing the handler would not pay anyway.
func RequestKind(r *http.Request) string {
	if r.Method == http.MethodOptions {
		return KindPreflight
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/hls/")
	if !ok {
		return KindOther
	}
	_, file, ok := strings.Cut(rest, "/")
	if !ok || file == "" || strings.Contains(file, "/") {
		return KindOther
	}
	switch {
	case file == packager.MultivariantName:
		return KindMultivariant
	case strings.HasSuffix(file, playlistExt):
		// As parseRequest decides: a blocking request is one with _HLS_msn.
		if q, err := url.ParseQuery(r.URL.RawQuery); err == nil && q.Has(paramMSN) {
			return KindBlockingPlaylist
		}
		return KindPlaylist
	}
	if k := packager.MediaKind(file); k != "" {
		return k
	}
	return KindOther
}
