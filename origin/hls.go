package origin

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/frontrow-live/frontrow/packager"
)

// HLS URL layout, under the prefix the handler is mounted at:
//
//	GET /hls/{stream}/index.m3u8          multivariant playlist
//	GET /hls/{stream}/{rendition}.m3u8    media playlist, with _HLS_msn, _HLS_part, _HLS_skip
//	GET /hls/{stream}/{media}.mp4         init segment, segment or part, as the playlists name them
//
// A stream whose first segment is not complete yet makes playlist requests
// wait for it (up to 3 x TARGETDURATION, the muxer's BlockTimeout), then
// answers 503 with Retry-After: players retry, nothing is cached for long.
const (
	hlsPattern       = "/hls/{stream}/{file}"
	playlistType     = "application/vnd.apple.mpegurl" // rfc8216bis §4
	playlistExt      = ".m3u8"
	preflightMaxAge  = "86400" // seconds a browser may reuse a preflight answer
	allowedMethods   = "GET, HEAD, OPTIONS"
	headerAge        = "Age" // CDNs add it; hls.js reads it, so CORS exposes it
	gzipEncoding     = "gzip"
	acceptEncoding   = "Accept-Encoding"
	contentEncoding  = "Content-Encoding"
	retryAfterHeader = "Retry-After"
)

// HLSConfig wires the HLS handler to the streams.
type HLSConfig struct {
	// Lookup finds a stream's muxer by name; required.
	Lookup func(stream string) (*packager.Muxer, bool)
	// Logger receives server-side failures. Default: slog.Default().
	Logger *slog.Logger
}

// NewHLS returns the handler for /hls/{stream}/...; mount it at "/hls/".
func NewHLS(cfg HLSConfig) http.Handler {
	if cfg.Lookup == nil {
		panic("origin: HLSConfig.Lookup is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &hlsHandler{lookup: cfg.Lookup, log: cfg.Logger}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+hlsPattern, h.serve) // GET patterns also match HEAD
	mux.HandleFunc("OPTIONS "+hlsPattern, preflight)
	return withCORS(mux)
}

type hlsHandler struct {
	lookup func(string) (*packager.Muxer, bool)
	log    *slog.Logger
}

func (h *hlsHandler) serve(w http.ResponseWriter, r *http.Request) {
	m, ok := h.lookup(r.PathValue("stream"))
	if !ok {
		h.fail(w, r, kindUnknownStream, 0, packager.ErrNotFound)
		return
	}
	td := m.TargetDuration()
	name := r.PathValue("file")
	switch {
	case name == packager.MultivariantName:
		resp, err := m.Multivariant(r.Context())
		h.playlist(w, r, kindMultivariant, td, resp, err)
	case strings.HasSuffix(name, playlistExt):
		req, err := parseRequest(r.URL.RawQuery)
		kind := kindPlaylist
		if req.Block {
			kind = kindBlockingPlaylist
		}
		if err != nil {
			h.fail(w, r, kind, td, err)
			return
		}
		resp, err := m.Playlist(r.Context(), strings.TrimSuffix(name, playlistExt), req)
		h.playlist(w, r, kind, td, resp, err)
	default:
		f, err := m.File(r.Context(), name)
		if err != nil {
			h.fail(w, r, kindMedia, td, err)
			return
		}
		hd := w.Header()
		hd.Set("Content-Type", f.ContentType)
		hd.Set("Cache-Control", cacheControl(kindMedia, true, td))
		// ServeContent answers HEAD and Range requests too.
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.Body))
	}
}

// playlist writes a rendered playlist, gzipped when the client accepts it.
func (h *hlsHandler) playlist(w http.ResponseWriter, r *http.Request, kind responseKind, td time.Duration, resp *packager.Response, err error) {
	if err != nil {
		h.fail(w, r, kind, td, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", playlistType)
	hd.Set("Cache-Control", cacheControl(kind, true, td))
	hd.Add("Vary", acceptEncoding)
	body := resp.Body
	if acceptsGzip(r.Header.Get(acceptEncoding)) {
		body = resp.Gzipped()
		hd.Set(contentEncoding, gzipEncoding)
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// fail is the one place errors become status codes.
func (h *hlsHandler) fail(w http.ResponseWriter, r *http.Request, kind responseKind, td time.Duration, err error) {
	status := statusOf(err)
	if status == 0 {
		return // the client went away; nobody reads an answer
	}
	hd := w.Header()
	hd.Set("Cache-Control", cacheControl(kind, false, td))
	if status == http.StatusServiceUnavailable {
		hd.Set(retryAfterHeader, strconv.Itoa(retryAfter(td)))
	}
	if status >= http.StatusInternalServerError && status != http.StatusServiceUnavailable {
		h.log.Error("origin: hls request failed", "path", r.URL.Path, "err", err)
	} else {
		h.log.Debug("origin: hls request refused", "path", r.URL.Path, "status", status, "err", err)
	}
	http.Error(w, http.StatusText(status), status)
}

// statusOf maps packager and parsing errors to HTTP statuses; 0 means the
// client is gone.
func statusOf(err error) int {
	switch {
	case errors.Is(err, errBadRequest), errors.Is(err, packager.ErrMSNTooFar):
		return http.StatusBadRequest
	case errors.Is(err, packager.ErrNotFound), errors.Is(err, packager.ErrClosed):
		return http.StatusNotFound
	case errors.Is(err, packager.ErrBlockTimeout), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled):
		return 0
	}
	return http.StatusInternalServerError
}

// retryAfter is Retry-After in seconds for a 503: one target duration, the
// time in which something new should appear.
func retryAfter(td time.Duration) int {
	return max(1, int(td/time.Second))
}

// acceptsGzip reads Accept-Encoding (RFC 9110 §12.5.3): gzip with q > 0, or
// a "*" with q > 0 when gzip is not listed.
func acceptsGzip(header string) bool {
	gzipQ, starQ := -1.0, -1.0
	for _, item := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(item, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != gzipEncoding && coding != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(p, "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
				if err != nil {
					f = 0
				}
				q = f
			}
		}
		if coding == gzipEncoding {
			gzipQ = q
		} else {
			starQ = q
		}
	}
	if gzipQ >= 0 {
		return gzipQ > 0
	}
	return starQ > 0
}

// withCORS lets browser players on any origin read everything, including
// the Age header a CDN adds (hls.js uses it to estimate latency).
func withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Access-Control-Allow-Origin", "*")
		hd.Set("Access-Control-Expose-Headers", headerAge)
		next.ServeHTTP(w, r)
	})
}

// preflight answers a CORS preflight request (Fetch standard §3.2.2).
func preflight(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Methods", allowedMethods)
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		hd.Set("Access-Control-Allow-Headers", req)
	}
	hd.Set("Access-Control-Max-Age", preflightMaxAge)
	w.WriteHeader(http.StatusNoContent)
}
