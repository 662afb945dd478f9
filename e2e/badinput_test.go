package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// codecAPI is a pion API that offers only the given codecs, to make offers a
// gateway must refuse.
func codecAPI(t testing.TB, video, audio []webrtc.RTPCodecParameters) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	for _, c := range video {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeVideo); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range audio {
		if err := m.RegisterCodec(c, webrtc.RTPCodecTypeAudio); err != nil {
			t.Fatal(err)
		}
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m))
}

var (
	vp8       = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}
	h264Codec = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, PayloadType: 102}
	opus = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, PayloadType: 111}
	pcmu = webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, PayloadType: 0}
)

// TestBadInput sends one bad request per case and checks the status the
// client gets and that the reason names the problem. None may be a 500.
func TestBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	g := startGateway(t)
	startPublisher(t, ctx, g, "live")

	sendOffer := offerSDP(t, clientAPI(t), "sendonly")
	recvOffer := offerSDP(t, clientAPI(t), "recvonly")
	vp8Offer := func(dir string) string {
		return offerSDP(t, codecAPI(t, []webrtc.RTPCodecParameters{vp8}, []webrtc.RTPCodecParameters{opus}), dir)
	}
	pcmuOffer := offerSDP(t, codecAPI(t, []webrtc.RTPCodecParameters{h264Codec}, []webrtc.RTPCodecParameters{pcmu}), "sendonly")
	twoVideos := strings.Replace(sendOffer, "m=audio", "m=video", 1)

	type tc struct {
		name, method, path, ctype, token, body string
		header                                 map[string]string
		want                                   int
		reason                                 string // must appear in the body
	}
	cases := []tc{
		{name: "whip wrong content type", method: "POST", path: "/whip/new", ctype: "text/plain", token: testToken, body: sendOffer, want: 415, reason: "application/sdp"},
		{name: "whip malformed sdp", method: "POST", path: "/whip/new", ctype: "application/sdp", token: testToken, body: "v=0\r\nthis is not sdp\r\n", want: 400, reason: "SDP"},
		{name: "whip empty body", method: "POST", path: "/whip/new", ctype: "application/sdp", token: testToken, body: "", want: 400},
		{name: "whip oversized body", method: "POST", path: "/whip/new", ctype: "application/sdp", token: testToken, body: sendOffer + strings.Repeat("a=x-pad:0123456789abcdef\r\n", 3000), want: 413},
		{name: "whip no token", method: "POST", path: "/whip/new", ctype: "application/sdp", body: sendOffer, want: 401, reason: "token"},
		{name: "whip wrong token", method: "POST", path: "/whip/new", ctype: "application/sdp", token: "nope", body: sendOffer, want: 401, reason: "token"},
		{name: "whip vp8 only", method: "POST", path: "/whip/new", ctype: "application/sdp", token: testToken, body: vp8Offer("sendonly"), want: 406, reason: "H264"},
		{name: "whip audio without opus", method: "POST", path: "/whip/new", ctype: "application/sdp", token: testToken, body: pcmuOffer, want: 406, reason: "Opus"},
		{name: "whip recvonly offer", method: "POST", path: "/whip/new", ctype: "application/sdp", token: testToken, body: recvOffer, want: 400, reason: "recvonly"},
		{name: "whip two video tracks", method: "POST", path: "/whip/new", ctype: "application/sdp", token: testToken, body: twoVideos, want: 400, reason: "more than one video"},
		{name: "whip bad stream name", method: "POST", path: "/whip/bad%20name", ctype: "application/sdp", token: testToken, body: sendOffer, want: 400, reason: "stream name"},
		{name: "whip second publisher", method: "POST", path: "/whip/live", ctype: "application/sdp", token: testToken, body: sendOffer, want: 409, reason: "already"},
		{name: "whip GET", method: "GET", path: "/whip/live", want: 405},
		{name: "whep sendonly offer", method: "POST", path: "/whep/live", ctype: "application/sdp", body: sendOffer, want: 400, reason: "sendonly"},
		{name: "whep vp8 only", method: "POST", path: "/whep/live", ctype: "application/sdp", body: vp8Offer("recvonly"), want: 406, reason: "H264"},
		{name: "whep not live", method: "POST", path: "/whep/nobody", ctype: "application/sdp", body: recvOffer, want: 409, reason: "not live"},
		{name: "whep oversized body", method: "POST", path: "/whep/live", ctype: "application/sdp", body: strings.Repeat("x", 65*1024), want: 413},
		{name: "delete unknown session", method: "DELETE", path: "/whep/live/0123456789abcdef", want: 404},
		{name: "patch unknown session", method: "PATCH", path: "/whep/live/0123456789abcdef", ctype: "application/trickle-ice-sdpfrag", body: "a=ice-ufrag:x\r\n", want: 404},
		{name: "whip delete without token", method: "DELETE", path: "/whip/live/0123456789abcdef", want: 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, hdr, body := do(t, ctx, c.method, g.base+c.path, c.ctype, c.token, c.body, c.header)
			if status != c.want {
				t.Fatalf("status %d, want %d (body %q)", status, c.want, body)
			}
			if c.reason != "" && !strings.Contains(strings.ToLower(body), strings.ToLower(c.reason)) {
				t.Errorf("reason %q does not mention %q", body, c.reason)
			}
			if c.want == 401 && hdr.Get("WWW-Authenticate") == "" {
				t.Errorf("401 without WWW-Authenticate")
			}
		})
	}
}

