package peer

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/gateway/rtc"
)

// The offers below are copied from gateway/rtc/offer_test.go (package rtc):
// real Chromium and Firefox offers, trimmed as noted there.

// fxChromiumOffer is Chromium's offer for one audio and one video
// transceiver: Opus, then VP8, VP9, AV1 and H264 in three profiles, each in
// packetization-mode 0 and 1, with RTX, RED and ULPFEC.
func fxChromiumOffer(dir string) string {
	return fxLines(
		"v=0",
		"o=- 4215775240449105457 2 IN IP4 127.0.0.1",
		"s=-",
		"t=0 0",
		"a=group:BUNDLE 0 1",
		"a=extmap-allow-mixed",
		"a=msid-semantic: WMS 3d5b8c1e-5f2a-4c44-9d6e-1b2f3a4c5d6e",
	) + fxChromiumAudio("0", dir) + fxChromiumVideo("1", dir)
}

func fxChromiumAudio(mid, dir string) string {
	return fxLines(
		"m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
		"c=IN IP4 0.0.0.0",
		"a=rtcp:9 IN IP4 0.0.0.0",
		"a=ice-ufrag:Rn0P",
		"a=ice-pwd:H2b1QGbXbHtu1lcN3wN6mTIX",
		"a=ice-options:trickle",
		"a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
		"a=setup:actpass",
		"a=mid:"+mid,
		"a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
		"a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
		"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
		"a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
		"a="+dir,
		"a=msid:3d5b8c1e-5f2a-4c44-9d6e-1b2f3a4c5d6e 0f6c2a8e-1b7d-4e0a-8c3f-5a9b2d1e7f4c",
		"a=rtcp-mux",
		"a=rtcp-rsize",
		"a=rtpmap:111 opus/48000/2",
		"a=rtcp-fb:111 transport-cc",
		"a=fmtp:111 minptime=10;useinbandfec=1",
		"a=rtpmap:63 red/48000/2",
		"a=fmtp:63 111/111",
		"a=rtpmap:9 G722/8000",
		"a=rtpmap:0 PCMU/8000",
		"a=rtpmap:8 PCMA/8000",
		"a=rtpmap:13 CN/8000",
		"a=rtpmap:110 telephone-event/48000",
		"a=rtpmap:126 telephone-event/8000",
		"a=ssrc:1583406441 cname:x9mQvGdPxH1rKf5Q",
		"a=ssrc:1583406441 msid:3d5b8c1e-5f2a-4c44-9d6e-1b2f3a4c5d6e 0f6c2a8e-1b7d-4e0a-8c3f-5a9b2d1e7f4c",
	)
}

func fxChromiumVideo(mid, dir string) string {
	return fxLines(
		"m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 45 46 103 104 107 108 109 114 115 116 117 118 39 40 119 120 121",
		"c=IN IP4 0.0.0.0",
		"a=rtcp:9 IN IP4 0.0.0.0",
		"a=ice-ufrag:Rn0P",
		"a=ice-pwd:H2b1QGbXbHtu1lcN3wN6mTIX",
		"a=ice-options:trickle",
		"a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
		"a=setup:actpass",
		"a=mid:"+mid,
		"a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
		"a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
		"a=extmap:13 urn:3gpp:video-orientation",
		"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
		"a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
		"a="+dir,
		"a=msid:3d5b8c1e-5f2a-4c44-9d6e-1b2f3a4c5d6e 8a1f0c2d-3e4b-4a5c-9d6e-7f8a9b0c1d2e",
		"a=rtcp-mux",
		"a=rtcp-rsize",
		"a=rtpmap:96 VP8/90000",
		"a=rtcp-fb:96 goog-remb",
		"a=rtcp-fb:96 transport-cc",
		"a=rtcp-fb:96 ccm fir",
		"a=rtcp-fb:96 nack",
		"a=rtcp-fb:96 nack pli",
		"a=rtpmap:97 rtx/90000",
		"a=fmtp:97 apt=96",
		"a=rtpmap:98 VP9/90000",
		"a=rtcp-fb:98 nack",
		"a=rtcp-fb:98 nack pli",
		"a=fmtp:98 profile-id=0",
		"a=rtpmap:99 rtx/90000",
		"a=fmtp:99 apt=98",
		"a=rtpmap:100 VP9/90000",
		"a=fmtp:100 profile-id=2",
		"a=rtpmap:101 rtx/90000",
		"a=fmtp:101 apt=100",
		"a=rtpmap:45 AV1/90000",
		"a=fmtp:45 level-idx=5;profile=0;tier=0",
		"a=rtpmap:46 rtx/90000",
		"a=fmtp:46 apt=45",
		"a=rtpmap:103 H264/90000",
		"a=rtcp-fb:103 nack",
		"a=rtcp-fb:103 nack pli",
		"a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
		"a=rtpmap:104 rtx/90000",
		"a=fmtp:104 apt=103",
		"a=rtpmap:107 H264/90000",
		"a=fmtp:107 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f",
		"a=rtpmap:108 rtx/90000",
		"a=fmtp:108 apt=107",
		"a=rtpmap:109 H264/90000",
		"a=rtcp-fb:109 goog-remb",
		"a=rtcp-fb:109 transport-cc",
		"a=rtcp-fb:109 ccm fir",
		"a=rtcp-fb:109 nack",
		"a=rtcp-fb:109 nack pli",
		"a=fmtp:109 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
		"a=rtpmap:114 rtx/90000",
		"a=fmtp:114 apt=109",
		"a=rtpmap:115 H264/90000",
		"a=fmtp:115 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f",
		"a=rtpmap:116 rtx/90000",
		"a=fmtp:116 apt=115",
		"a=rtpmap:117 H264/90000",
		"a=fmtp:117 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",
		"a=rtpmap:118 rtx/90000",
		"a=fmtp:118 apt=117",
		"a=rtpmap:39 H264/90000",
		"a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f",
		"a=rtpmap:40 rtx/90000",
		"a=fmtp:40 apt=39",
		"a=rtpmap:119 red/90000",
		"a=rtpmap:120 rtx/90000",
		"a=fmtp:120 apt=119",
		"a=rtpmap:121 ulpfec/90000",
		"a=ssrc-group:FID 2231627014 632943048",
		"a=ssrc:2231627014 cname:x9mQvGdPxH1rKf5Q",
		"a=ssrc:632943048 cname:x9mQvGdPxH1rKf5Q",
	)
}

