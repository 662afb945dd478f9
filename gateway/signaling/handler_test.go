package signaling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

const waitTimeout = 5 * time.Second

const testOffer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
const testAnswer = "v=0\r\no=- 9 2 IN IP4 127.0.0.1\r\ns=frontrow\r\nt=0 0\r\n"

// fakeSession is a Session that records what the handler does to it. Like
// the real ones, Close also closes Done.
type fakeSession struct {
	ufrag string

	mu         sync.Mutex
	candidates []webrtc.ICECandidateInit

	closes   atomic.Int32
	closed   chan struct{} // closed by the first Close
	done     chan struct{}
	doneOnce sync.Once
}

func newFakeSession(ufrag string) *fakeSession {
	return &fakeSession{ufrag: ufrag, closed: make(chan struct{}), done: make(chan struct{})}
}

func (s *fakeSession) AddICECandidate(c webrtc.ICECandidateInit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.candidates = append(s.candidates, c)
	if strings.Contains(c.Candidate, "unusable") {
		return errors.New("unusable candidate")
	}
	return nil
}

func (s *fakeSession) Close() error {
	if s.closes.Add(1) == 1 {
		close(s.closed)
	}
	s.end()
	return nil
}

func (s *fakeSession) RemoteICEUfrag() string { return s.ufrag }
func (s *fakeSession) Done() <-chan struct{}  { return s.done }

// end is the session ending by itself (ICE failure, stream over).
func (s *fakeSession) end() { s.doneOnce.Do(func() { close(s.done) }) }

func (s *fakeSession) added() []webrtc.ICECandidateInit {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]webrtc.ICECandidateInit(nil), s.candidates...)
}

// fakeStarter hands out fake sessions, or fails with err.
type fakeStarter struct {
	err error

	mu       sync.Mutex
	requests []StartRequest
	sessions []*fakeSession
}

func (f *fakeStarter) start(_ context.Context, req StartRequest) (Session, []byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, req)
	if f.err != nil {
		return nil, nil, f.err
	}
	s := newFakeSession("EsAw")
	f.sessions = append(f.sessions, s)
	return s, []byte(testAnswer), nil
}

func (f *fakeStarter) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func (f *fakeStarter) session(i int) *fakeSession {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessions[i]
}

func newTestHandler(t *testing.T, cfg Config) (*Handler, *fakeStarter) {
	t.Helper()
	st := &fakeStarter{}
	if cfg.Name == "" {
		cfg.Name = "whip"
	}
	cfg.Start = st.start
	cfg.Logger = slog.New(slog.DiscardHandler)
	h := NewHandler(cfg)
	t.Cleanup(h.Close)
	return h, st
}

type req struct {
	method, path, contentType, body string
	header                          http.Header
}

func serve(h http.Handler, r req) *httptest.ResponseRecorder {
	hr := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	if r.contentType != "" {
		hr.Header.Set("Content-Type", r.contentType)
	}
	for k, vs := range r.header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, hr)
	return w
}

// post creates a session and returns its Location.
func post(t *testing.T, h http.Handler, stream string, header http.Header) string {
	t.Helper()
	w := serve(h, req{method: http.MethodPost, path: "/whip/" + stream, contentType: "application/sdp", body: testOffer, header: header})
	if w.Code != http.StatusCreated {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	return w.Header().Get("Location")
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
	}
}