// TestSessionResource walks one WHEP session through OPTIONS, PATCH (trickle,
// bad type, restart without If-Match, with a stale ETag, with "*") and
// DELETE; a WHIP publisher's session takes no ICE restart (422).
func TestSessionResource(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := startGateway(t, withICEServers(webrtc.ICEServer{
		URLs: []string{"turn:turn.example.net:3478?transport=udp"}, Username: "u", Credential: "p",
	}))
	pub, _ := startPublisher(t, ctx, g, "live")

	resp, err := postSDP(ctx, g.base+"/whep/live", "", offerSDP(t, clientAPI(t), "recvonly"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	wantLink := `<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="u"; credential="p"; credential-type="password"`
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Link") != wantLink {
		t.Errorf("201 with ICE servers: status %d, Link %q, want %q", resp.StatusCode, resp.Header.Get("Link"), wantLink)
	}
	del(t, ctx, g.base+resp.Header.Get("Location"), "", http.StatusOK)

	status, hdr, _ := do(t, ctx, "OPTIONS", g.base+"/whip/live", "", "", "", nil)
	if status != http.StatusNoContent || hdr.Get("Accept-Post") != "application/sdp" || hdr.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("OPTIONS: status %d, Accept-Post %q, CORS %q", status, hdr.Get("Accept-Post"), hdr.Get("Access-Control-Allow-Origin"))
	}

	viewer := newWHEPClient(t, clientAPI(t))
	if err := viewer.play(ctx, g.base, "live"); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(viewer.location, "/whep/live/") {
		t.Fatalf("Location %q is not a session under the endpoint", viewer.location)
	}
	url := g.base + viewer.location
	ufrag := strings.TrimPrefix(findLine(viewer.pc.LocalDescription().SDP, "a=ice-ufrag:"), "a=ice-ufrag:")
	pwd := strings.TrimPrefix(findLine(viewer.pc.LocalDescription().SDP, "a=ice-pwd:"), "a=ice-pwd:")
	trickle := "a=ice-ufrag:" + ufrag + "\r\na=ice-pwd:" + pwd + "\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n" +
		"a=candidate:1 1 UDP 2130706431 127.0.0.1 9 typ host\r\na=candidate:garbage\r\na=end-of-candidates\r\n"
	restart := "a=ice-ufrag:newufrag\r\na=ice-pwd:newpasswordnewpasswordnew\r\n"
	steps := []struct {
		name, method, ctype, body string
		header                    map[string]string
		want                      int
	}{
		{"trickle", "PATCH", "application/trickle-ice-sdpfrag", trickle, nil, 204},
		{"patch wrong type", "PATCH", "application/sdp", trickle, nil, 415},
		{"restart without If-Match", "PATCH", "application/trickle-ice-sdpfrag", restart, nil, 428},
		{"restart stale etag", "PATCH", "application/trickle-ice-sdpfrag", restart, map[string]string{"If-Match": `"old"`}, 412},
		{"restart", "PATCH", "application/trickle-ice-sdpfrag", restart, map[string]string{"If-Match": "*"}, 200},
		{"delete", "DELETE", "", "", nil, 200},
		{"delete again", "DELETE", "", "", nil, 404},
		{"patch after delete", "PATCH", "application/trickle-ice-sdpfrag", trickle, nil, 404},
	}
	for _, s := range steps {
		status, _, body := do(t, ctx, s.method, url, s.ctype, "", s.body, s.header)
		if status != s.want {
			t.Errorf("%s: status %d, want %d (%q)", s.name, status, s.want, body)
		}
	}
	status, _, body := do(t, ctx, "PATCH", g.base+pub.location, "application/trickle-ice-sdpfrag", testToken, restart, map[string]string{"If-Match": "*"})
	if status != http.StatusUnprocessableEntity {
		t.Errorf("WHIP restart: status %d, want 422 (%q)", status, body)
	}
}

func findLine(sdp, prefix string) string {
	for _, l := range strings.Split(sdp, "\r\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

func do(t testing.TB, ctx context.Context, method, url, ctype, token, body string, header map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
