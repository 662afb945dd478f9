package player

import (
	"encoding/json"
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

type fakeStreams []Stream

func (f fakeStreams) PublicStreams() []Stream { return f }

func testFS() fstest.MapFS {
	return fstest.MapFS{
		"index.html":        {Data: []byte("<!doctype html><title>list</title>")},
		"play.html":         {Data: []byte("<!doctype html><title>play</title>")},
		"compare.html":      {Data: []byte("<!doctype html><title>compare</title>")},
		"publish.html":      {Data: []byte("<!doctype html><title>publish</title>")},
		"play.js":           {Data: []byte("'use strict';")},
		"player.css":        {Data: []byte("body{}")},
		"vendor/hls.min.js": {Data: []byte("var Hls;")},
	}
}

func TestHandler(t *testing.T) {
	h := newHandler(testFS(), Config{})
	tests := []struct {
		name, method, target string
		wantStatus           int
		wantType             string
		wantBody             string // a substring
	}{
		{"root is the stream list", "GET", "/", http.StatusOK, "text/html", "<title>list"},
		{"head", "HEAD", "/", http.StatusOK, "text/html", ""},
		{"player for a distribution", "GET", "/play/d_abc123", http.StatusOK, "text/html", "<title>play"},
		{"player with a token", "GET", "/play/d_abc123?token=x.y", http.StatusOK, "text/html", "<title>play"},
		{"player for a bare stream", "GET", "/watch/demo", http.StatusOK, "text/html", "<title>play"},
		{"side by side", "GET", "/compare?stream=cam1", http.StatusOK, "text/html", "<title>compare"},
		{"publish page", "GET", "/publish/cam1", http.StatusOK, "text/html", "<title>publish"},
		{"publish needs a stream", "GET", "/publish/", http.StatusNotFound, "", ""},
		{"nothing below a published stream", "GET", "/publish/cam1/x", http.StatusNotFound, "", ""},
		{"read only publish page", "POST", "/publish/cam1", http.StatusMethodNotAllowed, "", ""},
		{"script", "GET", "/play.js", http.StatusOK, "javascript", ""},
		{"style", "GET", "/player.css", http.StatusOK, "text/css", ""},
		{"hls.js when present", "GET", "/vendor/hls.min.js", http.StatusOK, "javascript", ""},
		{"stream list JSON", "GET", "/streams.json", http.StatusOK, "application/json", "[]"},
		{"play needs an id", "GET", "/play/", http.StatusNotFound, "", ""},
		{"nothing below a distribution", "GET", "/play/d_abc/extra", http.StatusNotFound, "", ""},
		{"watch needs a stream", "GET", "/watch/", http.StatusNotFound, "", ""},
		{"pages only by their routes", "GET", "/play.html", http.StatusNotFound, "", ""},
		{"unknown file", "GET", "/nope.js", http.StatusNotFound, "", ""},
		{"no directory listing", "GET", "/vendor/", http.StatusNotFound, "", ""},
		{"no escape: cleaned first", "GET", "/../../etc/passwd", http.StatusTemporaryRedirect, "", ""},
		{"no escape", "GET", "/etc/passwd", http.StatusNotFound, "", ""},
		{"read only", "POST", "/", http.StatusMethodNotAllowed, "", ""},
		{"read only player", "POST", "/play/d_abc", http.StatusMethodNotAllowed, "", ""},
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
			if tc.wantBody != "" && !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Fatalf("body %q, want it to contain %q", rec.Body.String(), tc.wantBody)
			}
		})
	}
}

// The side-by-side page used to live at /?stream=NAME; old links still work.
func TestOldCompareAddressRedirects(t *testing.T) {
	rec := get(t, newHandler(testFS(), Config{}), "GET", "/?stream=cam%201", nil)
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/compare?stream=cam+1" {
		t.Fatalf("GET /?stream=cam 1 = %d Location %q, want 302 to /compare?stream=cam+1", rec.Code, rec.Header().Get("Location"))
	}
}

