package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
)

const adminToken = "s3cret-admin"

// fakeStreams is the StreamLister the lead implements over the registry.
type fakeStreams map[string]StreamStatus

func (f fakeStreams) Streams() []StreamStatus {
	var out []StreamStatus
	for _, s := range f {
		out = append(out, s)
	}
	return out
}

func (f fakeStreams) Stream(name string) (StreamStatus, bool) {
	s, ok := f[name]
	return s, ok
}

var liveStream = StreamStatus{
	Name: "live", Live: true, Publisher: PublisherRTMP,
	Video:   &VideoStatus{Codec: "avc1.64001f", Width: 1280, Height: 720, BFrames: true},
	Audio:   AudioStatus{WebRTC: "opus", HLS: "mp4a.40.2"},
	Viewers: ViewerCounts{WebRTC: 3, HLS: 40},
}

// apiServer mounts the handler the way the lead does, on a real listener.
func apiServer(t *testing.T, token string) (*httptest.Server, *Store) {
	t.Helper()
	s := openTestStore(t, t.TempDir())
	mux := http.NewServeMux()
	mux.Handle(Prefix, NewHandler(HandlerConfig{
		Store: s, Streams: fakeStreams{"live": liveStream}, AdminToken: token,
		Now: func() time.Time { return fixedNow }, Logger: slog.New(slog.DiscardHandler),
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, s
}

type call struct {
	method, path, body string
	contentType        string // default application/json when there is a body
	token              *string
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("body %q: %v", a.body, err)
	}
}

func do(t *testing.T, srv *httptest.Server, c call) answer {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	r, err := http.NewRequest(c.method, srv.URL+c.path, body)
	if err != nil {
		t.Fatal(err)
	}
	tok := adminToken
	if c.token != nil {
		tok = *c.token
	}
	if tok != "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	if c.contentType != "" {
		r.Header.Set("Content-Type", c.contentType)
	} else if c.body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusNoContent && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: Content-Type %q", c.method, c.path, resp.Header.Get("Content-Type"))
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s %s: Cache-Control %q", c.method, c.path, resp.Header.Get("Cache-Control"))
	}
	return answer{resp.StatusCode, resp.Header, b}
}

func ptr(s string) *string { return &s }

func TestAPIAuth(t *testing.T) {
	srv, _ := apiServer(t, adminToken)
	off, _ := apiServer(t, "")
	tests := []struct {
		name   string
		srv    *httptest.Server
		token  *string
		header string // raw Authorization, overrides token
		want   int
	}{
		{"no admin token configured", off, ptr(adminToken), "", 503},
		{"no token", srv, ptr(""), "", 401},
		{"other scheme", srv, nil, "Basic YWRtaW46cGFzcw==", 401},
		{"empty bearer", srv, nil, "Bearer ", 401},
		{"wrong token", srv, ptr("s3cret-admin2"), "", 403},
		{"prefix of the token", srv, ptr("s3cret"), "", 403},
		{"right token", srv, nil, "", 200},
		{"scheme is case-insensitive", srv, nil, "bearer " + adminToken, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := http.NewRequest(http.MethodGet, tc.srv.URL+Prefix+"streams", nil)
			switch {
			case tc.header != "":
				r.Header.Set("Authorization", tc.header)
			case tc.token == nil:
				r.Header.Set("Authorization", "Bearer "+adminToken)
			case *tc.token != "":
				r.Header.Set("Authorization", "Bearer "+*tc.token)
			}
			resp, err := tc.srv.Client().Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body errorBody
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body.Error, tc.want)
			}
			if tc.want == 401 && resp.Header.Get("WWW-Authenticate") != adminRealm {
				t.Errorf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tc.want >= 400 && body.Error == "" {
				t.Error("error answer without a message")
			}
		})
	}
	// An unauthenticated caller cannot tell real routes from others.
	if a := do(t, srv, call{method: "GET", path: Prefix + "nothing", token: ptr("")}); a.status != 401 {
		t.Errorf("unknown path without token: %d", a.status)
	}
}