// fxFirefoxOffer is a Firefox recvonly offer: ICE credentials only at media
// level, the fingerprint at session level, Opus on 109, VP8 and VP9 first,
// H264 on 126 (mode 1) and 97 (mode 0).
func fxFirefoxOffer() string {
	return fxLines(
		"v=0",
		"o=mozilla...THIS_IS_SDPARTA-128.0 3176410178929380428 0 IN IP4 0.0.0.0",
		"s=-",
		"t=0 0",
		"a=fingerprint:sha-256 5D:9F:0B:5A:7E:36:A4:1F:E2:7C:0C:6B:63:2A:A4:8E:2F:9A:1B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8",
		"a=group:BUNDLE 0 1",
		"a=ice-options:trickle",
		"a=msid-semantic:WMS *",
		"m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101",
		"c=IN IP4 0.0.0.0",
		"a=recvonly",
		"a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
		"a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid",
		"a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1",
		"a=fmtp:101 0-15",
		"a=ice-pwd:8d3bd4dd0a5ac2a8d6ea0be8c1d22b1f",
		"a=ice-ufrag:3e51a2f0",
		"a=mid:0",
		"a=rtcp-mux",
		"a=rtpmap:109 opus/48000/2",
		"a=rtpmap:9 G722/8000/1",
		"a=rtpmap:0 PCMU/8000",
		"a=rtpmap:8 PCMA/8000",
		"a=rtpmap:101 telephone-event/8000",
		"a=setup:actpass",
		"a=ssrc:2655508255 cname:{d4b7e5c3-9b2a-4f1e-8c6d-2a3b4c5d6e7f}",
		"m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125 126 127 97 98",
		"c=IN IP4 0.0.0.0",
		"a=recvonly",
		"a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid",
		"a=extmap:4 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
		"a=extmap:5 urn:ietf:params:rtp-hdrext:toffset",
		"a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1",
		"a=fmtp:97 profile-level-id=42e01f;level-asymmetry-allowed=1",
		"a=fmtp:120 max-fs=12288;max-fr=60",
		"a=fmtp:124 apt=120",
		"a=fmtp:121 max-fs=12288;max-fr=60",
		"a=fmtp:125 apt=121",
		"a=fmtp:127 apt=126",
		"a=fmtp:98 apt=97",
		"a=ice-pwd:8d3bd4dd0a5ac2a8d6ea0be8c1d22b1f",
		"a=ice-ufrag:3e51a2f0",
		"a=mid:1",
		"a=rtcp-fb:120 nack",
		"a=rtcp-fb:120 nack pli",
		"a=rtcp-fb:120 ccm fir",
		"a=rtcp-fb:126 nack",
		"a=rtcp-fb:126 nack pli",
		"a=rtcp-fb:126 ccm fir",
		"a=rtcp-mux",
		"a=rtcp-rsize",
		"a=rtpmap:120 VP8/90000",
		"a=rtpmap:124 rtx/90000",
		"a=rtpmap:121 VP9/90000",
		"a=rtpmap:125 rtx/90000",
		"a=rtpmap:126 H264/90000",
		"a=rtpmap:127 rtx/90000",
		"a=rtpmap:97 H264/90000",
		"a=rtpmap:98 rtx/90000",
		"a=setup:actpass",
		"a=ssrc:1787398470 cname:{d4b7e5c3-9b2a-4f1e-8c6d-2a3b4c5d6e7f}",
	)
}

// fxSession is a session header with session-level ICE credentials and
// fingerprint, and the given BUNDLE group ("" for none).
func fxSession(bundle string) string {
	lines := []string{"v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0"}
	if bundle != "" {
		lines = append(lines, "a=group:BUNDLE "+bundle)
	}
	return fxLines(append(lines, "a=ice-ufrag:sess", "a=ice-pwd:0123456789012345678901",
		"a=fingerprint:sha-256 3A:0C:51:71:9E:5B:25:4D:3F:0B:2F:A8:6D:5C:40:91:70:9B:1A:63:04:5E:7F:21:B5:A9:C6:DE:34:F8:19:E2",
		"a=setup:actpass")...)
}

// fxVideo is a minimal video section with the given formats and lines.
func fxVideo(mid, dir, formats string, attrs ...string) string {
	return fxLines(append([]string{
		"m=video 9 UDP/TLS/RTP/SAVPF " + formats, "c=IN IP4 0.0.0.0", "a=mid:" + mid, "a=" + dir, "a=rtcp-mux",
	}, attrs...)...)
}

func fxApplication(mid string, attrs ...string) string {
	return fxLines(append([]string{
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", "a=mid:" + mid,
	}, attrs...)...)
}