func TestPagesCarryPolicies(t *testing.T) {
	h := newHandler(testFS(), Config{})
	for _, target := range []string{"/", "/play/d_1", "/compare", "/publish/cam1"} {
		rec := get(t, h, "GET", target, nil)
		csp := rec.Header().Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors *") {
			t.Errorf("GET %s: Content-Security-Policy %q, want scripts from the gateway only and embeddable", target, csp)
		}
		if rec.Header().Get("X-Frame-Options") != "" {
			t.Errorf("GET %s sets X-Frame-Options: the player must embed in an iframe", target)
		}
	}
}

func TestStreamList(t *testing.T) {
	h := newHandler(testFS(), Config{Streams: fakeStreams{
		{Name: "zeta", Live: true},
		{Name: "alpha", Live: false, Distribution: "d_1"},
	}})
	rec := get(t, h, "GET", "/streams.json", nil)
	if rec.Code != http.StatusOK || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /streams.json = %d, Cache-Control %q; want 200 no-store", rec.Code, rec.Header().Get("Cache-Control"))
	}
	var got []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := `[{"distribution":"d_1","live":false,"name":"alpha"},{"live":true,"name":"zeta"}]`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Fatalf("stream list %s, want %s (sorted by name)", b, want)
	}
}

func TestHandlerRevalidates(t *testing.T) {
	h := newHandler(testFS(), Config{})
	first := get(t, h, "GET", "/play.js", nil)
	etag := first.Header().Get("ETag")
	if etag == "" || first.Header().Get("Cache-Control") != "no-cache" {
		t.Fatalf("ETag %q, Cache-Control %q: want an ETag and no-cache", etag, first.Header().Get("Cache-Control"))
	}
	if rec := get(t, h, "GET", "/play.js", http.Header{"If-None-Match": {etag}}); rec.Code != http.StatusNotModified {
		t.Fatalf("revalidation status %d, want 304", rec.Code)
	}
}

// The embedded pages reference files that exist, by absolute path (the
// player runs at /play/{id}, so relative paths would miss).
func TestEmbeddedPages(t *testing.T) {
	h := Handler(Config{})
	pages := map[string][]string{
		"/":                {"/list.js", "/player.css"},
		"/play/d_x":        {"/clock.js", "/play.js", "/player.css", "/vendor/hls.min.js"},
		"/watch/demo":      {"/clock.js", "/play.js"},
		"/compare?stream=": {"/compare.js", "/player.css"},
		"/publish/cam1":    {"/publish.js", "/player.css"},
	}
	for target, refs := range pages {
		rec := get(t, h, "GET", target, nil)
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			t.Fatalf("GET %s = %d %q, want 200 text/html", target, rec.Code, rec.Header().Get("Content-Type"))
		}
		for _, ref := range refs {
			if !strings.Contains(rec.Body.String(), `"`+ref+`"`) {
				t.Errorf("GET %s does not reference %s", target, ref)
			}
			if ref == "/vendor/hls.min.js" {
				continue // checked below, once built
			}
			if r := get(t, h, "GET", ref, nil); r.Code != http.StatusOK {
				t.Errorf("GET %s = %d, want 200", ref, r.Code)
			}
		}
	}
	if _, err := fs.Stat(FS(), "vendor/hls.min.js"); err != nil {
		t.Skip("hls.js not vendored (run player/build.sh): skipping the embedded copy")
	}
	if rec := get(t, h, "GET", "/vendor/hls.min.js", nil); rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "javascript") {
		t.Fatalf("GET /vendor/hls.min.js = %d %q, want 200 javascript", rec.Code, rec.Header().Get("Content-Type"))
	}
}

// The pages must work offline and behind any proxy: nothing from other hosts.
func TestEmbeddedPagesAreSameOrigin(t *testing.T) {
	err := fs.WalkDir(FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(name, "vendor/") {
			return err
		}
		data, err := fs.ReadFile(FS(), name)
		if err != nil {
			return err
		}
		for _, scheme := range []string{"http://", "https://", "//cdn", "@import"} {
			if strings.Contains(string(data), scheme) {
				t.Errorf("%s mentions %q: load everything from the gateway", name, scheme)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
