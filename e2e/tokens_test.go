package e2e

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/app"
)

// Distinct token values, so a log search for them finds nothing else.
const (
	tokenCam1  = "tok-cam1-5c1f0e"
	tokenCam2  = "tok-cam2-9a7d3b"
	tokenRTMP1 = "tok-rtmp1-2e84c6"
)

// withStreamTokens gives streams their own publish tokens (testToken stays
// the fallback).
func withStreamTokens(tokens map[string]string) gatewayOption {
	return func(c *app.Config) { c.PublishTokens = tokens }
}

// syncBuffer is a log sink tests can read while the gateway writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// withLogTo sends the gateway's debug log to b.
func withLogTo(b *syncBuffer) gatewayOption {
	return func(c *app.Config) {
		c.Logger = slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
}

// Per-stream publish tokens over WHIP and RTMP: a stream's own token works,
// another stream's does not (403 over WHIP: known, but no rights here),
// a wrong one is 401, and the fallback serves the streams without one.
// No token reaches the log.
func TestPerStreamTokens(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	logs := &syncBuffer{}
	g := startGateway(t, withRTMP(), withLogTo(logs),
		withStreamTokens(map[string]string{"cam1": tokenCam1, "cam2": tokenCam2, "rtmp1": tokenRTMP1}))
	offer := offerSDP(t, clientAPI(t), "sendonly")

	t.Run("WHIP", func(t *testing.T) {
		for _, tc := range []struct {
			stream, token string
			want          int
		}{
			{"cam1", "", http.StatusUnauthorized},
			{"cam1", "wrong", http.StatusUnauthorized},
			{"cam1", tokenCam2, http.StatusForbidden},
			{"cam1", testToken, http.StatusForbidden}, // the fallback is not cam1's token
			{"cam1", tokenCam1, http.StatusCreated},
			{"CAM2", tokenCam2, http.StatusCreated}, // names match without regard to case
			{"other", tokenCam1, http.StatusForbidden},
			{"other", testToken, http.StatusCreated},
		} {
			resp, err := postSDP(ctx, g.base+"/whip/"+tc.stream, tc.token, offer)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("POST /whip/%s with token %q: status %d (%s), want %d",
					tc.stream, tc.token, resp.StatusCode, strings.TrimSpace(string(body)), tc.want)
			}
			if tc.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("POST /whip/%s with token %q: 401 without WWW-Authenticate: Bearer", tc.stream, tc.token)
			}
		}
	})

	t.Run("RTMP", func(t *testing.T) {
		// Refusals, all at once: another stream's token, the fallback
		// (rtmp1 has its own), a wrong one, none.
		var refused []*ffmpegRun
		for _, token := range []string{tokenCam2, testToken, "wrong", ""} {
			refused = append(refused, publishFile(t, ctx, g, rtmpBaselineFile, "rtmp1", token))
		}
		for i, ff := range refused {
			if err := ff.wait(ctx); err != nil {
				t.Fatalf("publisher %d was not refused: %v", i, err)
			}
			if ff.err == nil {
				t.Errorf("publisher %d: ffmpeg exited cleanly; want a refused publish", i)
			}
		}
		if _, ok := g.Registry().Get("rtmp1"); ok {
			t.Fatal("a refused RTMP publisher made a stream")
		}
		// Its own token publishes; a stream without one takes the fallback.
		publishFile(t, ctx, g, rtmpBaselineFile, "rtmp1", tokenRTMP1)
		publishFile(t, ctx, g, rtmpBaselineFile, "rtmp2", testToken)
		for _, name := range []string{"rtmp1", "rtmp2"} {
			if err := waitLive(ctx, g, name, true); err != nil {
				t.Fatal(err)
			}
		}
	})

	for _, tok := range []string{tokenCam1, tokenCam2, tokenRTMP1, testToken} {
		if strings.Contains(logs.String(), tok) {
			t.Errorf("token %q reached the log", tok)
		}
	}
}
