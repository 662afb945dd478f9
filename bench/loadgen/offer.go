package loadgen

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// What a viewer offers: what a browser offers that the gateway routes (see
// gateway/rtc CheckOffer), and nothing else.
const (
	videoPT  = 102
	audioPT  = 111
	h264Fmtp = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	opusFmtp = "minptime=10;useinbandfec=1"
	// hostPriority is RFC 8445 section 5.1.2.1's priority for a host
	// candidate of component 1 with the highest local preference.
	hostPriority = 126<<24 | 65535<<8 | (256 - 1)
)

// offerParams are the per-viewer parts of the offer.
type offerParams struct {
	sessionID   uint64
	ufrag, pwd  string
	fingerprint string // sha-256, upper-case hex pairs with colons
	candidate   netip.AddrPort
}

// buildOffer writes the viewer's offer: BUNDLE of a video (mid 0) and an
// audio (mid 1) section, both recvonly with rtcp-mux, our ICE credentials,
// DTLS fingerprint and actpass, and our one host candidate, complete.
func buildOffer(p offerParams) string {
	ipVer, anyAddr := "IP4", "0.0.0.0"
	if p.candidate.Addr().Is6() {
		ipVer, anyAddr = "IP6", "::"
	}
	var b strings.Builder
	line := func(format string, a ...any) {
		fmt.Fprintf(&b, format, a...)
		b.WriteString("\r\n")
	}
	line("v=0")
	line("o=- %d 2 IN %s %s", p.sessionID, ipVer, p.candidate.Addr())
	line("s=-")
	line("t=0 0")
	line("a=group:BUNDLE 0 1")
	line("a=msid-semantic: WMS")
	section := func(media string, mid, pt int, rtpmap, fmtp string, feedback []string, candidate bool) {
		line("m=%s 9 UDP/TLS/RTP/SAVPF %d", media, pt)
		line("c=IN %s %s", ipVer, anyAddr)
		line("a=rtcp:9 IN %s %s", ipVer, anyAddr)
		line("a=ice-ufrag:%s", p.ufrag)
		line("a=ice-pwd:%s", p.pwd)
		line("a=fingerprint:sha-256 %s", p.fingerprint)
		line("a=setup:actpass")
		line("a=mid:%d", mid)
		line("a=recvonly")
		line("a=rtcp-mux")
		line("a=rtpmap:%d %s", pt, rtpmap)
		for _, fb := range feedback {
			line("a=rtcp-fb:%d %s", pt, fb)
		}
		line("a=fmtp:%d %s", pt, fmtp)
		if candidate {
			line("a=candidate:1 1 udp %d %s %d typ host", hostPriority, p.candidate.Addr(), p.candidate.Port())
		}
		line("a=end-of-candidates")
	}
	section("video", 0, videoPT, "H264/90000", h264Fmtp, []string{"nack", "nack pli"}, true)
	section("audio", 1, audioPT, "opus/48000/2", opusFmtp, nil, false)
	return b.String()
}

// answer is what a viewer needs from the gateway's answer.
type answer struct {
	// lite: the gateway is an ICE-lite agent (RFC 8445 section 2.5): it
	// sends no checks, so ours must keep its consent (RFC 7675).
	lite        bool
	ufrag, pwd  string
	fingerprint string // sha-256, as written
	candidates  []netip.AddrPort
	media       mediaMap
}

// mediaMap tells video from audio packets: by the SSRCs the answer
// announces, else by the payload types it accepted.
type mediaMap struct {
	videoSSRC, audioSSRC []uint32
	videoPT, audioPT     []uint8
}

func (m *mediaMap) kindOf(ssrc uint32, pt uint8) kind {
	switch {
	case slices.Contains(m.videoSSRC, ssrc):
		return kindVideo
	case slices.Contains(m.audioSSRC, ssrc):
		return kindAudio
	case slices.Contains(m.videoPT, pt):
		return kindVideo
	case slices.Contains(m.audioPT, pt):
		return kindAudio
	}
	return kindUnknown
}

