package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// api calls the distribution API with the admin token and decodes the JSON answer.
func api(t *testing.T, ctx context.Context, g *gateway, method, path, body string, want int, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// TestDistributionSecurityOnBothTiers: a distribution that requires a viewer
// token is enforced on WHEP and on LL-HLS, and its player config lists the
// sources in priority order.
func TestDistributionSecurityOnBothTiers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	g := startGateway(t)
	startPublisher(t, ctx, g, "live")

	var st struct {
		Live      bool   `json:"live"`
		Publisher string `json:"publisher"`
		Audio     struct {
			WebRTC string `json:"webRtc"`
		} `json:"audio"`
	}
	api(t, ctx, g, "GET", "/api/v1/streams/live", "", http.StatusOK, &st)
	if !st.Live || st.Publisher != "whip" || st.Audio.WebRTC != "opus" {
		t.Errorf("stream status %+v, want live over whip with opus on WebRTC", st)
	}

	var d struct {
		ID string `json:"id"`
	}
	api(t, ctx, g, "POST", "/api/v1/streams/live/distributions",
		`{"name":"paid","security":{"tokenRequired":true},"webRtc":{"priority":0},"hls":{"priority":1}}`, http.StatusCreated, &d)
	var tok struct {
		Token string `json:"token"`
	}
	api(t, ctx, g, "POST", "/api/v1/distributions/"+d.ID+"/tokens", `{"ttlSeconds":600}`, http.StatusOK, &tok)
	if tok.Token == "" {
		t.Fatal("no token minted")
	}

	// WHEP: refused without the token, accepted with it; the session's
	// DELETE needs it too (as WHIP's, RFC 9725 section 4.4).
	offer := offerSDP(t, clientAPI(t), "recvonly")
	whep := func(q string) int {
		resp, err := postSDP(ctx, g.base+"/whep/live"+q, "", offer)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusCreated {
			session := g.base + resp.Header.Get("Location")
			del(t, ctx, session, "", http.StatusUnauthorized)
			del(t, ctx, session+q, "", http.StatusOK)
		}
		return resp.StatusCode
	}
	if s := whep(""); s != http.StatusUnauthorized {
		t.Errorf("WHEP without a token: %d, want 401", s)
	}
	if s := whep("?token=" + url.QueryEscape(tok.Token)); s != http.StatusCreated {
		t.Errorf("WHEP with the viewer token: %d, want 201", s)
	}

	// HLS: every request, the same rule.
	get := func(path string) int {
		resp, err := http.Get(g.base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if s := get("/hls/live/index.m3u8"); s != http.StatusUnauthorized {
		t.Errorf("HLS without a token: %d, want 401", s)
	}
	if s := get("/hls/live/index.m3u8?token=" + url.QueryEscape(tok.Token)); s != http.StatusOK {
		t.Errorf("HLS with the viewer token: %d, want 200", s)
	}
	if s := get(fmt.Sprintf("/hls/live/index.m3u8?token=%s", url.QueryEscape(tok.Token[:len(tok.Token)-2]+"AA"))); s != http.StatusUnauthorized && s != http.StatusForbidden {
		t.Errorf("HLS with a tampered token: %d, want 401 or 403", s)
	}

	// The player's configuration: WebRTC first (priority 0), then HLS.
	resp, err := http.Get(g.base + "/play/" + d.ID + "/config?token=" + url.QueryEscape(tok.Token))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var cfg struct {
		Sources []struct {
			Type string `json:"type"`
			URL  string `json:"url"`
		} `json:"sources"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&cfg); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("player config: status %d, %v", resp.StatusCode, err)
	}
	if len(cfg.Sources) != 2 || cfg.Sources[0].Type != "webrtc" || cfg.Sources[1].Type != "hls" {
		t.Errorf("player config sources %+v, want webrtc then hls", cfg.Sources)
	}
}

// TestPlayerPageReferrerRule: the bundled player's own requests come from
// the gateway's host, so a distribution that plays only on allowed sites is
// checked when its page loads: embedded elsewhere or opened directly, the
// page is refused with the reason.
func TestPlayerPageReferrerRule(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	g := startGateway(t)
	var d struct {
		ID string `json:"id"`
	}
	api(t, ctx, g, "POST", "/api/v1/streams/live/distributions",
		`{"name":"site","security":{"allowedReferrers":["example.com"]},"hls":{"priority":1}}`, http.StatusCreated, &d)
	for _, tc := range []struct {
		name, referer string
		want          int
		body          string
	}{
		{"embedded on the allowed site", "https://example.com/event", http.StatusOK, "<html"},
		{"embedded elsewhere", "https://evil.test/page", http.StatusForbidden, "does not play on evil.test"},
		{"opened directly", "", http.StatusForbidden, "names no page"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/play/"+d.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.referer != "" {
				req.Header.Set("Referer", tc.referer)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want || !strings.Contains(strings.ToLower(string(b)), strings.ToLower(tc.body)) {
				t.Errorf("GET /play/%s with Referer %q: %d %q, want %d containing %q", d.ID, tc.referer, resp.StatusCode, b, tc.want, tc.body)
			}
		})
	}
}