// RFC 9725 section 4.2: 201 with the answer, the session URL, and (section
// 4.6) the ICE servers as Link headers.
func TestPostCreatesSession(t *testing.T) {
	h, st := newTestHandler(t, Config{ICEServers: []webrtc.ICEServer{
		{URLs: []string{"stun:stun.example.net"}},
		{URLs: []string{"turn:turn.example.net?transport=udp"}, Username: "user", Credential: "myPassword"},
	}})
	w := serve(h, req{method: http.MethodPost, path: "/whip/live", contentType: "application/sdp", body: testOffer})
	if w.Code != http.StatusCreated {
		t.Fatalf("status %d %s, want 201", w.Code, w.Body)
	}
	hd := w.Header()
	if ct := hd.Get("Content-Type"); ct != "application/sdp" {
		t.Errorf("Content-Type %q", ct)
	}
	if loc := hd.Get("Location"); !regexp.MustCompile(`^/whip/live/[0-9a-f]{32}$`).MatchString(loc) {
		t.Errorf("Location %q, want /whip/live/<32 hex digits>", loc)
	}
	if ap := hd.Get("Accept-Patch"); ap != "application/trickle-ice-sdpfrag" {
		t.Errorf("Accept-Patch %q", ap)
	}
	wantLinks := []string{
		`<stun:stun.example.net>; rel="ice-server"`,
		`<turn:turn.example.net?transport=udp>; rel="ice-server"; username="user"; credential="myPassword"; credential-type="password"`,
	}
	if got := hd.Values("Link"); strings.Join(got, "\n") != strings.Join(wantLinks, "\n") {
		t.Errorf("Link headers\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantLinks, "\n"))
	}
	// A browser page on another origin reads the Location, ETag and Link
	// (ICE servers) of the answer, and sends Authorization, Content-Type
	// and If-Match (specs/whip-whep.md).
	listed := func(header string) map[string]bool {
		out := map[string]bool{}
		for _, v := range strings.Split(hd.Get(header), ",") {
			out[strings.ToLower(strings.TrimSpace(v))] = true
		}
		return out
	}
	expose, allow := listed("Access-Control-Expose-Headers"), listed("Access-Control-Allow-Headers")
	for _, h := range []string{"location", "etag", "link"} {
		if !expose[h] {
			t.Errorf("Access-Control-Expose-Headers %q lacks %s", hd.Get("Access-Control-Expose-Headers"), h)
		}
	}
	for _, h := range []string{"authorization", "content-type", "if-match"} {
		if !allow[h] {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", hd.Get("Access-Control-Allow-Headers"), h)
		}
	}
	if hd.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("Access-Control-Allow-Origin %q, want *", hd.Get("Access-Control-Allow-Origin"))
	}
	if w.Body.String() != testAnswer {
		t.Errorf("body %q, want the answer", w.Body)
	}
	if st.calls() != 1 {
		t.Fatalf("Starter called %d times", st.calls())
	}
	if r := st.requests[0]; r.Stream != "live" || string(r.Offer) != testOffer || r.Remote == "" {
		t.Errorf("StartRequest %+v", r)
	}
	if h.Sessions() != 1 {
		t.Errorf("Sessions() = %d, want 1", h.Sessions())
	}
	// Two POSTs get two distinct sessions.
	if a, b := post(t, h, "live", nil), post(t, h, "live", nil); a == b {
		t.Errorf("two sessions share Location %q", a)
	}
}

func TestPostContentType(t *testing.T) {
	tests := []struct {
		contentType string
		want        int
	}{
		{"application/sdp", http.StatusCreated},
		{"Application/SDP", http.StatusCreated},
		{"application/sdp; charset=utf-8", http.StatusCreated},
		{"", http.StatusUnsupportedMediaType},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"application/json", http.StatusUnsupportedMediaType},
		{"application/trickle-ice-sdpfrag", http.StatusUnsupportedMediaType},
		{"application/sdp;;", http.StatusUnsupportedMediaType},
	}
	for _, tc := range tests {
		t.Run(tc.contentType, func(t *testing.T) {
			h, st := newTestHandler(t, Config{})
			w := serve(h, req{method: http.MethodPost, path: "/whip/live", contentType: tc.contentType, body: testOffer})
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if tc.want != http.StatusCreated && st.calls() != 0 {
				t.Fatal("Starter called for a refused request")
			}
		})
	}
}

func TestPostBodyLimit(t *testing.T) {
	const limit = 1000
	tests := []struct {
		name    string
		size    int
		chunked bool // no Content-Length: the limit applies while reading
		want    int
	}{
		{"at the limit", limit, false, http.StatusCreated},
		{"over the limit", limit + 1, false, http.StatusRequestEntityTooLarge},
		{"far over the limit", 100 * limit, false, http.StatusRequestEntityTooLarge},
		{"chunked at the limit", limit, true, http.StatusCreated},
		{"chunked over the limit", limit + 1, true, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, st := newTestHandler(t, Config{MaxBody: limit})
			r := httptest.NewRequest(http.MethodPost, "/whip/live", strings.NewReader(strings.Repeat("a", tc.size)))
			r.Header.Set("Content-Type", "application/sdp")
			if tc.chunked {
				r.ContentLength = -1
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if tc.want != http.StatusCreated && st.calls() != 0 {
				t.Fatal("Starter called for an oversized offer")
			}
		})
	}
}

