package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

// authFixture is a store with one distribution per kind of rule.
type authFixture struct {
	s                            *Store
	open, ips, refs, tok, mapped Distribution
	token, expired, otherToken   string
}

func newAuthFixture(t *testing.T, proxies ...netip.Prefix) authFixture {
	t.Helper()
	s, err := Open(StoreConfig{Dir: t.TempDir(), TokenKey: testKey, TrustedProxies: proxies})
	if err != nil {
		t.Fatal(err)
	}
	f := authFixture{s: s}
	f.open = mustCreate(t, s, Distribution{Name: "open", Stream: "public", HLS: HLS{Priority: 1}})
	f.ips = mustCreate(t, s, Distribution{Name: "ips", Stream: "live", HLS: HLS{Priority: 1}, Security: Security{
		AllowedIPs: []string{"10.0.0.0/8", "2001:db8::/32"},
		BlockedIPs: []string{"10.9.0.0/16", "2001:db8:bad::/48", "10.1.2.99"},
	}})
	f.refs = mustCreate(t, s, Distribution{Name: "refs", Stream: "live", HLS: HLS{Priority: 1}, Security: Security{
		AllowedReferrers: []string{"example.com", "*.example.org"},
	}})
	f.tok = mustCreate(t, s, Distribution{Name: "tok", Stream: "live", HLS: HLS{Priority: 1}, Security: Security{TokenRequired: true}})
	f.mapped = mustCreate(t, s, Distribution{Name: "mapped", Stream: "live", HLS: HLS{Priority: 1}, Security: Security{
		AllowedIPs: []string{"::ffff:192.0.2.0/120"},
	}})
	if f.token, _, err = s.MintToken(f.tok.ID, time.Hour, fixedNow); err != nil {
		t.Fatal(err)
	}
	if f.expired, _, err = s.MintToken(f.tok.ID, time.Second, fixedNow.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if f.otherToken, _, err = s.MintToken(f.ips.ID, time.Hour, fixedNow); err != nil {
		t.Fatal(err)
	}
	return f
}

type req struct {
	remote  string
	headers map[string]string
	query   string
}

func (q req) build() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://gw.test:8080/hls/live/index.m3u8"+q.query, nil)
	r.RemoteAddr = q.remote
	if r.RemoteAddr == "" {
		r.RemoteAddr = "198.51.100.1:5000"
	}
	for k, v := range q.headers {
		r.Header.Set(k, v)
	}
	return r
}