// parseAnswer reads the gateway's answer. Credentials and fingerprint may
// be at session or media level (the first media section wins, as in BUNDLE).
func parseAnswer(raw []byte) (answer, error) {
	var a answer
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(string(raw)); err != nil {
		return a, fmt.Errorf("answer is not valid SDP: %w", err)
	}
	take := func(attrs []sdp.Attribute) {
		for _, at := range attrs {
			switch at.Key {
			case "ice-ufrag":
				if a.ufrag == "" {
					a.ufrag = at.Value
				}
			case "ice-pwd":
				if a.pwd == "" {
					a.pwd = at.Value
				}
			case "fingerprint":
				alg, fp, ok := strings.Cut(at.Value, " ")
				if ok && strings.EqualFold(alg, "sha-256") && a.fingerprint == "" {
					a.fingerprint = strings.TrimSpace(fp)
				}
			case "candidate":
				if c, ok := parseHostCandidate(at.Value); ok && !slices.Contains(a.candidates, c) {
					a.candidates = append(a.candidates, c)
				}
			}
		}
	}
	take(desc.Attributes)
	_, a.lite = desc.Attribute("ice-lite")
	for _, m := range desc.MediaDescriptions {
		take(m.Attributes)
		if m.MediaName.Port.Value == 0 {
			continue // rejected section
		}
		var ssrcs *[]uint32
		var pts *[]uint8
		switch m.MediaName.Media {
		case "video":
			ssrcs, pts = &a.media.videoSSRC, &a.media.videoPT
		case "audio":
			ssrcs, pts = &a.media.audioSSRC, &a.media.audioPT
		default:
			continue
		}
		for _, f := range m.MediaName.Formats {
			if pt, err := strconv.ParseUint(f, 10, 7); err == nil {
				*pts = append(*pts, uint8(pt))
			}
		}
		for _, at := range m.Attributes {
			if at.Key != "ssrc" {
				continue
			}
			id, _, _ := strings.Cut(at.Value, " ")
			if ssrc, err := strconv.ParseUint(id, 10, 32); err == nil && !slices.Contains(*ssrcs, uint32(ssrc)) {
				*ssrcs = append(*ssrcs, uint32(ssrc))
			}
		}
	}
	var missing []string
	if a.ufrag == "" || a.pwd == "" {
		missing = append(missing, "ice-ufrag/ice-pwd")
	}
	if a.fingerprint == "" {
		missing = append(missing, "a sha-256 fingerprint")
	}
	if len(a.candidates) == 0 {
		missing = append(missing, "a UDP host candidate")
	}
	if len(missing) > 0 {
		return a, fmt.Errorf("answer lacks %s", strings.Join(missing, " and "))
	}
	return a, nil
}

// parseHostCandidate reads a UDP host candidate's address from an
// a=candidate value (RFC 8839 section 5.1):
// foundation component transport priority address port "typ" type ...
func parseHostCandidate(v string) (netip.AddrPort, bool) {
	f := strings.Fields(v)
	if len(f) < 8 || f[1] != "1" || !strings.EqualFold(f[2], "udp") || f[6] != "typ" || f[7] != "host" {
		return netip.AddrPort{}, false
	}
	ip, err := netip.ParseAddr(f[4])
	if err != nil {
		return netip.AddrPort{}, false // an mDNS name: not for a load generator
	}
	port, err := strconv.ParseUint(f[5], 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(port)), true
}

// pickCandidate chooses the gateway candidate to check from a socket
// bound to local: same address family; the same address if offered, else a
// loopback one for a loopback socket, else the first.
func pickCandidate(cands []netip.AddrPort, local netip.Addr) (netip.AddrPort, error) {
	var best netip.AddrPort
	score := -1
	for _, c := range cands {
		if c.Addr().Is4() != local.Is4() {
			continue
		}
		s := 0
		switch {
		case c.Addr() == local:
			s = 2
		case c.Addr().IsLoopback() == local.IsLoopback():
			s = 1
		}
		if s > score {
			best, score = c, s
		}
	}
	if score < 0 {
		return best, errors.New("the answer has no UDP host candidate of the local address family")
	}
	return best, nil
}