// RFC 9725 section 4.5: Bearer tokens on POST, PATCH and DELETE; 401 with
// WWW-Authenticate otherwise. OPTIONS (CORS preflight) needs none.
func TestAuth(t *testing.T) {
	h, st := newTestHandler(t, Config{Token: func(string) string { return "s3cret" }})
	good := http.Header{"Authorization": {"Bearer s3cret"}}
	loc := post(t, h, "live", good)
	tests := []struct {
		name   string
		r      req
		auth   string
		want   int
		wwwAut bool
	}{
		{"POST without token", req{method: http.MethodPost, path: "/whip/live", contentType: "application/sdp", body: testOffer}, "", http.StatusUnauthorized, true},
		{"POST with wrong token", req{method: http.MethodPost, path: "/whip/live", contentType: "application/sdp", body: testOffer}, "Bearer nope", http.StatusUnauthorized, true},
		{"POST with a prefix of the token", req{method: http.MethodPost, path: "/whip/live", contentType: "application/sdp", body: testOffer}, "Bearer s3cre", http.StatusUnauthorized, true},
		{"POST with Basic", req{method: http.MethodPost, path: "/whip/live", contentType: "application/sdp", body: testOffer}, "Basic czNjcmV0", http.StatusUnauthorized, true},
		{"POST with the token", req{method: http.MethodPost, path: "/whip/live", contentType: "application/sdp", body: testOffer}, "Bearer s3cret", http.StatusCreated, false},
		{"PATCH without token", req{method: http.MethodPatch, path: loc, contentType: "application/trickle-ice-sdpfrag", body: trickleFrag}, "", http.StatusUnauthorized, true},
		{"DELETE without token", req{method: http.MethodDelete, path: loc}, "", http.StatusUnauthorized, true},
		{"DELETE of an unknown session without token", req{method: http.MethodDelete, path: "/whip/live/0123"}, "", http.StatusUnauthorized, true},
		{"OPTIONS on the endpoint without token", req{method: http.MethodOptions, path: "/whip/live"}, "", http.StatusNoContent, false},
		{"OPTIONS on a session without token", req{method: http.MethodOptions, path: loc}, "", http.StatusNoContent, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := st.calls()
			r := tc.r
			if tc.auth != "" {
				r.header = http.Header{"Authorization": {tc.auth}}
			}
			w := serve(h, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if got := w.Header().Get("WWW-Authenticate"); tc.wwwAut != strings.HasPrefix(got, "Bearer") {
				t.Fatalf("WWW-Authenticate %q", got)
			}
			if w.Code == http.StatusUnauthorized && st.calls() != calls {
				t.Fatal("Starter called without a valid token")
			}
		})
	}
	if n := st.session(0).closes.Load(); n != 0 {
		t.Fatalf("an unauthorized DELETE closed the session (%d closes)", n)
	}
}

func TestRouting(t *testing.T) {
	h, _ := newTestHandler(t, Config{})
	loc := post(t, h, "live", nil)
	id := loc[strings.LastIndex(loc, "/")+1:]
	frag := "application/trickle-ice-sdpfrag"
	tests := []struct {
		name      string
		r         req
		want      int
		wantAllow string
	}{
		{"GET on the endpoint", req{method: http.MethodGet, path: "/whip/live"}, http.StatusMethodNotAllowed, "POST, OPTIONS"},
		{"PUT on the endpoint", req{method: http.MethodPut, path: "/whip/live", contentType: "application/sdp", body: testOffer}, http.StatusMethodNotAllowed, "POST, OPTIONS"},
		{"DELETE on the endpoint", req{method: http.MethodDelete, path: "/whip/live"}, http.StatusMethodNotAllowed, "POST, OPTIONS"},
		{"GET on a session", req{method: http.MethodGet, path: loc}, http.StatusMethodNotAllowed, "PATCH, DELETE, OPTIONS"},
		{"POST on a session", req{method: http.MethodPost, path: loc, contentType: "application/sdp", body: testOffer}, http.StatusMethodNotAllowed, "PATCH, DELETE, OPTIONS"},
		{"other prefix", req{method: http.MethodPost, path: "/whep/live", contentType: "application/sdp", body: testOffer}, http.StatusNotFound, ""},
		{"prefix without slash", req{method: http.MethodPost, path: "/whip", contentType: "application/sdp", body: testOffer}, http.StatusNotFound, ""},
		{"no stream", req{method: http.MethodPost, path: "/whip/", contentType: "application/sdp", body: testOffer}, http.StatusNotFound, ""},
		{"empty session id", req{method: http.MethodDelete, path: "/whip/live/"}, http.StatusNotFound, ""},
		{"too deep", req{method: http.MethodDelete, path: loc + "/x"}, http.StatusNotFound, ""},
		{"unknown session", req{method: http.MethodDelete, path: "/whip/live/00000000000000000000000000000000"}, http.StatusNotFound, ""},
		{"session under another stream", req{method: http.MethodDelete, path: "/whip/other/" + id}, http.StatusNotFound, ""},
		{"PATCH unknown session", req{method: http.MethodPatch, path: "/whip/live/nope", contentType: frag, body: trickleFrag}, http.StatusNotFound, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, tc.r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if got := w.Header().Get("Allow"); got != tc.wantAllow {
				t.Fatalf("Allow %q, want %q", got, tc.wantAllow)
			}
		})
	}
	if h.Sessions() != 1 {
		t.Fatalf("Sessions() = %d, want the one session untouched", h.Sessions())
	}
	w := serve(h, req{method: http.MethodOptions, path: "/whip/live"})
	if w.Code != http.StatusNoContent || w.Header().Get("Accept-Post") != "application/sdp" {
		t.Fatalf("OPTIONS: %d, Accept-Post %q", w.Code, w.Header().Get("Accept-Post"))
	}
}