func TestAPICRUD(t *testing.T) {
	srv, store := apiServer(t, adminToken)
	a := do(t, srv, call{method: "POST", path: Prefix + "streams/live/distributions",
		body: `{"name":"main","webRtc":{"priority":0},"security":{"allowedReferrers":["Example.com"]}}`})
	if a.status != http.StatusCreated {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	var created Distribution
	a.decode(t, &created)
	if loc := a.header.Get("Location"); loc != Prefix+"distributions/"+created.ID {
		t.Errorf("Location = %q", loc)
	}
	want := Distribution{ID: created.ID, Name: "main", Stream: "live",
		Security: Security{AllowedIPs: []string{}, BlockedIPs: []string{}, AllowedReferrers: []string{"example.com"}},
		WebRTC:   &WebRTC{Priority: 0}, HLS: HLS{Priority: 1}}
	if !reflect.DeepEqual(created, want) {
		t.Fatalf("created %+v\nwant %+v", created, want)
	}
	// The wire form uses the field names.
	var raw map[string]any
	a.decode(t, &raw)
	for _, k := range []string{"id", "name", "stream", "security", "webRtc", "hls"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("created JSON lacks %q: %s", k, a.body)
		}
	}

	var got Distribution
	a = do(t, srv, call{method: "GET", path: Prefix + "distributions/" + created.ID})
	if a.decode(t, &got); a.status != 200 || !reflect.DeepEqual(got, want) {
		t.Fatalf("get: %d %+v", a.status, got)
	}
	do(t, srv, call{method: "POST", path: Prefix + "streams/live/distributions", body: `{"name":"second"}`})
	do(t, srv, call{method: "POST", path: Prefix + "streams/other/distributions", body: `{"name":"elsewhere"}`})
	var list struct{ Distributions []Distribution }
	a = do(t, srv, call{method: "GET", path: Prefix + "streams/live/distributions"})
	if a.decode(t, &list); len(list.Distributions) != 2 || list.Distributions[0].Name != "main" {
		t.Fatalf("list: %s", a.body)
	}

	patches := []struct {
		name, body  string
		contentType string
		check       func(Distribution) bool
	}{
		{"rename keeps the rest", `{"name":"renamed"}`, "",
			func(d Distribution) bool {
				return d.Name == "renamed" && d.WebRTC != nil && d.Security.AllowedReferrers[0] == "example.com"
			}},
		{"nested merge keeps siblings", `{"webRtc":{"src":{"apiUrl":"https://cdn.example.com/whep/x"}}}`, "application/merge-patch+json",
			func(d Distribution) bool {
				return d.WebRTC.Priority == 0 && d.WebRTC.Src.APIURL == "https://cdn.example.com/whep/x"
			}},
		{"null removes src only", `{"webRtc":{"src":null,"priority":2}}`, "",
			func(d Distribution) bool { return d.WebRTC.Src == nil && d.WebRTC.Priority == 2 }},
		{"arrays are replaced", `{"security":{"allowedIPs":["10.0.0.0/8"],"allowedReferrers":[]}}`, "",
			func(d Distribution) bool {
				return reflect.DeepEqual(d.Security.AllowedIPs, []string{"10.0.0.0/8"}) && len(d.Security.AllowedReferrers) == 0
			}},
		{"webRtc null removes WebRTC", `{"webRtc":null}`, "",
			func(d Distribution) bool { return d.WebRTC == nil && d.Name == "renamed" }},
		{"hls null is the default", `{"hls":{"priority":5}}`, "", func(d Distribution) bool { return d.HLS.Priority == 5 }},
		{"", `{"hls":null}`, "", func(d Distribution) bool { return d.HLS.Priority == 1 }},
		{"empty patch changes nothing", `{}`, "", func(d Distribution) bool { return d.Name == "renamed" }},
		{"same id and stream are fine", `{"id":"` + created.ID + `","stream":"live"}`, "", func(d Distribution) bool { return true }},
	}
	for _, p := range patches {
		a := do(t, srv, call{method: "PATCH", path: Prefix + "distributions/" + created.ID, body: p.body, contentType: p.contentType})
		var d Distribution
		if a.decode(t, &d); a.status != 200 || !p.check(d) {
			t.Fatalf("patch %s %s: %d %s", p.name, p.body, a.status, a.body)
		}
		if stored, _ := store.Get(created.ID); !reflect.DeepEqual(stored, d) {
			t.Fatalf("patch %s: answered %+v, stored %+v", p.name, d, stored)
		}
	}
	badPatches := []struct{ body, field string }{
		{`{"webRtc":{"priority":-1}}`, "webRtc.priority"},
		{`{"name":null}`, "name"},
		{`{"id":"AAAAAAAAAAAAAAAAAAAAAA"}`, "id"},
		{`{"stream":"other"}`, "stream"},
		{`{"security":{"blockedIPs":["nope"]}}`, "security.blockedIPs[0]"},
		{`{"webRtc":{"srcs":{}}}`, "webRtc.srcs"},
	}
	before, _ := store.Get(created.ID)
	for _, p := range badPatches {
		a := do(t, srv, call{method: "PATCH", path: Prefix + "distributions/" + created.ID, body: p.body})
		var e errorBody
		if a.decode(t, &e); a.status != 400 || e.Field != p.field || !strings.HasPrefix(e.Error, p.field+" ") {
			t.Errorf("patch %s: %d %s, want 400 naming %s", p.body, a.status, a.body, p.field)
		}
	}
	if after, _ := store.Get(created.ID); !reflect.DeepEqual(after, before) {
		t.Errorf("refused patches changed the distribution")
	}

	if a := do(t, srv, call{method: "DELETE", path: Prefix + "distributions/" + created.ID}); a.status != 204 || len(a.body) != 0 {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	for _, c := range []call{
		{method: "GET", path: Prefix + "distributions/" + created.ID},
		{method: "DELETE", path: Prefix + "distributions/" + created.ID},
		{method: "PATCH", path: Prefix + "distributions/" + created.ID, body: `{}`},
		{method: "POST", path: Prefix + "distributions/" + created.ID + "/tokens"},
	} {
		if a := do(t, srv, c); a.status != 404 {
			t.Errorf("%s after delete: %d", c.method, a.status)
		}
	}
}

func TestAPIClientMistakes(t *testing.T) {
	srv, store := apiServer(t, adminToken)
	d := mustCreate(t, store, sample("live", "a"))
	big := `{"name":"` + strings.Repeat("a", maxBody) + `"}`
	tests := []struct {
		name  string
		c     call
		want  int
		field string
	}{
		{"no content type", call{method: "POST", path: Prefix + "streams/live/distributions", body: `{"name":"a"}`, contentType: "-"}, 415, ""},
		{"text content type", call{method: "POST", path: Prefix + "streams/live/distributions", body: `{"name":"a"}`, contentType: "text/plain"}, 415, ""},
		{"json with charset", call{method: "POST", path: Prefix + "streams/live/distributions", body: `{"name":"a"}`, contentType: "application/json; charset=utf-8"}, 201, ""},
		{"too large", call{method: "POST", path: Prefix + "streams/live/distributions", body: big}, 413, ""},
		{"patch too large", call{method: "PATCH", path: Prefix + "distributions/" + d.ID, body: big}, 413, ""},
		{"not json", call{method: "POST", path: Prefix + "streams/live/distributions", body: `name=a`}, 400, ""},
		{"unknown field", call{method: "POST", path: Prefix + "streams/live/distributions", body: `{"name":"a","tokn":1}`}, 400, "tokn"},
		{"validation", call{method: "POST", path: Prefix + "streams/live/distributions", body: `{"name":"a","hls":{"priority":-1}}`}, 400, "hls.priority"},
		{"bad stream name", call{method: "POST", path: Prefix + "streams/a%20b/distributions", body: `{"name":"a"}`}, 400, "stream"},
		{"bad stream name get", call{method: "GET", path: Prefix + "streams/a%2Fb"}, 400, "stream"},
		{"unknown id", call{method: "GET", path: Prefix + "distributions/AAAAAAAAAAAAAAAAAAAAAA"}, 404, ""},
		{"malformed id", call{method: "PATCH", path: Prefix + "distributions/x", body: `{}`}, 404, ""},
		{"method", call{method: "PUT", path: Prefix + "distributions/" + d.ID, body: `{}`}, 405, ""},
		{"unknown path", call{method: "GET", path: Prefix + "distribution"}, 404, ""},
		{"unknown stream", call{method: "GET", path: Prefix + "streams/ghost"}, 404, ""},
		{"ttl zero", call{method: "POST", path: Prefix + "distributions/" + d.ID + "/tokens", body: `{"ttlSeconds":0}`}, 400, "ttlSeconds"},
		{"ttl too long", call{method: "POST", path: Prefix + "distributions/" + d.ID + "/tokens", body: `{"ttlSeconds":604801}`}, 400, "ttlSeconds"},
		{"ttl type", call{method: "POST", path: Prefix + "distributions/" + d.ID + "/tokens", body: `{"ttlSeconds":"60"}`}, 400, "ttlSeconds"},
		{"ttl unknown field", call{method: "POST", path: Prefix + "distributions/" + d.ID + "/tokens", body: `{"ttl":60}`}, 400, "ttl"},
		{"token body content type", call{method: "POST", path: Prefix + "distributions/" + d.ID + "/tokens", body: `{}`, contentType: "text/plain"}, 415, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.c.contentType == "-" {
				tc.c.contentType = " " // a blank header: net/http keeps it, media type parsing fails
			}
			a := do(t, srv, tc.c)
			if a.status != tc.want {
				t.Fatalf("status %d (%s), want %d", a.status, a.body, tc.want)
			}
			if tc.want < 400 {
				return
			}
			var e errorBody
			a.decode(t, &e)
			if e.Error == "" || e.Field != tc.field {
				t.Errorf("body %s, want an error naming field %q", a.body, tc.field)
			}
			if tc.want == 405 && a.header.Get("Allow") != "DELETE, GET, PATCH" {
				t.Errorf("Allow = %q", a.header.Get("Allow"))
			}
		})
	}
}