func fxLines(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

const (
	ansVideoSSRC, ansVideoRTX, ansAudioSSRC = 11111111, 22222222, 33333333
	ansFingerprint                          = "sha-256 11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00"
)

// ansConfig is a gateway with a video track (with RTX), an audio track,
// and a UDP and a passive TCP candidate on loopback.
func ansConfig() AnswerConfig {
	return AnswerConfig{
		ICE:         Credentials{Ufrag: "gwUfrag1", Pwd: "gatewayPasswordOf24Char"},
		Fingerprint: ansFingerprint,
		Candidates: []Candidate{
			{Network: "udp", Addr: netip.MustParseAddrPort("127.0.0.1:40000")},
			{Network: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:40001")},
		},
		CNAME: "frontrow-cname",
		Video: &Track{Kind: "video", SSRC: ansVideoSSRC, RTXSSRC: ansVideoRTX, StreamID: "live", TrackID: "live-video"},
		Audio: &Track{Kind: "audio", SSRC: ansAudioSSRC, StreamID: "live", TrackID: "live-audio"},
	}
}

// ansWant is what one answer section must be.
type ansWant struct {
	mid      string
	rejected bool
	dir      string // "sendonly" or "inactive" when accepted
	pt, rtx  uint8
	fb       []string       // the chosen payload type's rtcp-fb, in order
	ext      map[string]int // accepted extensions
}

func TestAnswerOffers(t *testing.T) {
	const (
		midURI  = sdp.SDESMidURI
		twccURI = sdp.TransportCCURI
	)
	noRTX := func(c *AnswerConfig) { c.Video.RTXSSRC = 0 }
	chromeFB := []string{"ccm fir", "nack", "nack pli"}
	tests := []struct {
		name        string
		offer       string
		cfg         func(*AnswerConfig)
		want        []ansWant
		wantBundle  []string
		wantUfrag   string
		wantFP      string
		wantApp     *AppSection
		wantRemoteS string
	}{
		{
			name: "Chromium recvonly with RTX", offer: fxChromiumOffer("recvonly"),
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", dir: "sendonly", pt: 109, rtx: 114, fb: chromeFB, ext: map[string]int{midURI: 4}},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "Rn0P",
			wantFP: "sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35:DC:B8:5F:64:1A:24:C2:43:F0:A1:58:D0:A1:2C:19:08",
		},
		{
			name: "Chromium recvonly, track without RTX", offer: fxChromiumOffer("recvonly"), cfg: noRTX,
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", dir: "sendonly", pt: 109, fb: chromeFB, ext: map[string]int{midURI: 4}},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "Rn0P",
		},
		{
			name: "Chromium with transport-cc and REMB on", offer: fxChromiumOffer("recvonly"),
			cfg: func(c *AnswerConfig) { c.Feedback = Feedback{TransportCC: true, REMB: true} },
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, fb: []string{"transport-cc"}, ext: map[string]int{midURI: 4, twccURI: 3}},
				{
					mid: "1", dir: "sendonly", pt: 109, rtx: 114,
					fb:  []string{"goog-remb", "transport-cc", "ccm fir", "nack", "nack pli"},
					ext: map[string]int{midURI: 4, twccURI: 3},
				},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "Rn0P",
		},
		{
			name: "transport-cc feedback without its extension is not taken",
			offer: strings.Replace(fxChromiumOffer("recvonly"),
				"a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n", "", -1),
			cfg: func(c *AnswerConfig) { c.Feedback.TransportCC = true },
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", dir: "sendonly", pt: 109, rtx: 114, fb: chromeFB, ext: map[string]int{midURI: 4}},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "Rn0P",
		},
		{
			name: "Chromium sendrecv is answered sendonly", offer: fxChromiumOffer("sendrecv"),
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", dir: "sendonly", pt: 109, rtx: 114, fb: chromeFB, ext: map[string]int{midURI: 4}},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "Rn0P",
		},
		{
			name:  "a sendonly section is answered inactive",
			offer: strings.Replace(fxChromiumOffer("recvonly"), "a=recvonly", "a=sendonly", 1),
			want: []ansWant{
				{mid: "0", dir: "inactive", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", dir: "sendonly", pt: 109, rtx: 114, fb: chromeFB, ext: map[string]int{midURI: 4}},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "Rn0P",
		},
		{
			name: "Firefox: H264 mode 1 among VP8 and VP9", offer: fxFirefoxOffer(),
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 109, ext: map[string]int{midURI: 3}},
				{mid: "1", dir: "sendonly", pt: 126, rtx: 127, fb: []string{"nack", "nack pli", "ccm fir"}, ext: map[string]int{midURI: 3}},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "3e51a2f0",
			wantFP: "sha-256 5D:9F:0B:5A:7E:36:A4:1F:E2:7C:0C:6B:63:2A:A4:8E:2F:9A:1B:3C:4D:5E:6F:70:81:92:A3:B4:C5:D6:E7:F8",
		},
		{
			name: "a VP8-only video section is rejected",
			offer: fxSession("0 1") + fxChromiumAudio("0", "recvonly") +
				fxVideo("1", "recvonly", "96 97", "a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96"),
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", rejected: true},
			},
			wantBundle: []string{"0"}, wantUfrag: "sess",
		},
		{
			name: "H264 mode 0 only is rejected",
			offer: fxSession("0 1") + fxChromiumAudio("0", "recvonly") +
				fxVideo("1", "recvonly", "107", "a=rtpmap:107 H264/90000", "a=fmtp:107 packetization-mode=0;profile-level-id=42e01f"),
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", rejected: true},
			},
			wantBundle: []string{"0"}, wantUfrag: "sess",
		},
		{
			name: "H264 High alone is taken (the gateway sends what it has)",
			offer: fxSession("0") + fxVideo("0", "recvonly", "112 113", "a=rtpmap:112 H264/90000",
				"a=fmtp:112 packetization-mode=1;profile-level-id=64001f", "a=rtpmap:113 rtx/90000", "a=fmtp:113 apt=112"),
			want:       []ansWant{{mid: "0", dir: "sendonly", pt: 112, rtx: 113, ext: map[string]int{}}},
			wantBundle: []string{"0"}, wantUfrag: "sess",
		},
		{
			name: "rtx for another payload type is not taken",
			offer: fxSession("0") + fxVideo("0", "recvonly", "102 103 104", "a=rtpmap:102 H264/90000",
				"a=fmtp:102 packetization-mode=1;profile-level-id=42e01f", "a=rtpmap:103 rtx/90000", "a=fmtp:103 apt=96",
				"a=rtpmap:104 rtx/48000", "a=fmtp:104 apt=102"),
			want:       []ansWant{{mid: "0", dir: "sendonly", pt: 102, ext: map[string]int{}}},
			wantBundle: []string{"0"}, wantUfrag: "sess",
		},
		{
			name:  "data channel off: the application section is rejected",
			offer: fxChromiumOffer("recvonly") + fxApplication("2", "a=sctp-port:5000", "a=max-message-size:262144"),
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", dir: "sendonly", pt: 109, rtx: 114, fb: chromeFB, ext: map[string]int{midURI: 4}},
				{mid: "2", rejected: true},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "Rn0P",
		},
		{
			name: "data channel on",
			offer: strings.Replace(fxChromiumOffer("recvonly"), "BUNDLE 0 1", "BUNDLE 0 1 2", 1) +
				fxApplication("2", "a=sctp-port:5001", "a=max-message-size:262144"),
			cfg: func(c *AnswerConfig) { c.DataChannel = true },
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", dir: "sendonly", pt: 109, rtx: 114, fb: chromeFB, ext: map[string]int{midURI: 4}},
				{mid: "2"},
			},
			wantBundle: []string{"0", "1", "2"}, wantUfrag: "Rn0P",
			wantApp: &AppSection{Mid: "2", SCTPPort: 5001, MaxMessageSize: 262144},
		},
		{
			name:  "data channel on, defaults when the offer names no port or size",
			offer: fxSession("0 1") + fxVideo("0", "recvonly", "109", "a=rtpmap:109 H264/90000", "a=fmtp:109 packetization-mode=1;profile-level-id=42e01f") + fxApplication("1"),
			cfg:   func(c *AnswerConfig) { c.DataChannel = true },
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 109, ext: map[string]int{}},
				{mid: "1"},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "sess",
			wantApp: &AppSection{Mid: "1", SCTPPort: 5000, MaxMessageSize: 65536},
		},
		{
			name:  "a second video section is rejected",
			offer: fxSession("0 1 2") + fxChromiumAudio("0", "recvonly") + fxChromiumVideo("1", "recvonly") + fxChromiumVideo("2", "recvonly"),
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", dir: "sendonly", pt: 109, rtx: 114, fb: chromeFB, ext: map[string]int{midURI: 4}},
				{mid: "2", rejected: true},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "sess",
		},
		{
			name:  "a stream without audio rejects the first section; the candidates move to the video",
			offer: fxChromiumOffer("recvonly"), cfg: func(c *AnswerConfig) { c.Audio = nil },
			want: []ansWant{
				{mid: "0", rejected: true},
				{mid: "1", dir: "sendonly", pt: 109, rtx: 114, fb: chromeFB, ext: map[string]int{midURI: 4}},
			},
			wantBundle: []string{"1"}, wantUfrag: "Rn0P",
		},
		{
			name:  "a section outside the BUNDLE group is rejected",
			offer: fxSession("0") + fxChromiumAudio("0", "recvonly") + fxChromiumVideo("1", "recvonly"),
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", rejected: true},
			},
			wantBundle: []string{"0"}, wantUfrag: "sess",
		},
		{
			name: "a section the offer rejected stays rejected",
			offer: fxSession("0") + fxChromiumAudio("0", "recvonly") +
				strings.Replace(fxChromiumVideo("1", "recvonly"), "m=video 9", "m=video 0", 1),
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", rejected: true},
			},
			wantBundle: []string{"0"}, wantUfrag: "sess",
		},
		{
			name: "a bundle-only section (port 0) is accepted",
			offer: fxSession("0 1") + fxChromiumAudio("0", "recvonly") +
				strings.Replace(fxChromiumVideo("1", "recvonly"), "m=video 9", "m=video 0", 1) + "a=bundle-only\r\n",
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", dir: "sendonly", pt: 109, rtx: 114, fb: chromeFB, ext: map[string]int{midURI: 4}},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "sess",
		},
		{
			name:  "setup:active is answered passive",
			offer: strings.ReplaceAll(fxChromiumOffer("recvonly"), "a=setup:actpass", "a=setup:active"),
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", dir: "sendonly", pt: 109, rtx: 114, fb: chromeFB, ext: map[string]int{midURI: 4}},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "Rn0P", wantRemoteS: "active",
		},
		{
			name: "a wildcard rtcp-fb counts for the chosen payload type",
			offer: fxSession("0") + fxVideo("0", "recvonly", "102", "a=rtpmap:102 H264/90000",
				"a=fmtp:102 packetization-mode=1;profile-level-id=42e01f", "a=rtcp-fb:* nack", "a=rtcp-fb:* nack pli"),
			want:       []ansWant{{mid: "0", dir: "sendonly", pt: 102, fb: []string{"nack", "nack pli"}, ext: map[string]int{}}},
			wantBundle: []string{"0"}, wantUfrag: "sess",
		},
		{
			name: "several fingerprints: sha-256 is taken, its name in lower case",
			offer: strings.Replace(fxSession("0"), "a=fingerprint:sha-256 3A", "a=fingerprint:sha-1 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD\r\na=fingerprint:SHA-256 3A", 1) +
				fxVideo("0", "recvonly", "102", "a=rtpmap:102 H264/90000", "a=fmtp:102 packetization-mode=1;profile-level-id=42e01f"),
			want:       []ansWant{{mid: "0", dir: "sendonly", pt: 102, ext: map[string]int{}}},
			wantBundle: []string{"0"}, wantUfrag: "sess",
			wantFP: "sha-256 3A:0C:51:71:9E:5B:25:4D:3F:0B:2F:A8:6D:5C:40:91:70:9B:1A:63:04:5E:7F:21:B5:A9:C6:DE:34:F8:19:E2",
		},
		{
			name:  "no a=setup is active (RFC 4145 section 4) and answered passive",
			offer: strings.ReplaceAll(fxChromiumOffer("recvonly"), "a=setup:actpass\r\n", ""),
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", dir: "sendonly", pt: 109, rtx: 114, fb: chromeFB, ext: map[string]int{midURI: 4}},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "Rn0P", wantRemoteS: "active",
		},
		{
			name:       "Opus without its channel count",
			offer:      fxSession("0") + strings.Replace(fxChromiumAudio("0", "recvonly"), "opus/48000/2", "opus/48000", 1),
			want:       []ansWant{{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}}},
			wantBundle: []string{"0"}, wantUfrag: "sess",
		},
		{
			name:  "LF line endings",
			offer: strings.ReplaceAll(fxChromiumOffer("recvonly"), "\r\n", "\n"),
			want: []ansWant{
				{mid: "0", dir: "sendonly", pt: 111, ext: map[string]int{midURI: 4}},
				{mid: "1", dir: "sendonly", pt: 109, rtx: 114, fb: chromeFB, ext: map[string]int{midURI: 4}},
			},
			wantBundle: []string{"0", "1"}, wantUfrag: "Rn0P",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ansConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			raw, neg, err := Answer([]byte(tc.offer), cfg)
			if err != nil {
				t.Fatalf("Answer: %v", err)
			}
			ans := ansCheck(t, tc.offer, raw, neg, cfg)
			if !slices.Equal(neg.BundleMids, tc.wantBundle) {
				t.Errorf("BundleMids = %q, want %q", neg.BundleMids, tc.wantBundle)
			}
			if neg.RemoteUfrag != tc.wantUfrag || neg.RemotePwd == "" {
				t.Errorf("remote ICE = %q/%q, want ufrag %q", neg.RemoteUfrag, neg.RemotePwd, tc.wantUfrag)
			}
			if tc.wantFP != "" && neg.RemoteFingerprint != tc.wantFP {
				t.Errorf("RemoteFingerprint = %q, want %q", neg.RemoteFingerprint, tc.wantFP)
			}
			wantSetup := tc.wantRemoteS
			if wantSetup == "" {
				wantSetup = "actpass"
			}
			if neg.RemoteSetup != wantSetup {
				t.Errorf("RemoteSetup = %q, want %q", neg.RemoteSetup, wantSetup)
			}
			if (neg.Application == nil) != (tc.wantApp == nil) ||
				tc.wantApp != nil && *neg.Application != *tc.wantApp {
				t.Errorf("Application = %+v, want %+v", neg.Application, tc.wantApp)
			}
			if len(ans.MediaDescriptions) != len(tc.want) {
				t.Fatalf("answer has %d sections, want %d", len(ans.MediaDescriptions), len(tc.want))
			}
			for i, w := range tc.want {
				ansCheckSection(t, ans.MediaDescriptions[i], w, neg, cfg)
			}
		})
	}
}

