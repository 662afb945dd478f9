// Package rtc holds what the WHIP and WHEP sides share about WebRTC: the
// codecs frontrow routes, the pion APIs built from the configuration (one UDP
// port for every ICE session), and the checks an offer must pass.
package rtc

import (
	"strings"

	"github.com/pion/webrtc/v4"
)

// The codecs frontrow routes, one place for the decision. Only H264 with
// packetization-mode 1 (RFC 6184 section 6.3) and Opus (RFC 7587); NACK, PLI
// and FIR feedback; no RTX, RED or FEC, which nothing here implements.
//
// Several H264 profiles are registered because pion matches profile_idc and
// constraint flags exactly: Chromium offers constrained baseline (42e01f,
// 42001f) and main (4d001f), never High, yet decodes High when the answer
// names an offered payload type, so viewers are answered with what they
// offered and get the stream as it is.
var h264Profiles = []struct {
	pt  webrtc.PayloadType
	fmt string
}{
	{102, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
	{106, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f"},
	{108, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f"},
	{112, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f"},
}

// opusCodec is Opus as browsers offer it (RFC 7587 section 7).
var opusCodec = webrtc.RTPCodecCapability{
	MimeType:    webrtc.MimeTypeOpus,
	ClockRate:   48000,
	Channels:    2,
	SDPFmtpLine: "minptime=10;useinbandfec=1",
}

var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "nack"},
	{Type: "nack", Parameter: "pli"},
	{Type: "ccm", Parameter: "fir"},
}

// registerCodecs puts frontrow's codecs, and only those, in a media engine.
func registerCodecs(m *webrtc.MediaEngine) error {
	for _, p := range h264Profiles {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: p.fmt, RTCPFeedback: videoFeedback,
			},
			PayloadType: p.pt,
		}, webrtc.RTPCodecTypeVideo); err != nil {
			return err
		}
	}
	return m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opusCodec, PayloadType: 111},
		webrtc.RTPCodecTypeAudio)
}

// IsH264Mode1 reports whether negotiated parameters are H264 that frontrow
// can route (packetization-mode 1).
func IsH264Mode1(c webrtc.RTPCodecParameters) bool {
	return strings.EqualFold(c.MimeType, webrtc.MimeTypeH264) &&
		FmtpParam(c.SDPFmtpLine, "packetization-mode") == "1"
}

// PreferredCodec picks, among the codecs a peer negotiated for a track, the
// one frontrow sends: Opus for audio; for video H264 mode 1, constrained
// baseline 42e01f first (Chromium decodes any profile it is answered with).
func PreferredCodec(kind webrtc.RTPCodecType, negotiated []webrtc.RTPCodecParameters) (webrtc.RTPCodecParameters, bool) {
	var best webrtc.RTPCodecParameters
	found := false
	for _, c := range negotiated {
		switch kind {
		case webrtc.RTPCodecTypeAudio:
			if strings.EqualFold(c.MimeType, webrtc.MimeTypeOpus) {
				return c, true
			}
		case webrtc.RTPCodecTypeVideo:
			if !IsH264Mode1(c) {
				continue
			}
			if strings.EqualFold(FmtpParam(c.SDPFmtpLine, "profile-level-id"), "42e01f") {
				return c, true
			}
			if !found {
				best, found = c, true
			}
		}
	}
	return best, found
}

// FmtpParam returns one key's value from an a=fmtp parameter line: the one
// place fmtp is read (codec policy here, the answer in gateway/peer).
func FmtpParam(line, key string) string {
	for _, kv := range strings.Split(line, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, key) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