func TestAPIStreams(t *testing.T) {
	srv, store := apiServer(t, adminToken)
	d := mustCreate(t, store, sample("live", "a"))
	later := mustCreate(t, store, sample("tonight", "b"))
	var list struct{ Streams []streamView }
	a := do(t, srv, call{method: "GET", path: Prefix + "streams"})
	a.decode(t, &list)
	want := []streamView{
		{StreamStatus: liveStream, Distributions: []string{d.ID}},
		{StreamStatus: StreamStatus{Name: "tonight"}, Distributions: []string{later.ID}},
	}
	if !reflect.DeepEqual(list.Streams, want) {
		t.Fatalf("streams:\n got %+v\nwant %+v", list.Streams, want)
	}
	var one streamView
	a = do(t, srv, call{method: "GET", path: Prefix + "streams/live"})
	if a.decode(t, &one); !reflect.DeepEqual(one, want[0]) {
		t.Errorf("stream live: %s", a.body)
	}
	for _, k := range []string{`"live":true`, `"publisher":"rtmp"`, `"bframes":true`, `"audio":{"webRtc":"opus","hls":"mp4a.40.2"}`, `"viewers":{"webRtc":3,"hls":40}`} {
		if !bytes.Contains(a.body, []byte(k)) {
			t.Errorf("stream JSON lacks %s: %s", k, a.body)
		}
	}
	a = do(t, srv, call{method: "GET", path: Prefix + "streams/tonight"})
	if a.decode(t, &one); a.status != 200 || one.Live || len(one.Distributions) != 1 {
		t.Errorf("stream tonight: %d %s", a.status, a.body)
	}
}

