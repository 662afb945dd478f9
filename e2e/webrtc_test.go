package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/sdp/v3"

	"github.com/frontrow-live/frontrow/gateway/demo"
	"github.com/frontrow-live/frontrow/testdata"
)

// startPublisher publishes the demo file over WHIP from a pion client until
// the test ends; it returns the client and a func that stops the playout.
func startPublisher(t testing.TB, ctx context.Context, g *gateway, name string) (*whipClient, func()) {
	t.Helper()
	return startPublisherFile(t, ctx, g, name, testdata.DemoMP4)
}

// startPublisherFile is startPublisher with another MP4 file.
func startPublisherFile(t testing.TB, ctx context.Context, g *gateway, name string, file []byte) (*whipClient, func()) {
	t.Helper()
	src, err := demo.NewSource(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	pub := newWHIPClient(t, clientAPI(t))
	if err := pub.publish(ctx, g.base, name, testToken); err != nil {
		t.Fatalf("publish: %v", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = src.Run(runCtx, pub)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return pub, stop
}

// TestWHIPToWHEP publishes the test file from a pion WHIP client and checks
// that a pion WHEP viewer receives the same H264 access units and Opus
// packets, in order.
func TestWHIPToWHEP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := startGateway(t)
	pub, _ := startPublisher(t, ctx, g, "live")

	viewer := newWHEPClient(t, clientAPI(t))
	if err := viewer.play(ctx, g.base, "live"); err != nil {
		t.Fatalf("play: %v", err)
	}
	const wantVideo, wantAudio = 60, 100 // two seconds of each
	if err := viewer.got.waitFor(ctx, "units", func(v [][][]byte, a [][]byte) bool {
		return len(v) >= wantVideo && len(a) >= wantAudio
	}); err != nil {
		t.Fatal(err)
	}
	gotV, gotA, _ := viewer.got.snapshot()
	sentV, sentA, _ := pub.sent.snapshot()
	if !isKeyframe(gotV[0]) {
		t.Errorf("first video unit a viewer gets is not a keyframe")
	}
	if _, err := findRun(sentV, gotV, auEqual); err != nil {
		t.Errorf("video: %v", err)
	}
	if _, err := findRun(sentA, gotA, bytes.Equal); err != nil {
		t.Errorf("audio: %v", err)
	}
	t.Logf("WHEP POST to first video unit: %v", viewer.got.firstVideoAt().Sub(viewer.postedAt))

	// The answers: WHIP recvonly, WHEP sendonly, DTLS passive, every
	// candidate included (the gateway does not trickle).
	for _, a := range []struct{ name, sdp, dir string }{
		{"WHIP", pub.pc.RemoteDescription().SDP, "a=recvonly"},
		{"WHEP", viewer.pc.RemoteDescription().SDP, "a=sendonly"},
	} {
		for _, want := range []string{a.dir, "a=setup:passive", "a=candidate:", "a=end-of-candidates", "a=group:BUNDLE", "a=rtcp-mux"} {
			if !strings.Contains(a.sdp, want) {
				t.Errorf("%s answer lacks %q", a.name, want)
			}
		}
		if strings.Contains(a.sdp, "a=sendrecv") {
			t.Errorf("%s answer has a sendrecv section", a.name)
		}
	}
}

// TestWHEPNotLive: a stream nobody publishes gets 409 with Retry-After.
func TestWHEPNotLive(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	g := startGateway(t)
	viewer := newWHEPClient(t, clientAPI(t))
	err := viewer.play(ctx, g.base, "nobody")
	se, ok := err.(*statusErr)
	if !ok || se.code != http.StatusConflict {
		t.Fatalf("WHEP to a stream that is not live: got %v, want 409", err)
	}
	resp, err := postSDP(ctx, g.base+"/whep/nobody", "", offerSDP(t, clientAPI(t), "recvonly"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Retry-After") == "" {
		t.Errorf("409 without Retry-After")
	}
}

// TestPublisherReconnect: a publisher that leaves and comes back within the
// grace period keeps a WHEP viewer's frames flowing on the same connection.
func TestPublisherReconnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	g := startGateway(t, withGrace(10*time.Second))
	first, stopFirst := startPublisher(t, ctx, g, "live")

	viewer := newWHEPClient(t, clientAPI(t))
	if err := viewer.play(ctx, g.base, "live"); err != nil {
		t.Fatalf("play: %v", err)
	}
	if err := viewer.got.waitFor(ctx, "first frames", func(v [][][]byte, _ [][]byte) bool { return len(v) >= 30 }); err != nil {
		t.Fatal(err)
	}
	stopFirst()
	del(t, ctx, g.base+first.location, testToken, http.StatusOK)
	before, _, _ := viewer.got.snapshot()

	second, _ := startPublisher(t, ctx, g, "live")
	if err := viewer.got.waitFor(ctx, "frames after reconnect", func(v [][][]byte, _ [][]byte) bool {
		return len(v) >= len(before)+30
	}); err != nil {
		t.Fatal(err)
	}
	if s := viewer.pc.ConnectionState().String(); s != "connected" {
		t.Errorf("viewer connection is %s after the publisher came back", s)
	}
	gotV, _, _ := viewer.got.snapshot()
	// The first units after the cut may still be the first publisher's last
	// one (the sample builder holds one back); the rest must be the second's.
	after := gotV[len(before):]
	sentV, _, _ := second.sent.snapshot()
	checkResumed(t, after, sentV)
	checkHLSDiscontinuity(t, ctx, g, "live")
}

// TestAnswerDirections: whatever direction the offer allows, every media
// section of the answer is what the gateway does there: WHIP answers
// recvonly to sendonly and sendrecv offers, WHEP sendonly to recvonly and
// sendrecv ones (specs/whip-whep.md; RFC 3264 section 6.1).
func TestAnswerDirections(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	g := startGateway(t)
	startPublisher(t, ctx, g, "live")
	api := clientAPI(t)
	for _, tc := range []struct {
		name, path, token, offer, want string
	}{
		{"WHIP sendonly", "/whip/a", testToken, "sendonly", "recvonly"},
		{"WHIP sendrecv", "/whip/b", testToken, "sendrecv", "recvonly"},
		{"WHEP recvonly", "/whep/live", "", "recvonly", "sendonly"},
		{"WHEP sendrecv", "/whep/live", "", "sendrecv", "sendonly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := postSDP(ctx, g.base+tc.path, tc.token, offerSDP(t, api, tc.offer))
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("POST %s with a %s offer: %d %s", tc.path, tc.offer, resp.StatusCode, body)
			}
			del(t, ctx, g.base+resp.Header.Get("Location"), tc.token, http.StatusOK)
			var answer sdp.SessionDescription
			if err := answer.Unmarshal(body); err != nil {
				t.Fatalf("answer: %v", err)
			}
			if len(answer.MediaDescriptions) != 2 {
				t.Fatalf("answer has %d media sections, want 2", len(answer.MediaDescriptions))
			}
			for _, m := range answer.MediaDescriptions {
				var dirs []string
				for _, d := range []string{"sendrecv", "sendonly", "recvonly", "inactive"} {
					if _, ok := m.Attribute(d); ok {
						dirs = append(dirs, d)
					}
				}
				if len(dirs) != 1 || dirs[0] != tc.want {
					t.Errorf("%s section answers %v, want %s", m.MediaName.Media, dirs, tc.want)
				}
			}
		})
	}
}