// statusErr is a StatusError that is not a Refusal.
type statusErr struct{ status int }

func (e statusErr) Error() string   { return fmt.Sprintf("status %d", e.status) }
func (e statusErr) HTTPStatus() int { return e.status }

func TestStarterErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		want       int
		retryAfter string
		bodyHas    string
		bodyHasnt  string
	}{
		{"refusal with Retry-After", &Refusal{Status: http.StatusConflict, Msg: "stream live is not live", Retry: 5},
			http.StatusConflict, "5", "stream live is not live", ""},
		{"overload", &Refusal{Status: http.StatusServiceUnavailable, Msg: "too many viewers", Retry: 30},
			http.StatusServiceUnavailable, "30", "too many viewers", ""},
		{"refusal without Retry-After", &Refusal{Status: http.StatusNotAcceptable, Msg: "offer's video lacks H264"},
			http.StatusNotAcceptable, "", "lacks H264", ""},
		{"wrapped refusal", fmt.Errorf("whip: %w", &Refusal{Status: http.StatusConflict, Msg: "busy", Retry: 2}),
			http.StatusConflict, "2", "busy", ""},
		{"another StatusError", statusErr{http.StatusBadRequest}, http.StatusBadRequest, "", "status 400", ""},
		{"plain error", errors.New("dial tcp 10.0.0.7:5432: connection refused"),
			http.StatusInternalServerError, "", "could not start", "10.0.0.7"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, st := newTestHandler(t, Config{})
			st.err = tc.err
			w := serve(h, req{method: http.MethodPost, path: "/whip/live", contentType: "application/sdp", body: testOffer})
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			if got := w.Header().Get("Retry-After"); got != tc.retryAfter {
				t.Fatalf("Retry-After %q, want %q", got, tc.retryAfter)
			}
			body := w.Body.String()
			if !strings.Contains(body, tc.bodyHas) || (tc.bodyHasnt != "" && strings.Contains(body, tc.bodyHasnt)) {
				t.Fatalf("body %q: want it to contain %q and not %q", body, tc.bodyHas, tc.bodyHasnt)
			}
			if w.Header().Get("Location") != "" || h.Sessions() != 0 {
				t.Fatal("a refused POST created a session")
			}
		})
	}
}

func TestDelete(t *testing.T) {
	h, st := newTestHandler(t, Config{})
	loc := post(t, h, "live", nil)
	post(t, h, "live", nil) // another session, untouched
	if w := serve(h, req{method: http.MethodDelete, path: loc}); w.Code != http.StatusOK {
		t.Fatalf("DELETE: %d", w.Code)
	}
	sess := st.session(0)
	// Resources are freed at once: Close ran before the 200.
	if n := sess.closes.Load(); n != 1 {
		t.Fatalf("session closed %d times, want 1", n)
	}
	for _, m := range []string{http.MethodDelete, http.MethodPatch} {
		w := serve(h, req{method: m, path: loc, contentType: "application/trickle-ice-sdpfrag", body: trickleFrag})
		if w.Code != http.StatusNotFound {
			t.Fatalf("%s after DELETE: %d, want 404", m, w.Code)
		}
	}
	if n := sess.closes.Load(); n != 1 {
		t.Fatalf("session closed %d times, want 1", n)
	}
	if h.Sessions() != 1 || st.session(1).closes.Load() != 0 {
		t.Fatal("DELETE touched another session")
	}
}

