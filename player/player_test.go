package player

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func get(t *testing.T, h http.Handler, method, target string, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestHandler(t *testing.T) {
	fsys := fstest.MapFS{
		"index.html":        {Data: []byte("<!doctype html><title>t</title>")},
		"player.js":         {Data: []byte("'use strict';")},
		"vendor/hls.min.js": {Data: []byte("var Hls;")},
	}
	h := newHandler(fsys)
	tests := []struct {
		name, method, target string
		wantStatus           int
		wantType             string
	}{
		{"root is the page", "GET", "/", http.StatusOK, "text/html"},
		{"page by name", "GET", "/index.html", http.StatusOK, "text/html"},
		{"head", "HEAD", "/", http.StatusOK, "text/html"},
		{"script", "GET", "/player.js", http.StatusOK, "javascript"},
		{"hls.js when present", "GET", "/vendor/hls.min.js", http.StatusOK, "javascript"},
		{"query ignored", "GET", "/?stream=cam1", http.StatusOK, "text/html"},
		{"unknown file", "GET", "/nope.js", http.StatusNotFound, ""},
		{"no directory listing", "GET", "/vendor/", http.StatusNotFound, ""},
		{"no escape", "GET", "/../../etc/passwd", http.StatusNotFound, ""},
		{"read only", "POST", "/", http.StatusMethodNotAllowed, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := get(t, h, tc.method, tc.target, nil)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); tc.wantType != "" && !strings.Contains(ct, tc.wantType) {
				t.Fatalf("Content-Type %q, want %q", ct, tc.wantType)
			}
		})
	}
}

func TestHandlerRevalidates(t *testing.T) {
	h := newHandler(fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}})
	first := get(t, h, "GET", "/", nil)
	etag := first.Header().Get("ETag")
	if etag == "" || first.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q: want an ETag and no-cache", etag, first.Header().Get("Cache-Control"))
	}
	if rec := get(t, h, "GET", "/", http.Header{"If-None-Match": {etag}}); rec.Code != http.StatusNotModified {
		t.Fatalf("revalidation status %d, want 304", rec.Code)
	}
}

func TestEmbeddedPage(t *testing.T) {
	h := Handler()
	rec := get(t, h, "GET", "/", nil)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %q, want 200 text/html", rec.Code, rec.Header().Get("Content-Type"))
	}
	page := rec.Body.String()
	for _, ref := range []string{"player.js", "player.css", "vendor/hls.min.js"} {
		if !strings.Contains(page, `"`+ref+`"`) {
			t.Errorf("page does not reference %s", ref)
		}
	}
	for _, name := range []string{"player.js", "player.css"} {
		if rec := get(t, h, "GET", "/"+name, nil); rec.Code != http.StatusOK {
			t.Errorf("GET /%s = %d, want 200", name, rec.Code)
		}
	}
	if _, err := fs.Stat(FS(), "vendor/hls.min.js"); err != nil {
		t.Skip("hls.js not vendored (run player/build.sh): skipping the embedded copy")
	}
	if rec := get(t, h, "GET", "/vendor/hls.min.js", nil); rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "javascript") {
		t.Fatalf("GET /vendor/hls.min.js = %d %q, want 200 javascript", rec.Code, rec.Header().Get("Content-Type"))
	}
}

// The page must work offline and behind any proxy: nothing from other hosts.
func TestEmbeddedPageIsSameOrigin(t *testing.T) {
	for _, name := range []string{"index.html", "player.js", "player.css"} {
		data, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		for _, scheme := range []string{"http://", "https://", "//cdn"} {
			if strings.Contains(string(data), scheme) {
				t.Errorf("%s mentions %q: load everything from the gateway", name, scheme)
			}
		}
	}
}