// ansSection is the negotiated section of an answer section's kind.
func ansSection(neg Negotiated, media string) *Section {
	switch media {
	case "video":
		return neg.Video
	case "audio":
		return neg.Audio
	}
	return nil
}

func ansCheckSection(t *testing.T, md *sdp.MediaDescription, w ansWant, neg Negotiated, cfg AnswerConfig) {
	t.Helper()
	media := md.MediaName.Media
	if mid, _ := md.Attribute(sdp.AttrKeyMID); mid != w.mid {
		t.Fatalf("section mid %q, want %q", mid, w.mid)
	}
	sec := ansSection(neg, media)
	if w.rejected {
		if md.MediaName.Port.Value != 0 {
			t.Errorf("mid %s: port %d, want 0 (rejected)", w.mid, md.MediaName.Port.Value)
		}
		if sec != nil && sec.Mid == w.mid || neg.Application != nil && neg.Application.Mid == w.mid {
			t.Errorf("mid %s: rejected, yet negotiated", w.mid)
		}
		return
	}
	if md.MediaName.Port.Value == 0 {
		t.Fatalf("mid %s rejected (port 0), want accepted", w.mid)
	}
	if media == "application" {
		if v, _ := md.Attribute("sctp-port"); v != strconv.Itoa(SCTPPort) {
			t.Errorf("a=sctp-port:%s, want %d", v, SCTPPort)
		}
		if v, _ := md.Attribute("max-message-size"); v != strconv.Itoa(MaxMessageSize) {
			t.Errorf("a=max-message-size:%s, want %d", v, MaxMessageSize)
		}
		if !slices.Equal(md.MediaName.Formats, []string{"webrtc-datachannel"}) {
			t.Errorf("application formats %q", md.MediaName.Formats)
		}
		return
	}
	if sec == nil || sec.Mid != w.mid {
		t.Fatalf("mid %s: Negotiated.%s = %+v", w.mid, media, sec)
	}
	if sec.PayloadType != w.pt || sec.RTXPayloadType != w.rtx {
		t.Errorf("mid %s: PT %d RTX %d, want %d %d", w.mid, sec.PayloadType, sec.RTXPayloadType, w.pt, w.rtx)
	}
	wantFormats := []string{strconv.Itoa(int(w.pt))}
	if w.rtx != 0 {
		wantFormats = append(wantFormats, strconv.Itoa(int(w.rtx)))
	}
	if !slices.Equal(md.MediaName.Formats, wantFormats) {
		t.Errorf("mid %s: m= formats %q, want %q", w.mid, md.MediaName.Formats, wantFormats)
	}
	var fb []string
	for _, v := range ansAttrs(md, "rtcp-fb") {
		pt, f, _ := strings.Cut(v, " ")
		if pt != strconv.Itoa(int(w.pt)) {
			t.Errorf("mid %s: rtcp-fb for payload type %s: %q", w.mid, pt, v)
		}
		fb = append(fb, f)
	}
	if !slices.Equal(fb, w.fb) {
		t.Errorf("mid %s: rtcp-fb %q, want %q", w.mid, fb, w.fb)
	}
	got := map[string]bool{"nack": sec.NACK, "nack pli": sec.PLI, "ccm fir": sec.FIR, "transport-cc": sec.TransportCC, "goog-remb": sec.REMB}
	for f, on := range got {
		if on != slices.Contains(w.fb, f) {
			t.Errorf("mid %s: Section says %s=%v, answer's rtcp-fb %q", w.mid, f, on, fb)
		}
	}
	ext := map[string]int{}
	for _, v := range ansAttrs(md, sdp.AttrKeyExtMap) {
		id, uri, _ := strings.Cut(v, " ")
		n, _ := strconv.Atoi(id)
		ext[uri] = n
	}
	if fmt.Sprint(ext) != fmt.Sprint(w.ext) || fmt.Sprint(sec.Extensions) != fmt.Sprint(w.ext) {
		t.Errorf("mid %s: extmap %v, Section.Extensions %v, want %v", w.mid, ext, sec.Extensions, w.ext)
	}
	if dir := ansDirection(md); dir != w.dir || sec.Send != (w.dir == "sendonly") {
		t.Errorf("mid %s: direction %q (Send %v), want %q", w.mid, dir, sec.Send, w.dir)
	}
	// The codec lines are the offer's for the payload types in the answer.
	for _, v := range append(ansAttrs(md, "rtpmap"), ansAttrs(md, "fmtp")...) {
		pt, _, _ := strings.Cut(v, " ")
		if !slices.Contains(wantFormats, pt) {
			t.Errorf("mid %s: a line for payload type %s, not in the m= line: %q", w.mid, pt, v)
		}
	}

	// What the gateway sends: msid and SSRCs only when it sends.
	track := cfg.Video
	if media == "audio" {
		track = cfg.Audio
	}
	ssrcs := ansAttrs(md, sdp.AttrKeySSRC)
	groups := ansAttrs(md, sdp.AttrKeySSRCGroup)
	msid, hasMsid := md.Attribute(sdp.AttrKeyMsid)
	if !sec.Send {
		if len(ssrcs) != 0 || len(groups) != 0 || hasMsid {
			t.Errorf("mid %s: inactive section names what it sends: %q %q %q", w.mid, ssrcs, groups, msid)
		}
		return
	}
	wantMsid := track.StreamID + " " + track.TrackID
	wantSSRC := []string{
		fmt.Sprintf("%d cname:%s", track.SSRC, cfg.CNAME),
		fmt.Sprintf("%d msid:%s", track.SSRC, wantMsid),
	}
	var wantGroups []string
	if w.rtx != 0 {
		wantGroups = []string{fmt.Sprintf("FID %d %d", track.SSRC, track.RTXSSRC)}
		wantSSRC = append(wantSSRC,
			fmt.Sprintf("%d cname:%s", track.RTXSSRC, cfg.CNAME),
			fmt.Sprintf("%d msid:%s", track.RTXSSRC, wantMsid))
	}
	if msid != wantMsid || !slices.Equal(ssrcs, wantSSRC) || !slices.Equal(groups, wantGroups) {
		t.Errorf("mid %s: msid %q ssrc %q ssrc-group %q; want %q %q %q", w.mid, msid, ssrcs, groups, wantMsid, wantSSRC, wantGroups)
	}
}