// RFC 9725 section 4.3.1: a PATCH with the session's ufrag (or none) is a
// trickle: 204, each candidate added with its mid.
func TestPatchTrickle(t *testing.T) {
	frag := "application/trickle-ice-sdpfrag"
	mid := func(s string) *string { return &s }
	tests := []struct {
		name string
		body string
		want []webrtc.ICECandidateInit
	}{
		{"RFC 8840 fragment", trickleFrag, []webrtc.ICECandidateInit{
			{Candidate: "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1", SDPMid: mid("0")},
			{Candidate: "candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2", SDPMid: mid("0")},
			{Candidate: "candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag EsAw network-id 1", SDPMid: mid("0")},
		}},
		{"no ufrag, two sections", "m=audio 9 RTP/AVP 0\r\na=mid:a\r\na=candidate:1 1 udp 1 192.0.2.1 1 typ host\r\n" +
			"m=video 9 RTP/AVP 0\r\na=mid:v\r\na=candidate:2 1 udp 1 192.0.2.1 2 typ host\r\n", []webrtc.ICECandidateInit{
			{Candidate: "candidate:1 1 udp 1 192.0.2.1 1 typ host", SDPMid: mid("a")},
			{Candidate: "candidate:2 1 udp 1 192.0.2.1 2 typ host", SDPMid: mid("v")},
		}},
		{"no mid", "a=candidate:1 1 udp 1 192.0.2.1 1 typ host\r\n", []webrtc.ICECandidateInit{
			{Candidate: "candidate:1 1 udp 1 192.0.2.1 1 typ host"},
		}},
		{"an unusable candidate is dropped silently", "a=candidate:unusable\r\na=candidate:2 1 udp 1 192.0.2.1 2 typ host\r\n", []webrtc.ICECandidateInit{
			{Candidate: "candidate:unusable"},
			{Candidate: "candidate:2 1 udp 1 192.0.2.1 2 typ host"},
		}},
		{"end-of-candidates only", "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\na=end-of-candidates\r\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, st := newTestHandler(t, Config{})
			loc := post(t, h, "live", nil)
			w := serve(h, req{method: http.MethodPatch, path: loc, contentType: frag, body: tc.body})
			if w.Code != http.StatusNoContent {
				t.Fatalf("status %d %s, want 204", w.Code, w.Body)
			}
			if w.Body.Len() != 0 || w.Header().Get("ETag") != "" {
				t.Fatalf("a trickle answer has a body %q or ETag %q", w.Body, w.Header().Get("ETag"))
			}
			got := st.session(0).added()
			if len(got) != len(tc.want) {
				t.Fatalf("%d candidates added, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Candidate != w.Candidate || (g.SDPMid == nil) != (w.SDPMid == nil) || (g.SDPMid != nil && *g.SDPMid != *w.SDPMid) {
					t.Errorf("candidate %d = %q mid %v, want %q mid %v", i, g.Candidate, ptr(g.SDPMid), w.Candidate, ptr(w.SDPMid))
				}
			}
		})
	}
}

func ptr(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// A session that takes no ICE restart (a WHIP publisher): a restart PATCH (new ufrag) gets the
// precondition statuses RFC 9725 section 4.3.2 orders, then 422, and the
// session keeps going.
func TestPatchRestartRefused(t *testing.T) {
	restart := "a=ice-ufrag:n3wU\r\na=ice-pwd:brandnewpassword01234567\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n" +
		"a=candidate:1 1 udp 1 192.0.2.1 1 typ host\r\n"
	tests := []struct {
		name   string
		header http.Header
		want   int
	}{
		{"no If-Match", nil, http.StatusPreconditionRequired},
		{"stale ETag", http.Header{"If-Match": {`"abc"`}}, http.StatusPreconditionFailed},
		{"If-Match star", http.Header{"If-Match": {"*"}}, http.StatusUnprocessableEntity},
		{"ETag request header, as Eyevinn's SDK sends it", http.Header{"Etag": {"*"}}, http.StatusUnprocessableEntity},
		{"stale ETag request header", http.Header{"Etag": {`"abc"`}}, http.StatusPreconditionFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, st := newTestHandler(t, Config{})
			loc := post(t, h, "live", nil)
			w := serve(h, req{method: http.MethodPatch, path: loc, contentType: "application/trickle-ice-sdpfrag", body: restart, header: tc.header})
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d", w.Code, tc.want)
			}
			sess := st.session(0)
			if n := len(sess.added()); n != 0 {
				t.Fatalf("%d candidates of a refused restart were added", n)
			}
			if sess.closes.Load() != 0 || h.Sessions() != 1 {
				t.Fatal("a refused restart ended the session")
			}
		})
	}
}

func TestPatchContentType(t *testing.T) {
	h, st := newTestHandler(t, Config{})
	loc := post(t, h, "live", nil)
	for _, ct := range []string{"", "application/sdp", "text/plain"} {
		w := serve(h, req{method: http.MethodPatch, path: loc, contentType: ct, body: trickleFrag})
		if w.Code != http.StatusUnsupportedMediaType {
			t.Fatalf("PATCH with Content-Type %q: %d, want 415", ct, w.Code)
		}
	}
	if n := len(st.session(0).added()); n != 0 {
		t.Fatalf("%d candidates added from refused PATCHes", n)
	}
}

