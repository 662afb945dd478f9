package rtc

import (
	"strings"
	"testing"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// TestCongestionFeedback: publishers that offer transport-wide congestion
// control get it in the answer (feedback and the sequence number extension,
// on audio and video), so a browser's bandwidth estimate ramps at once;
// OBS, which offers neither, is answered without.
func TestCongestionFeedback(t *testing.T) {
	e, err := New(Config{UDPAddr: "127.0.0.1:0", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for _, tc := range []struct {
		name  string
		api   *webrtc.API
		offer string
		want  bool
	}{
		{"Chromium publisher", e.Publish, chromiumOffer("sendonly"), true},
		{"OBS publisher", e.Publish, obsOffer(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc, err := tc.api.NewPeerConnection(webrtc.Configuration{})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: tc.offer}); err != nil {
				t.Fatal(err)
			}
			answer, err := pc.CreateAnswer(nil)
			if err != nil {
				t.Fatal(err)
			}
			var parsed sdp.SessionDescription
			if err := parsed.UnmarshalString(answer.SDP); err != nil {
				t.Fatal(err)
			}
			if len(parsed.MediaDescriptions) != 2 {
				t.Fatalf("answer has %d media sections, want 2:\n%s", len(parsed.MediaDescriptions), answer.SDP)
			}
			for _, md := range parsed.MediaDescriptions {
				var fb, ext bool
				for _, a := range md.Attributes {
					switch {
					case a.Key == "rtcp-fb" && strings.HasSuffix(a.Value, " transport-cc"):
						fb = true
					case a.Key == "extmap" && strings.HasSuffix(a.Value, " "+sdp.TransportCCURI):
						ext = true
					}
				}
				if fb != tc.want || ext != tc.want {
					t.Errorf("%s section: transport-cc feedback %v, extension %v; want %v:\n%s",
						md.MediaName.Media, fb, ext, tc.want, answer.SDP)
				}
			}
		})
	}
}

// TestPublishBitrate: a publisher's answer tells the browser its start and
// ceiling on every video codec (not audio, not RTX); off leaves the answer
// untouched.
func TestPublishBitrate(t *testing.T) {
	const answer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 109 114\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:109 H264/90000\r\n" +
		"a=fmtp:109 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n" +
		"a=rtpmap:114 rtx/90000\r\na=fmtp:114 apt=109\r\n"
	for _, tc := range []struct {
		name      string
		kbps      int
		want      []string
		wantCount int
	}{
		{"on", 2500, []string{
			"a=fmtp:109 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f;x-google-start-bitrate=2500;x-google-max-bitrate=2500\r\n",
			"a=fmtp:111 minptime=10;useinbandfec=1\r\n", "a=fmtp:114 apt=109\r\n"}, 1},
		{"off", -1, []string{answer}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := WithPublishBitrate([]byte(answer), tc.kbps)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("answer lacks %q:\n%s", w, out)
				}
			}
			for _, p := range []string{googStartBitrate, googMaxBitrate} {
				if n := strings.Count(string(out), p); n != tc.wantCount {
					t.Errorf("%d %s, want %d:\n%s", n, p, tc.wantCount, out)
				}
			}
		})
	}
	if _, err := WithPublishBitrate([]byte("not sdp"), 2500); err == nil {
		t.Error("an answer that is not SDP: no error")
	}
}