// ansCheck checks what every answer must be, against its offer, and
// returns it parsed.
func ansCheck(t *testing.T, offer string, raw []byte, neg Negotiated, cfg AnswerConfig) *sdp.SessionDescription {
	t.Helper()
	var off, ans sdp.SessionDescription
	if err := off.UnmarshalString(offer); err != nil {
		t.Fatal(err)
	}
	if err := ans.Unmarshal(raw); err != nil {
		t.Fatalf("the answer does not parse: %v\n%s", err, raw)
	}
	t.Logf("answer:\n%s", raw)
	if !strings.HasSuffix(string(raw), "\r\n") || strings.Contains(strings.ReplaceAll(string(raw), "\r\n", ""), "\n") {
		t.Errorf("answer lines must end in CRLF")
	}
	if ans.Version != 0 || ans.SessionName != "-" || ans.Origin.SessionID == 0 || len(ans.TimeDescriptions) != 1 ||
		ans.TimeDescriptions[0].Timing != (sdp.Timing{}) {
		t.Errorf("session header: v=%d o=%v s=%s t=%v", ans.Version, ans.Origin, ans.SessionName, ans.TimeDescriptions)
	}
	for key, want := range map[string]string{
		sdp.AttrKeyICELite: "", sdp.AttrKeyMsidSemantic: "WMS *", sdp.AttrKeyGroup: "BUNDLE " + strings.Join(neg.BundleMids, " "),
	} {
		if v, ok := ans.Attribute(key); !ok || v != want {
			t.Errorf("session a=%s:%q (present %v), want %q", key, v, ok, want)
		}
	}
	_, offMixed := off.Attribute(sdp.AttrKeyExtMapAllowMixed)
	if _, ok := ans.Attribute(sdp.AttrKeyExtMapAllowMixed); ok != offMixed {
		t.Errorf("a=extmap-allow-mixed in the answer %v, in the offer %v", ok, offMixed)
	}
	if len(ans.MediaDescriptions) != len(off.MediaDescriptions) {
		t.Fatalf("answer has %d sections for the offer's %d", len(ans.MediaDescriptions), len(off.MediaDescriptions))
	}
	candidateSections := 0
	for i, md := range ans.MediaDescriptions {
		om := off.MediaDescriptions[i]
		mid, _ := md.Attribute(sdp.AttrKeyMID)
		offMid, _ := om.Attribute(sdp.AttrKeyMID)
		if md.MediaName.Media != om.MediaName.Media || mid != offMid ||
			!slices.Equal(md.MediaName.Protos, om.MediaName.Protos) {
			t.Errorf("section %d: %s %q mid %q for the offer's %s %q mid %q", i, md.MediaName.Media, md.MediaName.Protos,
				mid, om.MediaName.Media, om.MediaName.Protos, offMid)
		}
		if c := md.ConnectionInformation; c == nil || c.Address == nil || c.Address.Address != "0.0.0.0" {
			t.Errorf("mid %s: c= %v, want IN IP4 0.0.0.0", mid, c)
		}
		if _, ok := md.Attribute(sdp.AttrKeyICEOptions); ok {
			t.Errorf("mid %s: a=ice-options in an ICE-lite answer that does not trickle", mid)
		}
		candidates := ansAttrs(md, sdp.AttrKeyCandidate)
		_, eoc := md.Attribute(sdp.AttrKeyEndOfCandidates)
		if md.MediaName.Port.Value == 0 {
			if slices.Contains(neg.BundleMids, mid) {
				t.Errorf("rejected mid %s is in the BUNDLE group", mid)
			}
			wantFormats := om.MediaName.Formats[:1] // webrtc-datachannel
			if slices.Contains(om.MediaName.Protos, "RTP") {
				wantFormats = []string{"0"} // as Chromium and pion write it
			}
			if !slices.Equal(md.MediaName.Formats, wantFormats) {
				t.Errorf("rejected mid %s: formats %q, want %q", mid, md.MediaName.Formats, wantFormats)
			}
			if len(md.Attributes) != 1 {
				t.Errorf("rejected mid %s carries %v; want only a=mid", mid, md.Attributes)
			}
			continue
		}
		if !slices.Contains(neg.BundleMids, mid) {
			t.Errorf("accepted mid %s is not in the BUNDLE group", mid)
		}
		if md.MediaName.Port.Value != 9 {
			t.Errorf("mid %s: port %d, want 9", mid, md.MediaName.Port.Value)
		}
		for key, want := range map[string]string{
			"ice-ufrag": cfg.ICE.Ufrag, "ice-pwd": cfg.ICE.Pwd, "fingerprint": cfg.Fingerprint,
			sdp.AttrKeyConnectionSetup: "passive",
		} {
			if got := ansAttrs(md, key); !slices.Equal(got, []string{want}) {
				t.Errorf("mid %s: a=%s %q, want %q", mid, key, got, want)
			}
		}
		if md.MediaName.Media != "application" {
			if _, ok := md.Attribute(sdp.AttrKeyRTCPMux); !ok {
				t.Errorf("mid %s: no a=rtcp-mux", mid)
			}
			_, offered := om.Attribute(sdp.AttrKeyRTCPRsize)
			_, answered := md.Attribute(sdp.AttrKeyRTCPRsize)
			if sec := ansSection(neg, md.MediaName.Media); answered != offered || sec.ReducedSizeRTCP != offered {
				t.Errorf("mid %s: rtcp-rsize offered %v, answered %v, Section %v", mid, offered, answered, sec.ReducedSizeRTCP)
			}
		}
		if mid != neg.BundleMids[0] {
			if len(candidates) != 0 || eoc {
				t.Errorf("mid %s is not the BUNDLE tag but carries candidates", mid)
			}
			continue
		}
		candidateSections++
		if !eoc {
			t.Errorf("mid %s: no a=end-of-candidates", mid)
		}
		ansCheckCandidates(t, candidates, cfg.Candidates)
	}
	if candidateSections != 1 {
		t.Errorf("%d sections carry candidates, want 1 (the BUNDLE tag)", candidateSections)
	}
	return &ans
}

