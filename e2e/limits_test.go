package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/app"
	"github.com/frontrow-live/frontrow/packager"
)

// withLimits sets the gateway's limits; zero fields keep the defaults.
func withLimits(l app.Limits) gatewayOption { return func(c *app.Config) { c.Limits = l } }

// refusal is what a refused request must show: its status, Retry-After
// ("" for none) and a reason naming the limit.
type refusal struct {
	status     int
	retryAfter string
	reason     string
}

// checkRefused reads resp and fails unless it is want.
func checkRefused(t *testing.T, what string, resp *http.Response, want refusal) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want.status {
		t.Fatalf("%s: status %d (%s), want %d", what, resp.StatusCode, strings.TrimSpace(string(body)), want.status)
	}
	if got := resp.Header.Get("Retry-After"); got != want.retryAfter {
		t.Errorf("%s: Retry-After %q, want %q", what, got, want.retryAfter)
	}
	if !strings.Contains(string(body), want.reason) {
		t.Errorf("%s: body %q does not give the reason %q", what, body, want.reason)
	}
}

// sessions POSTs offers and keeps the sessions they make.
type sessions struct {
	t      *testing.T
	ctx    context.Context
	base   string
	offers map[string]string // by direction: "sendonly" (WHIP) or "recvonly" (WHEP)
}

func newSessions(t *testing.T, ctx context.Context, g *gateway) *sessions {
	api := clientAPI(t)
	return &sessions{t: t, ctx: ctx, base: g.base, offers: map[string]string{
		"sendonly": offerSDP(t, api, "sendonly"), "recvonly": offerSDP(t, api, "recvonly"),
	}}
}

// post POSTs an offer to /{kind}/{stream} and returns the response.
func (s *sessions) post(kind, stream string) *http.Response {
	s.t.Helper()
	dir, token := "recvonly", ""
	if kind == "whip" {
		dir, token = "sendonly", testToken
	}
	resp, err := postSDP(s.ctx, s.base+"/"+kind+"/"+stream, token, s.offers[dir])
	if err != nil {
		s.t.Fatal(err)
	}
	return resp
}

