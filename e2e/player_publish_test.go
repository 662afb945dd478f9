package e2e

import (
	"context"
	"testing"
	"time"
)

// publishPageState is window.frontrowPublisher.state()
// (player/static/publish.js).
type publishPageState struct {
	State, Message, Location, Stream string
	Status                           int
}

func waitPublishPage(t *testing.T, ctx context.Context, p *browserPage, want map[string]any, timeout time.Duration) publishPageState {
	t.Helper()
	var s publishPageState
	if err := p.call(ctx, "publisherWaits", map[string]any{"want": want, "timeoutMs": timeout.Milliseconds()}, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// goLive fills the publish page's token field and presses Go live.
func goLive(t *testing.T, ctx context.Context, p *browserPage, token string) {
	t.Helper()
	if err := p.call(ctx, "fill", map[string]any{"selector": "#token", "value": token}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.call(ctx, "click", map[string]any{"selector": "#start"}, nil); err != nil {
		t.Fatal(err)
	}
}

// (e) The publish page (/publish/{stream}) sends Chromium's fake camera and
// microphone over WHIP with the publish token; another page watches the
// stream at /watch/{stream} and presents its frames. A wrong token and a
// second publisher show the server's reason; Stop ends the stream.
func TestPlayerPublishPage(t *testing.T) {
	br := startBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := startGateway(t, withGrace(200*time.Millisecond))

	// A wrong token: the page says 401 and is not live.
	bad := br.open(t, ctx, g.base+"/publish/pubpage")
	goLive(t, ctx, bad, "not-the-token")
	s := waitPublishPage(t, ctx, bad, map[string]any{"state": "error", "status": 401}, 10*time.Second)
	t.Logf("wrong token: %q", s.Message)

	start := time.Now()
	pub := br.open(t, ctx, g.base+"/publish/pubpage")
	goLive(t, ctx, pub, testToken)
	s = waitPublishPage(t, ctx, pub, map[string]any{"state": "live"}, 10*time.Second)
	t.Logf("publish page live %v after Go live (session %s); screenshot %s",
		time.Since(start).Round(time.Millisecond), s.Location, screenshot(t, ctx, pub, "publish-page.png"))
	var seen map[string]struct{ Shown bool }
	if err := pub.call(ctx, "visible", map[string]any{"selectors": []string{`a[href="/watch/pubpage"]`, "#preview", "#stop"}}, &seen); err != nil {
		t.Fatal(err)
	}
	for sel, v := range seen {
		if !v.Shown {
			t.Errorf("publish page: %s not shown", sel)
		}
	}
	// The local preview shows the camera.
	if err := pub.call(ctx, "videoFrames", map[string]any{"selector": "#preview", "min": 5, "timeoutMs": 5000}, nil); err != nil {
		t.Fatalf("local preview: %v", err)
	}

	// Another page watches it.
	w := br.open(t, ctx, g.base+"/watch/pubpage")
	r := waitPlays(t, ctx, w, "webrtc", 10*time.Second)
	t.Logf("/watch/pubpage plays WebRTC %dx%d, %d frames counted", r.Width, r.Height, r.Frames)

	// A second publisher of the live stream: 409 with the gateway's reason.
	second := br.open(t, ctx, g.base+"/publish/pubpage")
	goLive(t, ctx, second, testToken)
	s = waitPublishPage(t, ctx, second, map[string]any{"state": "error", "status": 409}, 10*time.Second)
	t.Logf("second publisher: %q", s.Message)

	// Stop DELETEs the session: the stream goes off air for the viewer.
	if err := pub.call(ctx, "click", map[string]any{"selector": "#stop"}, nil); err != nil {
		t.Fatal(err)
	}
	s = waitPublishPage(t, ctx, pub, map[string]any{"state": "stopped"}, 5*time.Second)
	if s.Message != "stopped" {
		t.Errorf("after Stop: %q, want a clean stop (DELETE accepted)", s.Message)
	}
	waitPlayer(t, ctx, w, map[string]any{"state": "offline"}, 12*time.Second)
}
