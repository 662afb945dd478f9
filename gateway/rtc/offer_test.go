package rtc

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

// chromiumOffer is what Chromium's RTCPeerConnection offers for one audio and
// one video transceiver (trimmed of extmaps and RTX only where noted): Opus
// and telephony codecs, then VP8, VP9, AV1 and H264 in three profiles, each
// in packetization-mode 0 and 1, with RTX, RED and ULPFEC. dir is the
// direction of both sections.
func chromiumOffer(dir string) string {
	return sdpLines(
		"v=0",
		"o=- 4215775240449105457 2 IN IP4 127.0.0.1",
		"s=-",
		"t=0 0",
		"a=group:BUNDLE 0 1",
		"a=extmap-allow-mixed",
		"a=msid-semantic: WMS 3d5b8c1e-5f2a-4c44-9d6e-1b2f3a4c5d6e",
	) + chromiumAudio("0", dir) + chromiumVideo("1", dir)
}

func chromiumAudio(mid, dir string) string {
	return sdpLines(
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

func chromiumVideo(mid, dir string) string {
	return sdpLines(
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

// firefoxOffer is a Firefox recvonly offer as a WHEP player sends it: ICE
// credentials only at media level, Opus on 109, H264 on 126 (mode 1) and 97
// (mode 0).
func firefoxOffer() string {
	return sdpLines(
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

// obsOffer is an OBS (libdatachannel) WHIP offer: one port, candidates in
// the offer, session-level ICE credentials, a single codec per section.
func obsOffer() string {
	return sdpLines(
		"v=0",
		"o=rtc 2868434919 0 IN IP4 127.0.0.1",
		"s=-",
		"t=0 0",
		"a=group:BUNDLE 0 1",
		"a=group:LS 0 1",
		"a=msid-semantic:WMS *",
		"a=setup:actpass",
		"a=ice-ufrag:Zu8C",
		"a=ice-pwd:xBmy2yOCvw4s6mcYTyrhJm",
		"a=ice-options:ice2,trickle",
		"a=fingerprint:sha-256 3A:0C:51:71:9E:5B:25:4D:3F:0B:2F:A8:6D:5C:40:91:70:9B:1A:63:04:5E:7F:21:B5:A9:C6:DE:34:F8:19:E2",
		"m=audio 58425 UDP/TLS/RTP/SAVPF 111",
		"c=IN IP4 192.168.1.10",
		"a=mid:0",
		"a=sendonly",
		"a=ssrc:3402958112 cname:obs",
		"a=ssrc:3402958112 msid:obs obs-audio",
		"a=msid:obs obs-audio",
		"a=rtcp-mux",
		"a=rtpmap:111 opus/48000/2",
		"a=fmtp:111 minptime=10;maxaveragebitrate=96000;stereo=1;sprop-stereo=1;useinbandfec=1",
		"a=candidate:1 1 UDP 2122317823 192.168.1.10 58425 typ host",
		"a=candidate:2 1 UDP 1686109951 203.0.113.7 58425 typ srflx raddr 0.0.0.0 rport 0",
		"a=end-of-candidates",
		"m=video 58425 UDP/TLS/RTP/SAVPF 96",
		"c=IN IP4 192.168.1.10",
		"a=mid:1",
		"a=sendonly",
		"a=ssrc:3402958113 cname:obs",
		"a=ssrc:3402958113 msid:obs obs-video",
		"a=msid:obs obs-video",
		"a=rtcp-mux",
		"a=rtpmap:96 H264/90000",
		"a=rtcp-fb:96 nack",
		"a=rtcp-fb:96 nack pli",
		"a=rtcp-fb:96 goog-remb",
		"a=fmtp:96 profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1",
	)
}

// videoSection is a minimal video section offering the given rtpmap/fmtp
// lines, for codec cases.
func videoSection(mid, dir, formats string, attrs ...string) string {
	return sdpLines(append([]string{
		"m=video 9 UDP/TLS/RTP/SAVPF " + formats,
		"c=IN IP4 0.0.0.0",
		"a=mid:" + mid,
		"a=" + dir,
		"a=rtcp-mux",
	}, attrs...)...)
}

func audioSection(mid, dir, formats string, attrs ...string) string {
	return sdpLines(append([]string{
		"m=audio 9 UDP/TLS/RTP/SAVPF " + formats,
		"c=IN IP4 0.0.0.0",
		"a=mid:" + mid,
		"a=" + dir,
		"a=rtcp-mux",
	}, attrs...)...)
}

// session is a session header with the given BUNDLE group ("" for none).
func session(bundle string) string {
	lines := []string{"v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0"}
	if bundle != "" {
		lines = append(lines, "a=group:BUNDLE "+bundle)
	}
	return sdpLines(append(lines, "a=ice-ufrag:sess", "a=ice-pwd:0123456789012345678901")...)
}

func sdpLines(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

func TestCheckOffer(t *testing.T) {
	chromeSend, chromeRecv := chromiumOffer("sendonly"), chromiumOffer("recvonly")
	tests := []struct {
		name       string
		offer      string
		role       Role
		wantStatus int // 0: accepted
		wantInMsg  string
		want       OfferInfo
		bug        string // known defect: the case states the right behaviour and is skipped
	}{
		{
			name: "Chromium publisher", offer: chromeSend, role: RolePublisher,
			want: OfferInfo{Video: true, Audio: true, ICEUfrag: "Rn0P"},
		},
		{
			name: "Chromium viewer", offer: chromeRecv, role: RoleViewer,
			want: OfferInfo{Video: true, Audio: true, ICEUfrag: "Rn0P"},
		},
		{
			name: "sendrecv publisher", offer: chromiumOffer("sendrecv"), role: RolePublisher,
			want: OfferInfo{Video: true, Audio: true, ICEUfrag: "Rn0P"},
		},
		{
			name: "sendrecv viewer", offer: chromiumOffer("sendrecv"), role: RoleViewer,
			want: OfferInfo{Video: true, Audio: true, ICEUfrag: "Rn0P"},
		},
		{
			name: "Firefox viewer", offer: firefoxOffer(), role: RoleViewer,
			want: OfferInfo{Video: true, Audio: true, ICEUfrag: "3e51a2f0"},
		},
		{
			name: "OBS publisher", offer: obsOffer(), role: RolePublisher,
			want: OfferInfo{Video: true, Audio: true, ICEUfrag: "Zu8C"},
		},
		{
			name: "LF line endings", offer: strings.ReplaceAll(chromeSend, "\r\n", "\n"), role: RolePublisher,
			want: OfferInfo{Video: true, Audio: true, ICEUfrag: "Rn0P"},
		},
		{
			name:  "audio only",
			offer: session("0") + chromiumAudio("0", "sendonly"), role: RolePublisher,
			want: OfferInfo{Audio: true, ICEUfrag: "sess"},
		},
		{
			name:  "video only",
			offer: session("0") + chromiumVideo("0", "recvonly"), role: RoleViewer,
			want: OfferInfo{Video: true, ICEUfrag: "sess"},
		},
		{
			name: "ICE ufrag at media level only",
			offer: sdpLines("v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0") +
				chromiumAudio("0", "sendonly"),
			role: RolePublisher,
			want: OfferInfo{Audio: true, ICEUfrag: "Rn0P"},
		},
		{
			name: "data channel section is ignored",
			offer: session("0 1") + chromiumAudio("0", "sendonly") +
				sdpLines("m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", "a=mid:1", "a=sctp-port:5000"),
			role: RolePublisher,
			want: OfferInfo{Audio: true, ICEUfrag: "sess"},
		},
		{
			name: "a rejected section (port 0) is ignored",
			offer: session("0") + chromiumAudio("0", "sendonly") +
				strings.Replace(videoSection("1", "sendonly", "96", "a=rtpmap:96 VP8/90000"), "m=video 9", "m=video 0", 1),
			role: RolePublisher,
			want: OfferInfo{Audio: true, ICEUfrag: "sess"},
		},
		{
			name: "codec names are case-insensitive",
			offer: session("0 1") +
				audioSection("0", "sendonly", "111", "a=rtpmap:111 OPUS/48000/2") +
				videoSection("1", "sendonly", "102", "a=rtpmap:102 h264/90000",
					"a=fmtp:102 PROFILE-LEVEL-ID=42E01F;Packetization-Mode=1"),
			role: RolePublisher,
			want: OfferInfo{Audio: true, Video: true, ICEUfrag: "sess"},
		},
		{
			name: "H264 main profile", role: RolePublisher,
			offer: session("0") + videoSection("0", "sendonly", "102", "a=rtpmap:102 H264/90000",
				"a=fmtp:102 packetization-mode=1;profile-level-id=4d0032"),
			want: OfferInfo{Video: true, ICEUfrag: "sess"},
		},
		{
			name: "H264 high profile, as OBS offers it", role: RolePublisher,
			offer: session("0") + videoSection("0", "sendonly", "102", "a=rtpmap:102 H264/90000",
				"a=fmtp:102 packetization-mode=1;profile-level-id=64001f"),
			want: OfferInfo{Video: true, ICEUfrag: "sess"},
		},
		{
			name: "GStreamer max-bundle: second section bundle-only with port 0", role: RolePublisher,
			bug: "port-0 sections are skipped even with a=bundle-only (RFC 8843 section 6), so the video is dropped",
			offer: session("0 1") + chromiumAudio("0", "sendonly") +
				strings.Replace(chromiumVideo("1", "sendonly"), "m=video 9", "m=video 0", 1) + "a=bundle-only\r\n",
			want: OfferInfo{Audio: true, Video: true, ICEUfrag: "sess"},
		},

		{
			name: "VP8-only video", role: RolePublisher, wantStatus: http.StatusNotAcceptable, wantInMsg: "H264",
			offer: session("0") + videoSection("0", "sendonly", "96 97",
				"a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96"),
		},
		{
			name: "VP8-only video names what was offered", role: RolePublisher, wantStatus: http.StatusNotAcceptable,
			wantInMsg: "offered: VP8, rtx",
			offer: session("0") + videoSection("0", "sendonly", "96 97",
				"a=rtpmap:96 VP8/90000", "a=rtpmap:97 rtx/90000", "a=fmtp:97 apt=96"),
		},
		{
			name: "PCMU-only audio", role: RolePublisher, wantStatus: http.StatusNotAcceptable, wantInMsg: "Opus",
			offer: session("0") + audioSection("0", "sendonly", "0", "a=rtpmap:0 PCMU/8000"),
		},
		{
			name: "PCMU-only audio next to good video", role: RolePublisher, wantStatus: http.StatusNotAcceptable,
			wantInMsg: "Opus",
			offer:     session("0 1") + audioSection("0", "sendonly", "0", "a=rtpmap:0 PCMU/8000") + chromiumVideo("1", "sendonly"),
		},
		{
			name: "H264 packetization-mode 0 only", role: RolePublisher, wantStatus: http.StatusNotAcceptable,
			wantInMsg: "packetization-mode=1",
			offer: session("0") + videoSection("0", "sendonly", "107 115",
				"a=rtpmap:107 H264/90000", "a=fmtp:107 packetization-mode=0;profile-level-id=42001f",
				"a=rtpmap:115 H264/90000", "a=fmtp:115 level-asymmetry-allowed=1;profile-level-id=42e01f"),
		},
		{
			name: "H264 without profile-level-id", role: RolePublisher, wantStatus: http.StatusNotAcceptable,
			offer: session("0") + videoSection("0", "sendonly", "102", "a=rtpmap:102 H264/90000",
				"a=fmtp:102 packetization-mode=1"),
		},
		{
			name: "H264 profile nobody registered (high 4:4:4)", role: RolePublisher, wantStatus: http.StatusNotAcceptable,
			offer: session("0") + videoSection("0", "sendonly", "102", "a=rtpmap:102 H264/90000",
				"a=fmtp:102 packetization-mode=1;profile-level-id=f4001f"),
		},
		{
			name: "rtpmap for a payload type not in the m= line", role: RolePublisher, wantStatus: http.StatusNotAcceptable,
			offer: session("0") + videoSection("0", "sendonly", "96", "a=rtpmap:96 VP8/90000",
				"a=rtpmap:102 H264/90000", "a=fmtp:102 packetization-mode=1;profile-level-id=42e01f"),
		},
		{
			name: "no BUNDLE", role: RolePublisher, wantStatus: http.StatusBadRequest, wantInMsg: "BUNDLE",
			offer: session("") + chromiumAudio("0", "sendonly") + chromiumVideo("1", "sendonly"),
		},
		{
			name: "LS group is not BUNDLE", role: RolePublisher, wantStatus: http.StatusBadRequest, wantInMsg: "BUNDLE",
			offer: strings.Replace(chromeSend, "a=group:BUNDLE 0 1", "a=group:LS 0 1", 1),
		},
		{
			name: "missing rtcp-mux", role: RolePublisher, wantStatus: http.StatusBadRequest, wantInMsg: "rtcp-mux",
			offer: strings.Replace(chromeSend, "a=rtcp-mux\r\n", "", 1),
		},
		{
			name: "recvonly to a publisher", role: RolePublisher, wantStatus: http.StatusBadRequest, wantInMsg: "recvonly",
			offer: chromeRecv,
		},
		{
			name: "sendonly to a viewer", role: RoleViewer, wantStatus: http.StatusBadRequest, wantInMsg: "sendonly",
			offer: chromeSend,
		},
		{
			name: "inactive to a publisher", role: RolePublisher, wantStatus: http.StatusBadRequest, wantInMsg: "inactive",
			offer: chromiumOffer("inactive"),
		},
		{
			name: "inactive to a viewer", role: RoleViewer, wantStatus: http.StatusBadRequest, wantInMsg: "inactive",
			offer: chromiumOffer("inactive"),
		},
		{
			name: "two video sections", role: RolePublisher, wantStatus: http.StatusBadRequest, wantInMsg: "more than one video",
			offer: session("0 1 2") + chromiumAudio("0", "sendonly") + chromiumVideo("1", "sendonly") + chromiumVideo("2", "sendonly"),
		},
		{
			name: "two audio sections", role: RoleViewer, wantStatus: http.StatusBadRequest, wantInMsg: "more than one audio",
			offer: session("0 1") + chromiumAudio("0", "recvonly") + chromiumAudio("1", "recvonly"),
		},
		{
			name: "a text section", role: RolePublisher, wantStatus: http.StatusBadRequest, wantInMsg: `"text"`,
			offer: session("0") + sdpLines("m=text 9 UDP/TLS/RTP/SAVPF 98", "a=mid:0", "a=rtcp-mux", "a=rtpmap:98 t140/1000"),
		},
		{
			name: "only a data channel", role: RolePublisher, wantStatus: http.StatusBadRequest, wantInMsg: "no audio or video",
			offer: session("0") + sdpLines("m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", "a=mid:0"),
		},
		{
			name: "no media at all", role: RoleViewer, wantStatus: http.StatusBadRequest, wantInMsg: "no audio or video",
			offer: session("0"),
		},
		{name: "garbage", role: RolePublisher, wantStatus: http.StatusBadRequest, offer: "this is not SDP"},
		{name: "empty", role: RoleViewer, wantStatus: http.StatusBadRequest, offer: ""},
		{name: "JSON instead of SDP", role: RolePublisher, wantStatus: http.StatusBadRequest, offer: `{"type":"offer","sdp":"v=0"}`},
		{
			name: "truncated mid-line", role: RolePublisher, wantStatus: http.StatusBadRequest,
			offer: chromeSend[:strings.Index(chromeSend, "m=video")+9],
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			info, err := CheckOffer([]byte(tc.offer), tc.role)
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("CheckOffer = %v, want accepted", err)
				}
				if info != tc.want {
					t.Fatalf("CheckOffer = %+v, want %+v", info, tc.want)
				}
				return
			}
			var oe *OfferError
			if !errors.As(err, &oe) {
				t.Fatalf("CheckOffer error = %v (%T), want an *OfferError", err, err)
			}
			if oe.HTTPStatus() != tc.wantStatus {
				t.Fatalf("status %d (%q), want %d", oe.HTTPStatus(), oe.Error(), tc.wantStatus)
			}
			if !strings.Contains(oe.Error(), tc.wantInMsg) {
				t.Fatalf("message %q does not name %q", oe.Error(), tc.wantInMsg)
			}
		})
	}
}

func TestPreferredCodec(t *testing.T) {
	h264 := func(pt webrtc.PayloadType, fmtp string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: fmtp},
			PayloadType:        pt,
		}
	}
	codec := func(pt webrtc.PayloadType, mime string) webrtc.RTPCodecParameters {
		return webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime}, PayloadType: pt}
	}
	tests := []struct {
		name   string
		kind   webrtc.RTPCodecType
		codecs []webrtc.RTPCodecParameters
		wantPT webrtc.PayloadType
		wantOK bool
	}{
		{"opus among others", webrtc.RTPCodecTypeAudio,
			[]webrtc.RTPCodecParameters{codec(0, webrtc.MimeTypePCMU), codec(111, webrtc.MimeTypeOpus)}, 111, true},
		{"opus mime in lower case", webrtc.RTPCodecTypeAudio,
			[]webrtc.RTPCodecParameters{codec(109, "audio/opus")}, 109, true},
		{"no opus", webrtc.RTPCodecTypeAudio,
			[]webrtc.RTPCodecParameters{codec(0, webrtc.MimeTypePCMU), codec(8, webrtc.MimeTypePCMA)}, 0, false},
		{"nothing negotiated", webrtc.RTPCodecTypeVideo, nil, 0, false},
		{"42e01f preferred over earlier profiles", webrtc.RTPCodecTypeVideo, []webrtc.RTPCodecParameters{
			codec(96, webrtc.MimeTypeVP8),
			h264(108, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"),
			h264(106, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"),
			h264(102, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
		}, 102, true},
		{"42E01F in capitals", webrtc.RTPCodecTypeVideo, []webrtc.RTPCodecParameters{
			h264(108, "packetization-mode=1;profile-level-id=4d001f"),
			h264(102, "packetization-mode=1;profile-level-id=42E01F"),
		}, 102, true},
		{"first mode 1 H264 without 42e01f", webrtc.RTPCodecTypeVideo, []webrtc.RTPCodecParameters{
			h264(108, "packetization-mode=1;profile-level-id=4d001f"),
			h264(106, "packetization-mode=1;profile-level-id=42001f"),
		}, 108, true},
		{"mode 0 never, even as 42e01f", webrtc.RTPCodecTypeVideo, []webrtc.RTPCodecParameters{
			h264(115, "packetization-mode=0;profile-level-id=42e01f"),
			h264(108, "packetization-mode=1;profile-level-id=4d001f"),
		}, 108, true},
		{"only mode 0", webrtc.RTPCodecTypeVideo, []webrtc.RTPCodecParameters{
			h264(115, "profile-level-id=42e01f"),
		}, 0, false},
		{"VP8 and VP9 only", webrtc.RTPCodecTypeVideo, []webrtc.RTPCodecParameters{
			codec(96, webrtc.MimeTypeVP8), codec(98, webrtc.MimeTypeVP9),
		}, 0, false},
		{"opus is not video", webrtc.RTPCodecTypeVideo, []webrtc.RTPCodecParameters{codec(111, webrtc.MimeTypeOpus)}, 0, false},
		{"H264 is not audio", webrtc.RTPCodecTypeAudio, []webrtc.RTPCodecParameters{
			h264(102, "packetization-mode=1;profile-level-id=42e01f"),
		}, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := PreferredCodec(tc.kind, tc.codecs)
			if ok != tc.wantOK || (ok && got.PayloadType != tc.wantPT) {
				t.Fatalf("PreferredCodec = PT %d, %v; want PT %d, %v", got.PayloadType, ok, tc.wantPT, tc.wantOK)
			}
		})
	}
}

func TestFmtpParam(t *testing.T) {
	const chrome = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	tests := []struct {
		line, key, want string
	}{
		{chrome, "packetization-mode", "1"},
		{chrome, "profile-level-id", "42e01f"},
		{chrome, "level-asymmetry-allowed", "1"},
		{chrome, "PROFILE-LEVEL-ID", "42e01f"},
		{chrome, "sprop-parameter-sets", ""},
		{chrome, "mode", ""}, // no suffix matches
		{"profile-level-id=42A01E; packetization-mode=1; sprop-parameter-sets=Z0IACpZTBYmI,aMljiA==", "packetization-mode", "1"}, // RFC 6184 section 8.2.1
		{"profile-level-id=42e01f ; packetization-mode=1 ", "profile-level-id", "42e01f"},
		{" packetization-mode=1", "packetization-mode", "1"},
		{"sprop-parameter-sets=Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg==", "sprop-parameter-sets", "Z0LAHtkDxWhAAAADAEAAAAwDxYuS,aMuMsg=="},
		{"a=1;a=2", "a", "1"},
		{"flag;a=1", "flag", ""},
		{"minptime=10;useinbandfec=1", "useinbandfec", "1"},
		{"", "packetization-mode", ""},
		{";;;", "", ""},
		{"=x", "", "x"},
	}
	for _, tc := range tests {
		if got := FmtpParam(tc.line, tc.key); got != tc.want {
			t.Errorf("FmtpParam(%q, %q) = %q, want %q", tc.line, tc.key, got, tc.want)
		}
	}
}

func TestIsH264Mode1(t *testing.T) {
	tests := []struct {
		mime, fmtp string
		want       bool
	}{
		{webrtc.MimeTypeH264, "packetization-mode=1;profile-level-id=42e01f", true},
		{"video/h264", "packetization-mode=1", true},
		{webrtc.MimeTypeH264, "packetization-mode=0;profile-level-id=42e01f", false},
		{webrtc.MimeTypeH264, "profile-level-id=42e01f", false},
		{webrtc.MimeTypeVP8, "packetization-mode=1", false},
	}
	for _, tc := range tests {
		c := webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: tc.mime, SDPFmtpLine: tc.fmtp}}
		if got := IsH264Mode1(c); got != tc.want {
			t.Errorf("IsH264Mode1(%s %q) = %v, want %v", tc.mime, tc.fmtp, got, tc.want)
		}
	}
}