// ansCheckCandidates checks that the a=candidate values are the
// configured host candidates, as pion/ice reads them, UDP above TCP.
func ansCheckCandidates(t *testing.T, values []string, want []Candidate) {
	t.Helper()
	if len(values) != len(want) {
		t.Fatalf("%d candidates %q, want %d", len(values), values, len(want))
	}
	priorities := map[uint32]bool{}
	var minUDP, maxTCP uint32 = 1<<32 - 1, 0
	for i, v := range values {
		c, err := ice.UnmarshalCandidate(v)
		if err != nil {
			t.Fatalf("candidate %q: %v", v, err)
		}
		w := want[i]
		network := ice.NetworkTypeUDP4
		tcpType := ice.TCPTypeUnspecified
		if w.Network == "tcp" {
			network, tcpType = ice.NetworkTypeTCP4, ice.TCPTypePassive
		}
		if w.Addr.Addr().Unmap().Is6() {
			network++ // UDP6 and TCP6 follow UDP4 and TCP4
		}
		if c.Type() != ice.CandidateTypeHost || c.Component() != 1 || c.NetworkType() != network ||
			c.TCPType() != tcpType || c.Address() != w.Addr.Addr().Unmap().String() || c.Port() != int(w.Addr.Port()) {
			t.Errorf("candidate %q, want host component 1 %s %v %s", v, network, tcpType, w.Addr)
		}
		p := c.Priority()
		if p>>24 != 126 || p&0xff != 255 {
			t.Errorf("candidate %q: priority %d is not a host one for component 1 (RFC 8445 5.1.2.1)", v, p)
		}
		if priorities[p] {
			t.Errorf("candidate %q: priority %d not unique", v, p)
		}
		priorities[p] = true
		if w.Network == "udp" {
			minUDP = min(minUDP, p)
		} else {
			maxTCP = max(maxTCP, p)
		}
	}
	if minUDP <= maxTCP {
		t.Errorf("a TCP candidate (%d) ranks with or above a UDP one (%d)", maxTCP, minUDP)
	}
}

func ansAttrs(md *sdp.MediaDescription, key string) []string {
	var vals []string
	for _, a := range md.Attributes {
		if a.Key == key {
			vals = append(vals, a.Value)
		}
	}
	return vals
}

func ansDirection(md *sdp.MediaDescription) string {
	dir := ""
	for _, d := range []string{"sendrecv", "sendonly", "recvonly", "inactive"} {
		if _, ok := md.Attribute(d); ok {
			if dir != "" {
				return "several"
			}
			dir = d
		}
	}
	return dir
}

func TestAnswerCandidates(t *testing.T) {
	cfg := ansConfig()
	cfg.Candidates = []Candidate{
		{Network: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:40001")},
		{Network: "udp", Addr: netip.MustParseAddrPort("127.0.0.1:40000")},
		{Network: "udp", Addr: netip.MustParseAddrPort("[::1]:40000")},
		{Network: "tcp", Addr: netip.MustParseAddrPort("[::1]:40001")},
		{Network: "udp", Addr: netip.MustParseAddrPort("[::ffff:192.0.2.1]:40000")},
	}
	offer := fxChromiumOffer("recvonly")
	raw, neg, err := Answer([]byte(offer), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ans := ansCheck(t, offer, raw, neg, cfg) // checks the first four
	values := ansAttrs(ans.MediaDescriptions[0], sdp.AttrKeyCandidate)
	// A 4-in-6 address is written as IPv4.
	if !strings.Contains(values[4], " 192.0.2.1 40000 typ host") {
		t.Errorf("candidate %q, want the IPv4 form of ::ffff:192.0.2.1", values[4])
	}
	// The same base address and transport share a foundation; others differ.
	foundations := map[string]string{}
	for _, v := range values {
		c, err := ice.UnmarshalCandidate(v)
		if err != nil {
			t.Fatal(err)
		}
		key := c.NetworkType().String() + " " + c.Address()
		if f, ok := foundations[key]; ok && f != c.Foundation() {
			t.Errorf("%s: foundations %s and %s", key, f, c.Foundation())
		}
		foundations[key] = c.Foundation()
	}
	seen := map[string]bool{}
	for _, f := range foundations {
		if seen[f] {
			t.Errorf("foundation %s shared by different bases: %v", f, foundations)
		}
		seen[f] = true
	}
}

func TestAnswerSessionIDIsRandom(t *testing.T) {
	ids := map[uint64]bool{}
	for range 8 {
		raw, _, err := Answer([]byte(fxChromiumOffer("recvonly")), ansConfig())
		if err != nil {
			t.Fatal(err)
		}
		var ans sdp.SessionDescription
		if err := ans.Unmarshal(raw); err != nil {
			t.Fatal(err)
		}
		ids[ans.Origin.SessionID] = true
	}
	if len(ids) != 8 {
		t.Fatalf("8 answers have %d session ids", len(ids))
	}
}

func TestAnswerRefusals(t *testing.T) {
	chrome := fxChromiumOffer("recvonly")
	drop := func(s string, prefixes ...string) string {
		var kept []string
		for _, l := range strings.Split(strings.TrimSuffix(s, "\r\n"), "\r\n") {
			if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(l, p) }) {
				kept = append(kept, l)
			}
		}
		return fxLines(kept...)
	}
	tests := []struct {
		name       string
		offer      string
		cfg        func(*AnswerConfig)
		wantStatus int
		wantInMsg  string
	}{
		{name: "garbage", offer: "this is not SDP", wantStatus: http.StatusBadRequest, wantInMsg: "not valid SDP"},
		{name: "empty", offer: "", wantStatus: http.StatusBadRequest},
		{name: "JSON", offer: `{"type":"offer","sdp":"v=0"}`, wantStatus: http.StatusBadRequest, wantInMsg: "not valid SDP"},
		{name: "truncated", offer: chrome[:strings.Index(chrome, "m=video")+9], wantStatus: http.StatusBadRequest},
		{name: "no media", offer: fxSession("0"), wantStatus: http.StatusBadRequest, wantInMsg: "no media"},
		{
			name: "no fingerprint", offer: drop(chrome, "a=fingerprint"),
			wantStatus: http.StatusBadRequest, wantInMsg: "fingerprint",
		},
		{
			name: "fingerprint with an unknown hash", offer: strings.ReplaceAll(chrome, "a=fingerprint:sha-256", "a=fingerprint:sha-999"),
			wantStatus: http.StatusBadRequest, wantInMsg: "fingerprint",
		},
		{
			name: "fingerprint without a value", offer: strings.ReplaceAll(chrome, "a=fingerprint:sha-256 7B", "a=fingerprint:sha-2567B"),
			wantStatus: http.StatusBadRequest, wantInMsg: "fingerprint",
		},
		{
			name: "setup:passive", offer: strings.ReplaceAll(chrome, "a=setup:actpass", "a=setup:passive"),
			wantStatus: http.StatusBadRequest, wantInMsg: "setup:passive",
		},
		{
			name: "setup:holdconn", offer: strings.ReplaceAll(chrome, "a=setup:actpass", "a=setup:holdconn"),
			wantStatus: http.StatusBadRequest, wantInMsg: "setup:holdconn",
		},
		{
			name: "no ice-ufrag", offer: drop(chrome, "a=ice-ufrag"),
			wantStatus: http.StatusBadRequest, wantInMsg: "ICE credentials",
		},
		{
			name: "no ice-pwd", offer: drop(chrome, "a=ice-pwd"),
			wantStatus: http.StatusBadRequest, wantInMsg: "ICE credentials",
		},
		{
			name: "no BUNDLE", offer: drop(chrome, "a=group:BUNDLE"),
			wantStatus: http.StatusBadRequest, wantInMsg: "BUNDLE",
		},
		{
			name: "an LS group is not BUNDLE", offer: strings.Replace(chrome, "a=group:BUNDLE", "a=group:LS", 1),
			wantStatus: http.StatusBadRequest, wantInMsg: "BUNDLE",
		},
		{
			name: "ICE-lite offer", offer: strings.Replace(chrome, "a=extmap-allow-mixed", "a=ice-lite", 1),
			wantStatus: http.StatusBadRequest, wantInMsg: "ICE-lite",
		},
		{
			name:       "only VP8 video",
			offer:      fxSession("0") + fxVideo("0", "recvonly", "96", "a=rtpmap:96 VP8/90000"),
			wantStatus: http.StatusNotAcceptable, wantInMsg: "no H264 with packetization-mode=1 (offered: VP8)",
		},
		{
			name:       "only PCMU audio",
			offer:      fxSession("0") + strings.Replace(fxChromiumAudio("0", "recvonly"), "111 63 9 0 8 13 110 126", "0", 1),
			wantStatus: http.StatusNotAcceptable, wantInMsg: "no Opus (offered: PCMU)",
		},
		{
			name: "everything sendonly (a WHIP offer)", offer: fxChromiumOffer("sendonly"),
			wantStatus: http.StatusNotAcceptable, wantInMsg: "answered inactive",
		},
		{
			name: "video offered to an audio-only stream", offer: fxSession("0") + fxChromiumVideo("0", "recvonly"),
			cfg:        func(c *AnswerConfig) { c.Video = nil },
			wantStatus: http.StatusNotAcceptable, wantInMsg: "the stream has no video",
		},
		{
			name: "video without rtcp-mux", offer: fxSession("0") + drop(fxChromiumVideo("0", "recvonly"), "a=rtcp-mux"),
			wantStatus: http.StatusNotAcceptable, wantInMsg: "no a=rtcp-mux",
		},
		{
			name: "plain RTP/AVP", offer: fxSession("0") + strings.Replace(fxChromiumVideo("0", "recvonly"), "UDP/TLS/RTP/SAVPF", "RTP/AVP", 1),
			wantStatus: http.StatusNotAcceptable, wantInMsg: "not DTLS-SRTP",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ansConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			raw, neg, err := Answer([]byte(tc.offer), cfg)
			var oe *rtc.OfferError
			if !errors.As(err, &oe) {
				t.Fatalf("Answer error = %v (%T), want an *rtc.OfferError; answer:\n%s", err, err, raw)
			}
			if oe.HTTPStatus() != tc.wantStatus || !strings.Contains(oe.Error(), tc.wantInMsg) {
				t.Fatalf("status %d %q; want %d naming %q", oe.HTTPStatus(), oe.Error(), tc.wantStatus, tc.wantInMsg)
			}
			if raw != nil || neg.Video != nil || neg.Audio != nil || neg.BundleMids != nil {
				t.Fatalf("a refusal returns an answer or a negotiation: %q %+v", raw, neg)
			}
		})
	}
}