// A session that ends by itself (ICE failure, stream over) is closed and
// forgotten: its URL answers 404.
func TestSessionEndingByItselfIsRemoved(t *testing.T) {
	h, st := newTestHandler(t, Config{})
	loc := post(t, h, "live", nil)
	keep := post(t, h, "live", nil)
	sess := st.session(0)
	sess.end()
	// The handler closes what ended, after forgetting it.
	waitClosed(t, sess.closed, "Close of the session that ended")
	if h.Sessions() != 1 {
		t.Fatalf("Sessions() = %d, want 1", h.Sessions())
	}
	if w := serve(h, req{method: http.MethodDelete, path: loc}); w.Code != http.StatusNotFound {
		t.Fatalf("DELETE of an ended session: %d, want 404", w.Code)
	}
	if w := serve(h, req{method: http.MethodDelete, path: keep}); w.Code != http.StatusOK {
		t.Fatalf("DELETE of the other session: %d, want 200", w.Code)
	}
	if n := sess.closes.Load(); n != 1 {
		t.Fatalf("ended session closed %d times, want 1", n)
	}
}

func TestHandlerClose(t *testing.T) {
	h, st := newTestHandler(t, Config{})
	for range 3 {
		post(t, h, "live", nil)
	}
	post(t, h, "other", nil)
	st.session(1).end() // one already ending by itself

	closed := make(chan struct{})
	go func() {
		h.Close()
		close(closed)
	}()
	waitClosed(t, closed, "Handler.Close to return")
	for i := range 4 {
		if n := st.session(i).closes.Load(); n != 1 {
			t.Errorf("session %d closed %d times, want 1", i, n)
		}
	}
	if h.Sessions() != 0 {
		t.Fatalf("Sessions() = %d after Close", h.Sessions())
	}
	// A POST racing shutdown gets its new session closed and a 503.
	w := serve(h, req{method: http.MethodPost, path: "/whip/live", contentType: "application/sdp", body: testOffer})
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("POST after Close: %d, want 503", w.Code)
	}
	if n := st.session(4).closes.Load(); n != 1 {
		t.Fatalf("session started after Close closed %d times, want 1", n)
	}
	h.Close() // idempotent
}