func TestAPITokens(t *testing.T) {
	srv, store := apiServer(t, adminToken)
	d := mustCreate(t, store, sample("live", "a"))
	tests := []struct {
		body string
		ttl  time.Duration
	}{
		{"", DefaultTokenTTL},
		{`{}`, DefaultTokenTTL},
		{`{"ttlSeconds":60}`, time.Minute},
		{`{"ttlSeconds":604800}`, MaxTokenTTL},
	}
	for _, tc := range tests {
		a := do(t, srv, call{method: "POST", path: Prefix + "distributions/" + d.ID + "/tokens", body: tc.body})
		var got tokenResponse
		if a.decode(t, &got); a.status != 200 || !got.ExpiresAt.Equal(fixedNow.Add(tc.ttl)) || got.Distribution != d.ID {
			t.Fatalf("mint %q: %d %s", tc.body, a.status, a.body)
		}
		if err := store.VerifyToken(got.Token, d.ID, fixedNow.Add(tc.ttl-time.Second)); err != nil {
			t.Errorf("minted token: %v", err)
		}
		if err := store.VerifyToken(got.Token, d.ID, fixedNow.Add(tc.ttl)); tokenReason(err) != TokenExpired {
			t.Errorf("minted token outlives its ttl: %v", err)
		}
	}
}
