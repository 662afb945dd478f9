// Package player serves the bundled web player: static HTML and JS embedded
// in the binary, so a gateway needs no separate web server or CDN to be watched.
package player

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// build.sh copies the pinned hls.js into static/vendor; without it the page
// still loads and says so.
//go:generate sh build.sh

//go:embed static
var embedded embed.FS

// FS is the player's files (index.html at the root), for callers that mount
// them their own way.
func FS() fs.FS {
	sub, err := fs.Sub(embedded, "static")
	if err != nil {
		panic(err) // "static" is a valid path embedded at compile time
	}
	return sub
}

// Handler serves the player at its root ("/" is the page); mount it with
// http.StripPrefix to serve it under a path.
func Handler() http.Handler { return newHandler(FS()) }

type handler struct {
	fsys  fs.FS
	etags map[string]string // file name -> strong ETag of its content
}

// newHandler hashes every file once so browsers revalidate with
// If-None-Match instead of downloading hls.js on every visit.
func newHandler(fsys fs.FS) http.Handler {
	h := handler{fsys: fsys, etags: map[string]string{}}
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
	return h
}

// ServeHTTP serves files only: no directory listings, 404 for anything else.
func (h handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
	if name == "" {
		name = "index.html"
	}
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
	w.Header().Set("Cache-Control", "no-cache")
	if etag, ok := h.etags[name]; ok {
		w.Header().Set("ETag", etag)
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
}

func isDir(fsys fs.FS, name string) bool {
	st, err := fs.Stat(fsys, name)
	return err == nil && st.IsDir()
}