// RFC 9725 section 4.6 Link header values.
func TestLinkHeaders(t *testing.T) {
	tests := []struct {
		name    string
		servers []webrtc.ICEServer
		want    []string
	}{
		{"none", nil, nil},
		{"STUN", []webrtc.ICEServer{{URLs: []string{"stun:stun.example.net"}}},
			[]string{`<stun:stun.example.net>; rel="ice-server"`}},
		{"TURN with credentials (the RFC's example)", []webrtc.ICEServer{{
			URLs:     []string{"turn:turn.example.net?transport=udp"},
			Username: "user", Credential: "myPassword",
		}}, []string{`<turn:turn.example.net?transport=udp>; rel="ice-server"; username="user"; credential="myPassword"; credential-type="password"`}},
		{"one Link per URL, each with the credentials", []webrtc.ICEServer{{
			URLs:     []string{"turn:turn.example.net?transport=udp", "turns:turn.example.net:443?transport=tcp"},
			Username: "u", Credential: "p",
		}}, []string{
			`<turn:turn.example.net?transport=udp>; rel="ice-server"; username="u"; credential="p"; credential-type="password"`,
			`<turns:turn.example.net:443?transport=tcp>; rel="ice-server"; username="u"; credential="p"; credential-type="password"`,
		}},
		{"servers in order", []webrtc.ICEServer{
			{URLs: []string{"stun:a.example.net:3478"}},
			{URLs: []string{"stun:b.example.net:3478"}},
		}, []string{`<stun:a.example.net:3478>; rel="ice-server"`, `<stun:b.example.net:3478>; rel="ice-server"`}},
		{"quotes and backslashes are escaped (RFC 9110 quoted-string)", []webrtc.ICEServer{{
			URLs:     []string{"turn:t.example.net"},
			Username: `a"b`, Credential: `c\d`,
		}}, []string{`<turn:t.example.net>; rel="ice-server"; username="a\"b"; credential="c\\d"; credential-type="password"`}},
		{"a server without URLs yields nothing", []webrtc.ICEServer{{Username: "u", Credential: "p"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := linkHeaders(tc.servers)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") || len(got) != len(tc.want) {
				t.Fatalf("linkHeaders =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// An offer that arrives in pieces reaches the Starter whole.
func TestPostReadsWholeBody(t *testing.T) {
	h, st := newTestHandler(t, Config{})
	r := httptest.NewRequest(http.MethodPost, "/whip/live", io.MultiReader(strings.NewReader(testOffer[:5]), strings.NewReader(testOffer[5:])))
	r.Header.Set("Content-Type", "application/sdp")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusCreated || string(st.requests[0].Offer) != testOffer {
		t.Fatalf("status %d, offer %q", w.Code, st.requests[0].Offer)
	}
}

// Per-stream tokens: each stream's own token, "" for an open stream, and 403
// for a token that is right for another stream only (RFC 9725 section 4.5).
func TestAuthPerStream(t *testing.T) {
	tokens := map[string]string{"cam1": "one", "cam2": "two"}
	h, st := newTestHandler(t, Config{
		Token: func(stream string) string { return tokens[stream] },
		TokenElsewhere: func(tok string) bool {
			for _, v := range tokens {
				if TokenEqual(tok, v) {
					return true
				}
			}
			return false
		},
	})
	for _, tc := range []struct {
		stream, token string
		want          int
	}{
		{"cam1", "one", http.StatusCreated},
		{"cam2", "two", http.StatusCreated},
		{"cam1", "two", http.StatusForbidden},
		{"cam2", "one", http.StatusForbidden},
		{"cam1", "three", http.StatusUnauthorized},
		{"cam1", "", http.StatusUnauthorized},
		{"open", "", http.StatusCreated},
	} {
		calls := st.calls()
		r := req{method: http.MethodPost, path: "/whip/" + tc.stream, contentType: "application/sdp", body: testOffer}
		if tc.token != "" {
			r.header = http.Header{"Authorization": {"Bearer " + tc.token}}
		}
		w := serve(h, r)
		if w.Code != tc.want {
			t.Errorf("%s with token %q: status %d, want %d", tc.stream, tc.token, w.Code, tc.want)
		}
		if w.Code >= 400 && st.calls() != calls {
			t.Errorf("%s with token %q: Starter called on a refused request", tc.stream, tc.token)
		}
	}
	// A session of cam1 is deleted with cam1's token only.
	loc := post(t, h, "cam1", http.Header{"Authorization": {"Bearer one"}})
	w := serve(h, req{method: http.MethodDelete, path: loc, header: http.Header{"Authorization": {"Bearer two"}}})
	if w.Code != http.StatusForbidden {
		t.Fatalf("DELETE with another stream's token: status %d, want 403", w.Code)
	}
}

func TestTokenEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{{"s3cret", "s3cret", true}, {"s3cret", "s3cre", false}, {"", "x", false}, {"s3cret", "S3CRET", false}} {
		if got := TokenEqual(tc.a, tc.b); got != tc.want {
			t.Errorf("TokenEqual(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

// Admit runs before Start; a refusal keeps its status and Retry-After, and
// the release runs once when the session ends, or at once when Start fails.
func TestAdmit(t *testing.T) {
	var mu sync.Mutex
	held, releases := 0, 0
	admit := func(*http.Request, string) (func(), error) {
		mu.Lock()
		defer mu.Unlock()
		if held >= 1 {
			return nil, &Refusal{Status: http.StatusServiceUnavailable, Msg: "full", Retry: 7}
		}
		held++
		return func() {
			mu.Lock()
			defer mu.Unlock()
			held--
			releases++
		}, nil
	}
	h, st := newTestHandler(t, Config{Admit: admit})
	loc := post(t, h, "live", nil)
	w := serve(h, req{method: http.MethodPost, path: "/whip/live", contentType: "application/sdp", body: testOffer})
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "7" || !strings.Contains(w.Body.String(), "full") {
		t.Fatalf("over the limit: status %d, Retry-After %q, body %q; want 503, 7, the reason",
			w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
	if st.calls() != 1 {
		t.Fatalf("Starter called %d times, want 1: a refused request must not start a session", st.calls())
	}
	serve(h, req{method: http.MethodDelete, path: loc})
	mu.Lock()
	if held != 0 || releases != 1 {
		t.Fatalf("after DELETE: %d held, %d releases; want 0, 1", held, releases)
	}
	mu.Unlock()

	st.mu.Lock()
	st.err = &Refusal{Status: http.StatusConflict, Msg: "not live"}
	st.mu.Unlock()
	w = serve(h, req{method: http.MethodPost, path: "/whip/live", contentType: "application/sdp", body: testOffer})
	mu.Lock()
	defer mu.Unlock()
	if w.Code != http.StatusConflict || held != 0 || releases != 2 {
		t.Fatalf("Start failed: status %d, %d held, %d releases; want 409, 0, 2", w.Code, held, releases)
	}
}

// restartSession is a fakeSession that takes ICE restarts.
type restartSession struct {
	*fakeSession
	fail     error
	restarts []string // the client ufrags it was restarted with
}

func (s *restartSession) RestartICE(ufrag, pwd string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	s.restarts = append(s.restarts, ufrag+":"+pwd)
	s.ufrag = ufrag
	return []byte("a=ice-ufrag:srv" + ufrag + "\r\na=ice-pwd:serverpassword0123456789\r\n"), nil
}

// ICE restart (RFC 9725 section 4.4) on a session that takes it: the 201
// carries a strong ETag; a PATCH with new credentials and If-Match (the
// ETag or "*") gets 200, the server's fragment and a new ETag; the old
// ETag is stale then (412); without If-Match 428; a failed restart keeps
// the session and its ETag.
func TestPatchRestart(t *testing.T) {
	frag := func(ufrag string) string {
		return "a=ice-ufrag:" + ufrag + "\r\na=ice-pwd:brandnewpassword01234567\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\n"
	}
	st := &fakeStarter{}
	var sess *restartSession
	h := NewHandler(Config{Name: "whep", Logger: slog.New(slog.DiscardHandler), Start: func(ctx context.Context, r StartRequest) (Session, []byte, error) {
		s, answer, err := st.start(ctx, r)
		if err != nil {
			return nil, nil, err
		}
		sess = &restartSession{fakeSession: s.(*fakeSession)}
		return sess, answer, nil
	}})
	t.Cleanup(h.Close)
	w := serve(h, req{method: http.MethodPost, path: "/whep/live", contentType: "application/sdp", body: testOffer})
	if w.Code != http.StatusCreated {
		t.Fatalf("POST: %d %s", w.Code, w.Body)
	}
	loc, etag := w.Header().Get("Location"), w.Header().Get("ETag")
	if len(etag) < 10 || etag[0] != '"' || etag[len(etag)-1] != '"' {
		t.Fatalf("201 ETag %q, want a strong (quoted) unguessable tag", etag)
	}
	patch := func(ufrag string, h2 http.Header) *httptest.ResponseRecorder {
		return serve(h, req{method: http.MethodPatch, path: loc, contentType: "application/trickle-ice-sdpfrag", body: frag(ufrag), header: h2})
	}
	for _, step := range []struct {
		name   string
		ufrag  string
		header http.Header
		fail   error
		want   int
	}{
		{"no If-Match", "r1", nil, nil, http.StatusPreconditionRequired},
		{"stale ETag", "r1", http.Header{"If-Match": {`"stale"`}}, nil, http.StatusPreconditionFailed},
		{"the ETag", "r1", http.Header{"If-Match": {etag}}, nil, http.StatusOK},
		{"the first ETag is stale now", "r2", http.Header{"If-Match": {etag}}, nil, http.StatusPreconditionFailed},
		{"star", "r2", http.Header{"If-Match": {"*"}}, nil, http.StatusOK},
		{"restart fails", "r3", http.Header{"If-Match": {"*"}}, &Refusal{Status: http.StatusBadRequest, Msg: "no"}, http.StatusBadRequest},
		{"same ufrag is a trickle", "r2", nil, nil, http.StatusNoContent},
	} {
		sess.mu.Lock()
		sess.fail = step.fail
		sess.mu.Unlock()
		before := len(sess.restarts)
		w := patch(step.ufrag, step.header)
		if w.Code != step.want {
			t.Fatalf("%s: status %d (%s), want %d", step.name, w.Code, w.Body, step.want)
		}
		restarted := len(sess.restarts) > before
		if restarted != (step.want == http.StatusOK) {
			t.Fatalf("%s: restarted %v", step.name, restarted)
		}
		if step.want != http.StatusOK {
			continue
		}
		next := w.Header().Get("ETag")
		if next == "" || next == etag {
			t.Fatalf("%s: ETag %q after a restart, want a new one (was %q)", step.name, next, etag)
		}
		etag = next
		if ct := w.Header().Get("Content-Type"); ct != "application/trickle-ice-sdpfrag" {
			t.Errorf("%s: Content-Type %q", step.name, ct)
		}
		if !strings.Contains(w.Body.String(), "a=ice-ufrag:srv"+step.ufrag) {
			t.Errorf("%s: body %q lacks the server's new ufrag", step.name, w.Body)
		}
	}
	if sess.closes.Load() != 0 || h.Sessions() != 1 {
		t.Fatal("restarts ended the session")
	}
}
