package peer

import (
	"strings"

	"github.com/pion/sdp/v3"
)

// RestartFragment is the server's half of an ICE restart over WHIP or WHEP
// (RFC 9725 section 4.4): an application/trickle-ice-sdpfrag (RFC 8840)
// with the gateway's new credentials and its candidates, on the first
// section of the BUNDLE group, as RFC 9725's example shows it.
func RestartFragment(local Credentials, neg Negotiated, cands []Candidate) []byte {
	var b strings.Builder
	b.WriteString("a=ice-lite\r\n")
	b.WriteString("a=ice-ufrag:" + local.Ufrag + "\r\n")
	b.WriteString("a=ice-pwd:" + local.Pwd + "\r\n")
	if len(neg.BundleMids) == 0 {
		return []byte(b.String())
	}
	b.WriteString("a=group:BUNDLE " + strings.Join(neg.BundleMids, " ") + "\r\n")
	kind, mid := "audio", neg.BundleMids[0]
	switch {
	case neg.Video != nil && neg.Video.Mid == mid:
		kind = "video"
	case neg.Application != nil && neg.Application.Mid == mid:
		kind = "application"
	}
	proto, format := "UDP/TLS/RTP/SAVPF", "0"
	if kind == "application" {
		proto, format = "UDP/DTLS/SCTP", "webrtc-datachannel"
	}
	b.WriteString("m=" + kind + " 9 " + proto + " " + format + "\r\n")
	b.WriteString("a=mid:" + mid + "\r\n")
	for _, c := range cands {
		b.WriteString("a=" + sdp.AttrKeyCandidate + ":" + candidateValue(c, cands) + "\r\n")
	}
	b.WriteString("a=end-of-candidates\r\n")
	return []byte(b.String())
}
