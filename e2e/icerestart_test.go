package e2e

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

var (
	ufragLine = regexp.MustCompile(`(?m)^a=ice-ufrag:(\S+)\r?$`)
	pwdLine   = regexp.MustCompile(`(?m)^a=ice-pwd:(\S+)\r?$`)
)

// TestWHEPICERestart: a viewer restarts ICE as a phone that moved networks
// does (RFC 9725 section 4.4): a new offer with new credentials, sent as a
// PATCH fragment with the session's ETag; the gateway answers 200 with its
// own new credentials and a new ETag, and the viewer's media goes on on the
// same session (same SSRC, sequence numbers continuing, no new POST) once
// its checks with the new credentials got through. The old credentials
// stop working then: the restart is real, not ignored.
func TestWHEPICERestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := startGateway(t)
	startPublisher(t, ctx, g, "live")
	v := newRawViewer(t)
	offer, err := v.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(v.pc)
	if err := v.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	resp, err := postSDP(ctx, g.base+"/whep/live", "", v.pc.LocalDescription().SDP)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %d %s", resp.StatusCode, answer)
	}
	etag, loc := resp.Header.Get("ETag"), g.base+resp.Header.Get("Location")
	if etag == "" {
		t.Fatal("201 without an ETag: ICE restart not offered")
	}
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)}); err != nil {
		t.Fatal(err)
	}
	if err := v.waitFor(ctx, "100 video packets", func() bool { return len(v.order) >= 100 }); err != nil {
		t.Fatal(err)
	}
	v.mu.Lock()
	ssrc, before := v.ssrc, len(v.order)
	v.mu.Unlock()

	// pion's agent restarts with the offer: checking again, and connected
	// only once the gateway answered checks with the new credentials.
	states := make(chan webrtc.ICEConnectionState, 16)
	v.pc.OnICEConnectionStateChange(func(s webrtc.ICEConnectionState) {
		select {
		case states <- s:
		default:
		}
	})
	// The restart: new local credentials, a PATCH with them, the gateway's
	// new ones applied to the answer the viewer has.
	restart, err := v.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := v.pc.SetLocalDescription(restart); err != nil {
		t.Fatal(err)
	}
	newUfrag, newPwd := ufragLine.FindStringSubmatch(restart.SDP), pwdLine.FindStringSubmatch(restart.SDP)
	if newUfrag == nil || newPwd == nil {
		t.Fatalf("restart offer without credentials:\n%s", restart.SDP)
	}
	frag := "a=ice-ufrag:" + newUfrag[1] + "\r\na=ice-pwd:" + newPwd[1] + "\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
	patch := func(ifMatch string) (*http.Response, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPatch, loc, strings.NewReader(frag))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/trickle-ice-sdpfrag")
		req.Header.Set("If-Match", ifMatch)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	if r, body := patch(`"not-the-etag"`); r.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("restart with a stale ETag: %d %s, want 412", r.StatusCode, body)
	}
	r, body := patch(etag)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("restart: %d %s, want 200", r.StatusCode, body)
	}
	if next := r.Header.Get("ETag"); next == "" || next == etag {
		t.Errorf("restart answered with ETag %q (was %q), want a new one", next, etag)
	}
	srvUfrag, srvPwd := ufragLine.FindStringSubmatch(body), pwdLine.FindStringSubmatch(body)
	if srvUfrag == nil || srvPwd == nil || !strings.Contains(body, "a=candidate:") {
		t.Fatalf("restart answer lacks credentials or candidates:\n%s", body)
	}
	oldUfrag := ufragLine.FindStringSubmatch(string(answer))[1]
	if srvUfrag[1] == oldUfrag {
		t.Fatalf("the gateway kept its ufrag %q", oldUfrag)
	}
	next := ufragLine.ReplaceAllString(string(answer), "a=ice-ufrag:"+srvUfrag[1]+"\r")
	next = pwdLine.ReplaceAllString(next, "a=ice-pwd:"+srvPwd[1]+"\r")
	restarted := time.Now()
	if err := v.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: next}); err != nil {
		t.Fatal(err)
	}
	checking := false
	for reconnected := false; !reconnected; {
		select {
		case s := <-states:
			checking = checking || s == webrtc.ICEConnectionStateChecking
			reconnected = checking && (s == webrtc.ICEConnectionStateConnected || s == webrtc.ICEConnectionStateCompleted)
			if s == webrtc.ICEConnectionStateFailed {
				t.Fatal("the viewer's ICE failed after the restart")
			}
		case <-ctx.Done():
			t.Fatalf("the viewer's ICE did not reconnect with the new credentials (checking seen: %v)", checking)
		}
	}
	t.Logf("ICE reconnected with the new credentials %v after the restart", time.Since(restarted).Round(time.Millisecond))
	// Media goes on: 3 s of it after the restart, on the same session.
	if err := v.waitFor(ctx, "video 3 s after the restart", func() bool {
		return len(v.order) >= before+150 && time.Since(restarted) > 3*time.Second
	}); err != nil {
		t.Fatal(err)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.ssrc != ssrc {
		t.Errorf("SSRC %d after the restart, was %d", v.ssrc, ssrc)
	}
	if got := g.WHEPSessions(); got != 1 {
		t.Errorf("%d WHEP sessions after the restart, want the same 1", got)
	}
	if s := v.pc.ICEConnectionState(); s != webrtc.ICEConnectionStateConnected && s != webrtc.ICEConnectionStateCompleted {
		t.Errorf("viewer's ICE %s after the restart", s)
	}
	t.Logf("%d video packets before the restart, %d in the %v after it", before, len(v.order)-before, time.Since(restarted).Round(time.Millisecond))
}