// A bad config is the gateway's fault, not the offer's: a plain error the
// caller turns into a 500.
func TestAnswerConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*AnswerConfig)
	}{
		{"no ufrag", func(c *AnswerConfig) { c.ICE.Ufrag = "" }},
		{"no pwd", func(c *AnswerConfig) { c.ICE.Pwd = "" }},
		{"no fingerprint", func(c *AnswerConfig) { c.Fingerprint = "" }},
		{"fingerprint without hash", func(c *AnswerConfig) { c.Fingerprint = "AB:CD" }},
		{"fingerprint with unknown hash", func(c *AnswerConfig) { c.Fingerprint = "sha-999 AB:CD" }},
		{"candidate network", func(c *AnswerConfig) { c.Candidates[0].Network = "sctp" }},
		{"candidate without port", func(c *AnswerConfig) { c.Candidates[0].Addr = netip.MustParseAddrPort("127.0.0.1:0") }},
		{"candidate without address", func(c *AnswerConfig) { c.Candidates[0].Addr = netip.AddrPort{} }},
		{"zero SSRC", func(c *AnswerConfig) { c.Video.SSRC = 0 }},
		{"RTX SSRC is the SSRC", func(c *AnswerConfig) { c.Video.RTXSSRC = c.Video.SSRC }},
		{"track of the wrong kind", func(c *AnswerConfig) { c.Audio.Kind = "video" }},
		{"no CNAME", func(c *AnswerConfig) { c.CNAME = "" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ansConfig()
			tc.cfg(&cfg)
			_, _, err := Answer([]byte(fxChromiumOffer("recvonly")), cfg)
			var oe *rtc.OfferError
			if err == nil || errors.As(err, &oe) {
				t.Fatalf("Answer error = %v, want a config error", err)
			}
		})
	}
}

// TestAnswerPion has a real pion PeerConnection offer to receive, as a WHEP
// player does, and take the answer: pion must accept it, learn the codec,
// SSRCs and msid the gateway sends, and start ICE towards the gateway's
// candidate with the answer's credentials, as the controlling agent.
func TestAnswerPion(t *testing.T) {
	tests := []struct {
		name        string
		kinds       []webrtc.RTPCodecType // recvonly transceivers, in order
		dataChannel bool                  // the player opens a data channel
		cfg         func(*AnswerConfig)
		wantRTX     bool
		wantApp     bool
		wantTWCC    bool // pion offers transport-cc with its extension
	}{
		{name: "video and audio", kinds: []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio}, wantRTX: true},
		{name: "audio and video, no RTX", kinds: []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo},
			cfg: func(c *AnswerConfig) { c.Video.RTXSSRC = 0 }},
		{name: "video only", kinds: []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}, wantRTX: true},
		{name: "stream without audio rejects the first section",
			kinds: []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo}, wantRTX: true,
			cfg: func(c *AnswerConfig) { c.Audio = nil }},
		{name: "with a data channel", kinds: []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio},
			dataChannel: true, wantRTX: true, wantApp: true,
			cfg: func(c *AnswerConfig) { c.DataChannel = true }},
		{name: "data channel refused", kinds: []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio},
			dataChannel: true, wantRTX: true},
		{name: "transport-cc on", kinds: []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio}, wantRTX: true,
			cfg: func(c *AnswerConfig) { c.Feedback.TransportCC = true }, wantTWCC: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The gateway's UDP candidate is a socket of the test's, to see
			// pion's first connectivity check; the TCP one only listens.
			udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer udp.Close()
			tcp, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer tcp.Close()
			cfg := ansConfig()
			cfg.Candidates = []Candidate{
				{Network: "udp", Addr: udp.LocalAddr().(*net.UDPAddr).AddrPort()},
				{Network: "tcp", Addr: tcp.Addr().(*net.TCPAddr).AddrPort()},
			}
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}

			pc := ansPionPeer(t)
			for _, k := range tc.kinds {
				if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.dataChannel {
				if _, err := pc.CreateDataChannel("chat", nil); err != nil {
					t.Fatal(err)
				}
			}
			offer, err := pc.CreateOffer(nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := pc.SetLocalDescription(offer); err != nil {
				t.Fatal(err)
			}
			raw, neg, err := Answer([]byte(offer.SDP), cfg)
			if err != nil {
				t.Fatalf("Answer: %v\noffer:\n%s", err, offer.SDP)
			}
			ansCheck(t, offer.SDP, raw, neg, cfg)
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(raw)}); err != nil {
				t.Fatalf("pion refuses the answer: %v\noffer:\n%s", err, offer.SDP)
			}

			if (neg.Application != nil) != tc.wantApp {
				t.Errorf("Application = %+v, want accepted %v", neg.Application, tc.wantApp)
			}
			if tc.wantApp {
				if want := (AppSection{Mid: neg.Application.Mid, SCTPPort: 5000, MaxMessageSize: ansOfferMaxMessageSize(t, offer.SDP)}); *neg.Application != want {
					t.Errorf("Application = %+v, want %+v", *neg.Application, want)
				}
			}
			for _, sec := range []*Section{neg.Video, neg.Audio} {
				if sec == nil {
					continue
				}
				if _, ext := sec.Extensions[sdp.TransportCCURI]; sec.TransportCC != tc.wantTWCC || ext != tc.wantTWCC {
					t.Errorf("mid %s: transport-cc %v, extension %v; want %v", sec.Mid, sec.TransportCC, ext, tc.wantTWCC)
				}
				if sec == neg.Video && (!sec.NACK || !sec.PLI || !sec.FIR) {
					t.Errorf("video: pion offers nack, nack pli and ccm fir; negotiated NACK %v PLI %v FIR %v", sec.NACK, sec.PLI, sec.FIR)
				}
			}
			for _, tr := range pc.GetTransceivers() {
				ansCheckPionTransceiver(t, tr, neg, cfg, tc.wantRTX)
			}
			ansCheckFirstCheck(t, udp, cfg, neg.RemoteUfrag)
		})
	}
}