// open POSTs and wants 201; it returns the session URL.
func (s *sessions) open(kind, stream string) string {
	s.t.Helper()
	resp := s.post(kind, stream)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		s.t.Fatalf("POST /%s/%s: status %d (%s), want 201", kind, stream, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return s.base + resp.Header.Get("Location")
}

// Each limit is hit once through the real gateway, and each refusal says
// which limit, with the status and Retry-After a client backs off from.
func TestLimits(t *testing.T) {
	t.Run("sessions per IP", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		g := startGateway(t, withLimits(app.Limits{SessionsPerIP: 2}))
		s := newSessions(t, ctx, g)
		s.open("whip", "a") // WHIP and WHEP sessions count together
		viewer := s.open("whep", "a")
		checkRefused(t, "third session from 127.0.0.1", s.post("whep", "a"),
			refusal{http.StatusTooManyRequests, "5", "limits.sessions_per_ip"})
		checkRefused(t, "third session from 127.0.0.1 (WHIP)", s.post("whip", "b"),
			refusal{http.StatusTooManyRequests, "5", "limits.sessions_per_ip"})
		del(t, ctx, viewer, "", http.StatusOK) // a session that ends frees its slot
		s.open("whep", "a")
	})

	t.Run("viewers per stream", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		g := startGateway(t, withLimits(app.Limits{ViewersPerStream: 1}))
		s := newSessions(t, ctx, g)
		s.open("whip", "a")
		s.open("whip", "b")
		s.open("whep", "a")
		checkRefused(t, "second viewer of a", s.post("whep", "a"),
			refusal{http.StatusServiceUnavailable, "5", "limits.viewers_per_stream"})
		s.open("whep", "b") // another stream has its own count
	})

	t.Run("viewers in total", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		g := startGateway(t, withLimits(app.Limits{Viewers: 2}))
		s := newSessions(t, ctx, g)
		s.open("whip", "a")
		s.open("whip", "b")
		s.open("whep", "a")
		s.open("whep", "b")
		checkRefused(t, "third viewer", s.post("whep", "b"),
			refusal{http.StatusServiceUnavailable, "5", "limits.viewers)"})
		// A refused viewer of a stream that is not live is refused for
		// being over the limit first: nothing was taken for it.
		checkRefused(t, "viewer of a stream that is not live", s.post("whep", "none"),
			refusal{http.StatusServiceUnavailable, "5", "limits.viewers)"})
	})

	t.Run("publishers in total", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		g := startGateway(t, withLimits(app.Limits{Publishers: 1}), withRTMP(), withDemo())
		if err := waitLive(ctx, g, "demo", true); err != nil { // the demo is not counted
			t.Fatal(err)
		}
		s := newSessions(t, ctx, g)
		s.open("whip", "a")
		checkRefused(t, "second WHIP publisher", s.post("whip", "b"),
			refusal{http.StatusServiceUnavailable, "5", "limits.publishers"})
		// RTMP publishers share the count: ffmpeg is refused and gives up.
		ff := publishFile(t, ctx, g, rtmpBaselineFile, "c", testToken)
		if err := ff.wait(ctx); err != nil {
			t.Fatalf("ffmpeg was not refused: %v", err)
		}
		if ff.err == nil {
			t.Fatalf("ffmpeg exited cleanly; want a refused publish")
		}
		if _, ok := g.Registry().Get("c"); ok {
			t.Fatal("a refused RTMP publisher made a stream")
		}
	})

	t.Run("POST rate", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		g := startGateway(t, withLimits(app.Limits{PostRate: 0.1, PostBurst: 3}))
		s := newSessions(t, ctx, g)
		for i := range 3 { // refused or not, every POST counts
			resp := s.post("whep", "none")
			resp.Body.Close()
			if resp.StatusCode != http.StatusConflict {
				t.Fatalf("POST %d of the burst: status %d, want 409 (not live)", i, resp.StatusCode)
			}
		}
		// One token every 10 s: the fourth waits 10 s, and so do PATCH and
		// DELETE (trickle ICE and session ends share the budget).
		checkRefused(t, "fourth POST", s.post("whip", "a"),
			refusal{http.StatusTooManyRequests, "10", "limits.post_rate"})
		for _, method := range []string{http.MethodPatch, http.MethodDelete} {
			req, err := http.NewRequestWithContext(ctx, method, g.base+"/whip/a/some-session", strings.NewReader(""))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			checkRefused(t, method+" over the rate", resp, refusal{http.StatusTooManyRequests, "10", "limits.post_rate"})
		}
		// GETs are not rate-limited.
		resp, err := http.Get(g.base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /healthz over the POST rate: status %d", resp.StatusCode)
		}
	})

	t.Run("body size", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		g := startGateway(t, withLimits(app.Limits{MaxBody: 1024}))
		big := strings.Repeat("a=x\r\n", 400) // 2000 bytes
		resp, err := postSDP(ctx, g.base+"/whip/a", testToken, big)
		if err != nil {
			t.Fatal(err)
		}
		checkRefused(t, "2000-byte offer", resp, refusal{http.StatusRequestEntityTooLarge, "", "body over 1024 bytes"})
		// Without Content-Length (chunked) the limit holds while reading.
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.base+"/whep/a", io.MultiReader(strings.NewReader(big)))
		req.Header.Set("Content-Type", "application/sdp")
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		checkRefused(t, "2000-byte chunked offer", resp, refusal{http.StatusRequestEntityTooLarge, "", "body over 1024 bytes"})
	})

	t.Run("HLS blocking requests in flight", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		g := startGateway(t, withLimits(app.Limits{HLSBlocking: 1}), withDemo())
		if err := waitLive(ctx, g, "demo", true); err != nil {
			t.Fatal(err)
		}
		base := g.base + "/hls/demo/"
		pl, err := fetchPlaylist(ctx, base+"video.m3u8")
		if err != nil {
			t.Fatal(err)
		}
		// The segment after the one in progress: a second or more away.
		msn, _ := nextPart(pl)
		blocked := make(chan error, 1)
		go func() {
			_, err := fetchPlaylist(ctx, fmt.Sprintf("%svideo.m3u8?_HLS_msn=%d", base, msn+1))
			blocked <- err
		}()
		if err := waitHLSWaiting(ctx, g, "demo", 1); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(fmt.Sprintf("%svideo.m3u8?_HLS_msn=%d&_HLS_part=0", base, msn+1))
		if err != nil {
			t.Fatal(err)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Errorf("refused blocking request: Cache-Control %q, want no-store (a CDN must not keep it)", cc)
		}
		checkRefused(t, "second blocking request", resp, refusal{http.StatusServiceUnavailable, "1", "limits.hls_blocking"})
		// Requests that do not block are not counted.
		if _, err := fetchPlaylist(ctx, base+"video.m3u8"); err != nil {
			t.Fatalf("plain playlist request while the blocking ones are full: %v", err)
		}
		if err := <-blocked; err != nil {
			t.Fatalf("the admitted blocking request: %v", err)
		}
		// Its slot is free again (segment msn is complete: no wait).
		if _, err := fetchPlaylist(ctx, fmt.Sprintf("%svideo.m3u8?_HLS_msn=%d", base, msn)); err != nil {
			t.Fatalf("blocking request after the first one ended: %v", err)
		}
	})
}

// waitHLSWaiting polls the stream's muxer until n playlist requests wait in it.
func waitHLSWaiting(ctx context.Context, g *gateway, name string, n int) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if s, ok := g.Registry().Get(name); ok {
			if m, ok := s.Sink().(*packager.Muxer); ok && m.Stats().Waiting >= n {
				return nil
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%d blocked HLS requests on %s: %w", n, name, ctx.Err())
		}
	}
}