// Every offer CheckOffer accepts, pion must accept too: otherwise the
// client gets a late 400 (or worse) after the gateway committed to it.
func TestCheckedOffersAreAnswerable(t *testing.T) {
	for _, tc := range []struct {
		name  string
		offer string
		role  Role
	}{
		{"Chromium publisher", chromiumOffer("sendonly"), RolePublisher},
		{"Chromium viewer", chromiumOffer("recvonly"), RoleViewer},
		{"Firefox viewer", firefoxOffer(), RoleViewer},
		{"OBS publisher", obsOffer(), RolePublisher},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CheckOffer([]byte(tc.offer), tc.role); err != nil {
				t.Fatal(err)
			}
			m := &webrtc.MediaEngine{}
			if err := registerCodecs(m); err != nil {
				t.Fatal(err)
			}
			pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: tc.offer}); err != nil {
				t.Fatalf("pion refuses an offer CheckOffer accepted: %v", err)
			}
			answer, err := pc.CreateAnswer(nil)
			if err != nil {
				t.Fatal(err)
			}
			// The answer names an H264 payload type the offer had in mode 1.
			// The answer carries both sections with codecs of the offer.
			if !strings.Contains(answer.SDP, " H264/90000") || !strings.Contains(answer.SDP, " opus/48000/2") {
				t.Fatalf("answer lacks H264 or Opus:\n%s", answer.SDP)
			}
		})
	}
}
