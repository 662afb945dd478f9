package e2e

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// browserPair is a selected ICE candidate pair as harness.js reads it
// from getStats.
type browserPair struct {
	ID, State, Local, Remote string
	LocalUfrag, RemoteUfrag  string
	BytesReceived            int64
}

// TestBrowserICERestart: Chromium plays a stream over WHEP in a plain
// RTCPeerConnection and restarts ICE as a page whose network changed would
// (pc.restartIce(), then RFC 9725 section 4.4: a PATCH with the new
// credentials and the session's ETag). The gateway answers 200 with its own
// new credentials and a new ETag; within 2 s the browser's selected
// candidate pair is one of the new generation (its local ufrag is the new
// one) and ICE is connected; the picture goes on without a freeze over
// 500 ms, on the same WHEP session (no second POST, one session on the
// gateway).
func TestBrowserICERestart(t *testing.T) {
	const (
		maxReconnect = 2 * time.Second
		maxFreeze    = 500 * time.Millisecond
		framesAfter  = 60 // two seconds of the demo's 30 fps after the restart
	)
	br := startBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	g := startGateway(t)
	startPublisher(t, ctx, g, "live")
	p := br.open(t, ctx, g.base+"/healthz")

	var play struct {
		Location, Etag          string
		FirstFrameMs            float64
		LocalUfrag, RemoteUfrag string
		Pair                    *browserPair
	}
	if err := p.call(ctx, "whepPlay", map[string]any{"url": g.base + "/whep/live"}, &play); err != nil {
		t.Fatal(err)
	}
	if play.Etag == "" {
		t.Fatal("the WHEP 201 has no ETag: ICE restart not offered")
	}
	if play.Pair == nil {
		t.Fatal("no selected candidate pair while playing")
	}
	t.Logf("playing %v after the offer, on pair %s (%s -> %s, local ufrag %s)",
		time.Duration(play.FirstFrameMs*float64(time.Millisecond)).Round(time.Millisecond), play.Pair.ID, play.Pair.Local, play.Pair.Remote, play.Pair.LocalUfrag)
	if n := g.WHEPSessions(); n != 1 {
		t.Fatalf("%d WHEP sessions while one page plays, want 1", n)
	}

	var r struct {
		Status                    int
		OldEtag, Etag             string
		LocalUfrag, OldLocalUfrag string
		ServerUfrag, Body, Error  string
		RestartAt                 float64
		PatchMs, ApplyMs          float64
		ReconnectedMs             *float64
		Before, After             *browserPair
		IceConnectionState        string
		IceStates                 []struct {
			Ms    float64
			State string
		}
	}
	if err := p.call(ctx, "whepRestart", map[string]any{"timeoutMs": 5000}, &r); err != nil {
		t.Fatal(err)
	}
	if r.Status != http.StatusOK {
		t.Fatalf("restart PATCH: %d %s, want 200", r.Status, r.Body)
	}
	if r.Etag == "" || r.Etag == r.OldEtag {
		t.Errorf("restart answered with ETag %q (was %q), want a new one", r.Etag, r.OldEtag)
	}
	if r.ServerUfrag == "" || r.ServerUfrag == play.RemoteUfrag {
		t.Errorf("the gateway's ufrag after the restart is %q (was %q), want a new one", r.ServerUfrag, play.RemoteUfrag)
	}
	if r.LocalUfrag == "" || r.LocalUfrag == play.LocalUfrag {
		t.Fatalf("the browser's restart offer has ufrag %q (was %q): restartIce made no new credentials", r.LocalUfrag, play.LocalUfrag)
	}
	t.Logf("restart: PATCH answered in %.0f ms, answer applied at %.0f ms; ICE states since: %+v; pair %+v -> %+v",
		r.PatchMs, r.ApplyMs, r.IceStates, r.Before, r.After)
	switch {
	case r.Error != "":
		t.Errorf("after the restart: %s (ICE %s, selected pair %+v)", r.Error, r.IceConnectionState, r.After)
	case r.ReconnectedMs == nil:
		t.Errorf("no reconnection time reported")
	default:
		took := time.Duration(*r.ReconnectedMs * float64(time.Millisecond))
		t.Logf("the new generation's pair was selected and ICE %s %v after the answer was applied", r.IceConnectionState, took.Round(time.Millisecond))
		if took > maxReconnect {
			t.Errorf("ICE took %v to connect on the new credentials, want at most %v", took, maxReconnect)
		}
	}
	if r.After == nil || r.Before == nil || r.After.ID == r.Before.ID || r.After.LocalUfrag != r.LocalUfrag {
		t.Errorf("selected candidate pair %+v after the restart, was %+v: want another pair, on local ufrag %s", r.After, r.Before, r.LocalUfrag)
	}

	// The picture goes on, without a freeze, on the same session.
	var f struct {
		Frames                              int
		MaxGapMs                            float64
		Posts                               int
		IceConnectionState, ConnectionState string
		Pair                                *browserPair
	}
	if err := p.call(ctx, "whepFrames", map[string]any{"from": r.RestartAt, "min": framesAfter, "timeoutMs": 10000}, &f); err != nil {
		t.Fatal(err)
	}
	gap := time.Duration(f.MaxGapMs * float64(time.Millisecond))
	t.Logf("%d frames presented after the restart; longest gap between frames across it %v; ICE %s, connection %s",
		f.Frames, gap.Round(time.Millisecond), f.IceConnectionState, f.ConnectionState)
	if gap > maxFreeze {
		t.Errorf("the picture froze for %v across the restart, want at most %v", gap.Round(time.Millisecond), maxFreeze)
	}
	if f.IceConnectionState != "connected" && f.IceConnectionState != "completed" {
		t.Errorf("ICE %s after the restart's frames, want connected", f.IceConnectionState)
	}
	if f.Pair == nil || f.Pair.LocalUfrag != r.LocalUfrag {
		t.Errorf("selected pair %+v later, want one on the new local ufrag %s", f.Pair, r.LocalUfrag)
	}
	if f.Posts != 1 {
		t.Errorf("the page POSTed %d times, want 1 (a restart is no new session)", f.Posts)
	}
	if n := g.WHEPSessions(); n != 1 {
		t.Errorf("%d WHEP sessions after the restart, want the same 1", n)
	}
	var status int
	if err := p.call(ctx, "whepStop", nil, &status); err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Errorf("DELETE of the restarted session: %d, want 200", status)
	}
}
