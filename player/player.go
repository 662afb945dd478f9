// Package player serves the bundled web player: static HTML and JS embedded
// in the binary, so a gateway needs no separate web server or CDN to be
// watched.
//
// Pages (all GET):
//
//	/                  the live streams, each linked to its player
//	/streams.json      the same list as JSON, for that page ([{name, live, distribution}])
//	/play/{id}         one distribution, full page, embeddable in an iframe;
//	                   reads /play/{id}/config (served by the gateway) with the page's ?token=
//	/watch/{stream}    one stream without a distribution: WebRTC first, then LL-HLS
//	/compare?stream=   WebRTC and LL-HLS side by side (/?stream= redirects here)
//	/publish/{stream}  go live from the browser (camera or screen) over WHIP
//	                   with the publish token
//
// The files the pages load (play.js, player.css, vendor/hls.min.js, ...) are
// served by name from the root.
package player

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"time"
)

// build.sh copies the pinned hls.js into static/vendor; without it the page
// still loads and says so.
//go:generate sh build.sh

//go:embed static
var embedded embed.FS

// The HTML pages, by file name in static/.
const (
	pageList    = "index.html"
	pagePlay    = "play.html"
	pageCompare = "compare.html"
	pagePublish = "publish.html"
)

// contentSecurityPolicy keeps every page to the gateway's own scripts and
// styles. connect-src allows other hosts because a distribution's WebRTC
// source may be an external WHEP endpoint (webRtc.src.apiUrl); hls.js runs
// its demuxer in a blob: worker and feeds the video through blob: MSE URLs.
// frame-ancestors is open: /play/{id} is meant to be embedded.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self' http: https:; frame-ancestors *"

// FS is the player's files (index.html at the root), for callers that mount
// them their own way.
func FS() fs.FS {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		panic(err) // "static" is a valid path embedded at compile time
	}
	return sub
}

// Stream is one entry of the front page's list.
type Stream struct {
	Name string `json:"name"`
	// Live is true while a publisher is connected (false in its grace period).
	Live bool `json:"live"`
	// Distribution, when set, is the distribution the page links to
	// (/play/{id}); without one it links to /watch/{name}.
	Distribution string `json:"distribution,omitempty"`
}

// StreamLister tells the front page which streams to show. The page is
// public: list only streams anyone may watch.
type StreamLister interface {
	PublicStreams() []Stream
}

// Config configures Handler.
type Config struct {
	// Streams feeds the front page; nil lists none.
	Streams StreamLister
}

// Handler serves the player at its root ("/" is the stream list); mount it
// at the root of the gateway's mux, after the routes it does not own
// (/play/{id}/config, /whep/, /hls/).
func Handler(cfg Config) http.Handler { return newHandler(FS(), cfg) }

type handler struct {
	fsys    fs.FS
	etags   map[string]string // file name -> strong ETag of its content
	streams StreamLister
	mux     *http.ServeMux
}

// newHandler hashes every file once so browsers revalidate with
// If-None-Match instead of downloading hls.js on every visit.
func newHandler(fsys fs.FS, cfg Config) http.Handler {
	h := &handler{fsys: fsys, etags: map[string]string{}, streams: cfg.Streams, mux: http.NewServeMux()}
	_ = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil // a file without an ETag is still served, just not revalidated
		}
		if data, err := fs.ReadFile(fsys, name); err == nil {
			sum := sha256.Sum256(data)
			h.etags[name] = `"` + hex.EncodeToString(sum[:8]) + `"`
		}
		return nil
	})
	// GET patterns also match HEAD; other methods get 405 with Allow.
	h.mux.HandleFunc("GET /{$}", h.list)
	h.mux.HandleFunc("GET /streams.json", h.streamList)
	h.mux.HandleFunc("GET /play/{id}", h.page(pagePlay))
	h.mux.HandleFunc("GET /watch/{stream}", h.page(pagePlay))
	h.mux.HandleFunc("GET /compare", h.page(pageCompare))
	h.mux.HandleFunc("GET /publish/{stream}", h.page(pagePublish))
	h.mux.HandleFunc("GET /", h.file)
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// list is the front page; the old side-by-side page's address
// (/?stream=NAME) moves to /compare.
func (h *handler) list(w http.ResponseWriter, r *http.Request) {
	if name := r.URL.Query().Get("stream"); name != "" {
		http.Redirect(w, r, "/compare?stream="+url.QueryEscape(name), http.StatusFound)
		return
	}
	h.serve(w, r, pageList)
}

func (h *handler) page(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { h.serve(w, r, name) }
}

// file serves the pages' scripts, styles and hls.js by name; pages have
// their own routes, so page files are not served a second time by name.
func (h *handler) file(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if strings.HasSuffix(name, ".html") {
		http.NotFound(w, r)
		return
	}
	h.serve(w, r, name)
}

// streamList is GET /streams.json: what the front page shows, by name.
// Never cached: streams come and go.
func (h *handler) streamList(w http.ResponseWriter, _ *http.Request) {
	list := []Stream{}
	if h.streams != nil {
		list = append(list, h.streams.PublicStreams()...)
	}
	slices.SortFunc(list, func(a, b Stream) int { return cmp.Compare(a.Name, b.Name) })
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_ = json.NewEncoder(w).Encode(list)
}

// serve writes one embedded file: no directory listings, 404 for anything
// missing.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, name string) {
	data, err := fs.ReadFile(h.fsys, name)
	if err != nil {
		status := http.StatusInternalServerError
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) || isDir(h.fsys, name) {
			status = http.StatusNotFound
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	// Revalidate every time (cheap with the ETag): the files change with the
	// binary, and embedded files carry no modification time.
	hd := w.Header()
	hd.Set("Cache-Control", "no-cache")
	if etag, ok := h.etags[name]; ok {
		hd.Set("ETag", etag)
	}
	hd.Set("X-Content-Type-Options", "nosniff")
	if strings.HasSuffix(name, ".html") {
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("Referrer-Policy", "strict-origin-when-cross-origin")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

func isDir(fsys fs.FS, name string) bool {
	st, err := fs.Stat(fsys, name)
	return err == nil && st.IsDir()
}