func TestAuthorize(t *testing.T) {
	f := newAuthFixture(t)
	tests := []struct {
		name   string
		stream string
		id     string
		r      req
		status int    // 0: admitted
		code   string // refusal code
	}{
		// which distribution
		{"unknown distribution", "live", "AAAAAAAAAAAAAAAAAAAAAA", req{}, 404, CodeDistributionNotFound},
		{"distribution of another stream", "live", f.open.ID, req{}, 404, CodeDistributionNotFound},
		{"open stream without distribution", "public", "", req{}, 0, ""},
		{"stream without distributions", "nobody", "", req{}, 0, ""},
		{"restricted stream, no distribution, no token", "live", "", req{}, 401, CodeTokenMissing},
		{"restricted stream, no distribution, unreadable token", "live", "", req{query: "?token=garbage"}, 403, CodeDistributionRequired},
		{"open distribution", "public", f.open.ID, req{}, 0, ""},
		{"play page: stream from the distribution", "", f.ips.ID, req{remote: "10.1.2.3:1"}, 0, ""},
		{"play page: no distribution", "", "", req{}, 404, CodeDistributionNotFound},
		// IP rules, IPv4 and IPv6
		{"ipv4 allowed", "live", f.ips.ID, req{remote: "10.1.2.3:1"}, 0, ""},
		{"ipv4 blocked wins over allowed", "live", f.ips.ID, req{remote: "10.9.3.4:1"}, 403, CodeIPBlocked},
		{"ipv4 single blocked address", "live", f.ips.ID, req{remote: "10.1.2.99:1"}, 403, CodeIPBlocked},
		{"ipv4 outside allowed", "live", f.ips.ID, req{remote: "192.0.2.1:1"}, 403, CodeIPNotAllowed},
		{"ipv6 allowed", "live", f.ips.ID, req{remote: "[2001:db8::1]:443"}, 0, ""},
		{"ipv6 blocked wins", "live", f.ips.ID, req{remote: "[2001:db8:bad::7]:443"}, 403, CodeIPBlocked},
		{"ipv6 outside", "live", f.ips.ID, req{remote: "[2001:db9::1]:443"}, 403, CodeIPNotAllowed},
		{"ipv4-mapped client matches ipv4 rule", "live", f.ips.ID, req{remote: "[::ffff:10.1.2.3]:1"}, 0, ""},
		{"ipv4 client matches ipv4-mapped rule", "live", f.mapped.ID, req{remote: "192.0.2.200:1"}, 0, ""},
		{"zoned client address", "live", f.ips.ID, req{remote: "[2001:db8::1%eth0]:1"}, 0, ""},
		{"unparsable remote address", "live", f.ips.ID, req{remote: "pipe"}, 403, CodeIPUnknown},
		{"X-Forwarded-For ignored by default", "live", f.ips.ID,
			req{remote: "192.0.2.1:1", headers: map[string]string{"X-Forwarded-For": "10.1.2.3"}}, 403, CodeIPNotAllowed},
		// referrers
		{"referrer exact", "live", f.refs.ID, req{headers: map[string]string{"Referer": "https://example.com/watch"}}, 0, ""},
		{"referrer case and port", "live", f.refs.ID, req{headers: map[string]string{"Referer": "https://EXAMPLE.com:8443/x"}}, 0, ""},
		{"referrer subdomain of exact", "live", f.refs.ID, req{headers: map[string]string{"Referer": "https://www.example.com/"}}, 403, CodeReferrerNotAllowed},
		{"referrer wildcard", "live", f.refs.ID, req{headers: map[string]string{"Referer": "https://a.b.example.org/"}}, 0, ""},
		{"referrer wildcard excludes apex", "live", f.refs.ID, req{headers: map[string]string{"Referer": "https://example.org/"}}, 403, CodeReferrerNotAllowed},
		{"referrer lookalike", "live", f.refs.ID, req{headers: map[string]string{"Referer": "https://badexample.org/"}}, 403, CodeReferrerNotAllowed},
		{"referrer missing", "live", f.refs.ID, req{}, 403, CodeReferrerMissing},
		{"origin wins over referer", "live", f.refs.ID,
			req{headers: map[string]string{"Origin": "https://example.com", "Referer": "https://evil.test/"}}, 0, ""},
		{"origin not allowed", "live", f.refs.ID, req{headers: map[string]string{"Origin": "https://evil.test"}}, 403, CodeReferrerNotAllowed},
		{"null origin falls back to referer", "live", f.refs.ID,
			req{headers: map[string]string{"Origin": "null", "Referer": "https://example.com/"}}, 0, ""},
		{"bundled player on this gateway", "live", f.refs.ID,
			req{headers: map[string]string{"Referer": "http://gw.test:8080/play/x"}}, 0, ""},
		// tokens
		{"token missing", "live", f.tok.ID, req{}, 401, CodeTokenMissing},
		{"token in Authorization", "live", f.tok.ID, req{headers: map[string]string{"Authorization": "Bearer " + f.token}}, 0, ""},
		{"token in query", "live", f.tok.ID, req{query: "?token=" + f.token}, 0, ""},
		{"token names the distribution", "live", "", req{query: "?token=" + f.token}, 0, ""},
		{"token of another stream's distribution", "public", "", req{query: "?token=" + f.token}, 404, CodeDistributionNotFound},
		{"token expired", "live", f.tok.ID, req{query: "?token=" + f.expired}, 401, CodeTokenInvalid},
		{"token for another distribution", "live", f.tok.ID, req{query: "?token=" + f.otherToken}, 401, CodeTokenInvalid},
		{"token garbage", "live", f.tok.ID, req{query: "?token=garbage"}, 401, CodeTokenInvalid},
		{"garbage token cannot name a distribution", "live", "", req{query: "?token=garbage"}, 403, CodeDistributionRequired},
		{"token not needed is ignored", "public", f.open.ID, req{query: "?token=garbage"}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := f.s.Authorize(tc.r.build(), tc.stream, tc.id, fixedNow)
			switch {
			case tc.status == 0 && got != nil:
				t.Fatalf("refused: %v", got)
			case tc.status != 0 && got == nil:
				t.Fatalf("admitted, want %d %s", tc.status, tc.code)
			case got != nil && (got.Status != tc.status || got.Code != tc.code):
				t.Fatalf("got %v, want %d %s", got, tc.status, tc.code)
			case got != nil && (got.Status == 401) != (got.Challenge != ""):
				t.Fatalf("401 and WWW-Authenticate go together: %+v", got)
			}
		})
	}
}

func TestAuthorizeEmbed(t *testing.T) {
	f := newAuthFixture(t)
	tests := []struct {
		name   string
		id     string
		r      req
		status int
		code   string
	}{
		{"no referrer rule", f.open.ID, req{}, 0, ""},
		{"unknown distribution: the page says so", "AAAAAAAAAAAAAAAAAAAAAA", req{}, 0, ""},
		{"embedded on an allowed site", f.refs.ID, req{headers: map[string]string{"Referer": "https://example.com/event"}}, 0, ""},
		{"embedded elsewhere", f.refs.ID, req{headers: map[string]string{"Referer": "https://evil.test/"}}, 403, CodeReferrerNotAllowed},
		{"opened directly", f.refs.ID, req{}, 403, CodeReferrerMissing},
		{"no exemption for the gateway's own host", f.refs.ID, req{headers: map[string]string{"Referer": "http://gw.test:8080/"}}, 403, CodeReferrerNotAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := f.s.AuthorizeEmbed(tc.r.build(), tc.id)
			switch {
			case tc.status == 0 && got != nil:
				t.Fatalf("refused: %v", got)
			case tc.status != 0 && (got == nil || got.Status != tc.status || got.Code != tc.code):
				t.Fatalf("got %v, want %d %s", got, tc.status, tc.code)
			}
		})
	}
}

func TestClientIPTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:cd::/48")}
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct client", "198.51.100.7:1", []string{"10.0.0.1"}, "198.51.100.7"},
		{"one proxy", "192.0.2.1:1", []string{"203.0.113.5"}, "203.0.113.5"},
		{"client's own claims are left of the hop", "192.0.2.1:1", []string{"10.0.0.1, 203.0.113.5"}, "203.0.113.5"},
		{"chain of trusted proxies", "192.0.2.1:1", []string{"203.0.113.5, 192.0.2.9", "[2001:db8:cd::1]:80"}, "203.0.113.5"},
		{"only proxies", "192.0.2.1:1", []string{"192.0.2.2"}, "192.0.2.2"},
		{"no header", "192.0.2.1:1", nil, "192.0.2.1"},
		{"garbage hop keeps the last trusted", "192.0.2.1:1", []string{"203.0.113.5, junk"}, "192.0.2.1"},
		{"ipv6 hop", "[2001:db8:cd::2]:1", []string{"2001:db8:1::5"}, "2001:db8:1::5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got, ok := clientIP(r, trusted)
			if !ok || got.String() != tc.want {
				t.Errorf("clientIP = %v, %v; want %s", got, ok, tc.want)
			}
		})
	}
}

func TestAuthorizeBehindProxy(t *testing.T) {
	f := newAuthFixture(t, netip.MustParsePrefix("192.0.2.0/24"))
	for xff, want := range map[string]string{"10.1.2.3": "", "10.9.0.1": CodeIPBlocked, "203.0.113.1": CodeIPNotAllowed} {
		r := req{remote: "192.0.2.10:1", headers: map[string]string{"X-Forwarded-For": xff}}.build()
		got := f.s.Authorize(r, "live", f.ips.ID, fixedNow)
		if (got == nil) != (want == "") || (got != nil && got.Code != want) {
			t.Errorf("X-Forwarded-For %s: %v, want %q", xff, got, want)
		}
	}
}

func TestGuard(t *testing.T) {
	f := newAuthFixture(t)
	f.s.now = func() time.Time { return fixedNow }
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	mux := http.NewServeMux()
	mux.Handle("/hls/", f.s.Guard(HLSStream, next))
	mux.Handle("/whep/", f.s.Guard(WHEPStream, next))
	tests := []struct {
		method, target string
		headers        map[string]string
		want           int
	}{
		{"GET", "/hls/live/index.m3u8", nil, 401},
		{"HEAD", "/hls/live/video.m3u8?_HLS_msn=3", nil, 401},
		{"OPTIONS", "/hls/live/index.m3u8", nil, http.StatusTeapot},
		{"GET", "/hls/live/index.m3u8?distribution=" + f.tok.ID, nil, 401},
		{"GET", "/hls/live/part7.mp4?_HLS_msn=1&distribution=" + f.tok.ID + "&token=" + f.token, nil, http.StatusTeapot},
		{"GET", "/hls/live/part7.mp4?token=" + f.token, nil, http.StatusTeapot},
		{"GET", "/hls/public/index.m3u8", nil, http.StatusTeapot},
		{"POST", "/whep/live", nil, 401},
		{"POST", "/whep/live?distribution=" + f.tok.ID, map[string]string{"Authorization": "Bearer " + f.token}, http.StatusTeapot},
		{"POST", "/whep/live?distribution=" + f.tok.ID, map[string]string{"Authorization": "Bearer " + f.expired}, 401},
		// A session's PATCH and DELETE need what its POST needed.
		{"PATCH", "/whep/live/session", nil, 401},
		{"DELETE", "/whep/live/session", nil, 401},
		{"DELETE", "/whep/live/session", map[string]string{"Authorization": "Bearer " + f.token}, http.StatusTeapot},
		{"PATCH", "/whep/live/session?distribution=" + f.tok.ID + "&token=" + f.token, nil, http.StatusTeapot},
		{"DELETE", "/whep/live/session?token=" + f.expired, nil, 401},
		{"DELETE", "/whep/public/session", nil, http.StatusTeapot},
		{"OPTIONS", "/whep/live/session", nil, http.StatusTeapot},
		{"OPTIONS", "/whep/live", nil, http.StatusTeapot},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		for k, v := range tc.headers {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%s %s = %d, want %d (%s)", tc.method, tc.target, w.Code, tc.want, w.Body)
			continue
		}
		if w.Code == http.StatusTeapot {
			continue
		}
		h := w.Header()
		if h.Get("Cache-Control") != "no-store" || h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: refusal headers %v", tc.method, tc.target, h)
		}
		if w.Code == 401 && h.Get("WWW-Authenticate") == "" {
			t.Errorf("%s %s: 401 without WWW-Authenticate", tc.method, tc.target)
		}
		var body struct{ Error, Code string }
		if tc.method != "HEAD" {
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" || body.Code == "" {
				t.Errorf("%s %s: body %q: %v", tc.method, tc.target, w.Body, err)
			}
		}
	}
}