// ansPionPeer is a player's PeerConnection on loopback, with pion's default
// codecs (VP8 first, H264 in several profiles, Opus) and interceptors
// (NACK, RTCP reports, TWCC), as a pion-based WHEP player has.
func ansPionPeer(t *testing.T) *webrtc.PeerConnection {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	var s webrtc.SettingEngine
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIncludeLoopbackCandidate(true)
	s.SetIPFilter(func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pc.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return pc
}

func ansOfferMaxMessageSize(t *testing.T, offer string) uint64 {
	t.Helper()
	var off sdp.SessionDescription
	if err := off.UnmarshalString(offer); err != nil {
		t.Fatal(err)
	}
	for _, md := range off.MediaDescriptions {
		if v, ok := md.Attribute("max-message-size"); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 65536
}

// ansCheckPionTransceiver checks what pion took from the answer for one
// of its transceivers: the codec its receiver will decode, and the SSRCs
// and msid of the track it expects (pion learns those only from a section
// that sends: sendonly from the gateway).
func ansCheckPionTransceiver(t *testing.T, tr *webrtc.RTPTransceiver, neg Negotiated, cfg AnswerConfig, wantRTX bool) {
	t.Helper()
	sec, track := neg.Video, cfg.Video
	if tr.Kind() == webrtc.RTPCodecTypeAudio {
		sec, track = neg.Audio, cfg.Audio
	}
	if tr.Kind() != webrtc.RTPCodecTypeAudio && tr.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	remote := tr.Receiver().Track()
	if sec == nil || sec.Mid != tr.Mid() {
		if track != nil {
			t.Errorf("%s transceiver mid %s: not negotiated (%+v)", tr.Kind(), tr.Mid(), sec)
		}
		if remote != nil && remote.SSRC() != 0 {
			t.Errorf("%s mid %s: rejected, yet pion expects SSRC %d", tr.Kind(), tr.Mid(), remote.SSRC())
		}
		return
	}
	codecs := tr.Receiver().GetParameters().Codecs
	if len(codecs) == 0 || uint8(codecs[0].PayloadType) != sec.PayloadType {
		t.Errorf("%s mid %s: pion decodes %v, want payload type %d", tr.Kind(), tr.Mid(), codecs, sec.PayloadType)
	}
	for _, c := range codecs {
		if pt := uint8(c.PayloadType); pt != sec.PayloadType && (pt != sec.RTXPayloadType || pt == 0) {
			t.Errorf("%s mid %s: pion negotiated payload type %d (%s), not in the answer", tr.Kind(), tr.Mid(), pt, c.MimeType)
		}
	}
	if tr.Kind() == webrtc.RTPCodecTypeVideo {
		if !strings.EqualFold(codecs[0].MimeType, webrtc.MimeTypeH264) ||
			!strings.Contains(codecs[0].SDPFmtpLine, "packetization-mode=1") ||
			!strings.Contains(codecs[0].SDPFmtpLine, "profile-level-id=42e01f") {
			t.Errorf("video codec %+v, want H264 42e01f mode 1", codecs[0].RTPCodecCapability)
		}
		if (sec.RTXPayloadType != 0) != wantRTX {
			t.Errorf("video RTX payload type %d, want RTX %v", sec.RTXPayloadType, wantRTX)
		}
	} else if !strings.EqualFold(codecs[0].MimeType, webrtc.MimeTypeOpus) {
		t.Errorf("audio codec %+v, want Opus", codecs[0].RTPCodecCapability)
	}
	if remote == nil {
		t.Fatalf("%s mid %s: pion expects no track from the answer", tr.Kind(), tr.Mid())
	}
	wantRTXSSRC := webrtc.SSRC(0)
	if sec.RTXPayloadType != 0 {
		wantRTXSSRC = webrtc.SSRC(track.RTXSSRC)
	}
	if remote.SSRC() != webrtc.SSRC(track.SSRC) || remote.RtxSSRC() != wantRTXSSRC ||
		remote.StreamID() != track.StreamID || remote.ID() != track.TrackID {
		t.Errorf("%s mid %s: pion expects SSRC %d RTX %d msid %s %s; want %d %d %s %s", tr.Kind(), tr.Mid(),
			remote.SSRC(), remote.RtxSSRC(), remote.StreamID(), remote.ID(),
			track.SSRC, wantRTXSSRC, track.StreamID, track.TrackID)
	}
}

// ansCheckFirstCheck waits for pion's first ICE connectivity check on the
// gateway's UDP candidate: it must use the answer's credentials and come
// from the controlling agent, since the gateway is ICE-lite (RFC 8445
// section 6.1.1).
func ansCheckFirstCheck(t *testing.T, udp *net.UDPConn, cfg AnswerConfig, remoteUfrag string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	if err := udp.SetReadDeadline(deadline); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for range 50 { // pion sends little else here; bounded anyway
		n, _, err := udp.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no ICE check on the answer's UDP candidate: %v", err)
		}
		if !stun.IsMessage(buf[:n]) {
			continue
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if err := m.Decode(); err != nil || m.Type != stun.BindingRequest {
			continue
		}
		var user stun.Username
		if err := user.GetFrom(m); err != nil || user.String() != cfg.ICE.Ufrag+":"+remoteUfrag {
			t.Fatalf("check USERNAME %q (%v), want %q", user.String(), err, cfg.ICE.Ufrag+":"+remoteUfrag)
		}
		if err := stun.NewShortTermIntegrity(cfg.ICE.Pwd).Check(m); err != nil {
			t.Fatalf("check's MESSAGE-INTEGRITY is not keyed with the answer's ice-pwd: %v", err)
		}
		if !m.Contains(stun.AttrICEControlling) {
			t.Fatalf("pion checks the ICE-lite gateway without ICE-CONTROLLING")
		}
		return
	}
	t.Fatal("no STUN binding request among the first 50 datagrams")
}
