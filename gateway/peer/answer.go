package peer

import (
	"errors"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/dtls/v3/pkg/crypto/fingerprint"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/gateway/rtc"
)

// What the answer announces for a data channel (RFC 8841): the gateway's
// SCTP port, and the largest message it takes (pion/sctp's default receive
// limit, and RFC 8841 section 6.1's default when the attribute is absent).
const (
	SCTPPort       = 5000
	MaxMessageSize = 65536
)

// Track is what the gateway sends in one media section.
type Track struct {
	// Kind is "audio" or "video"; empty takes the kind of the
	// AnswerConfig field the track is in.
	Kind string
	SSRC uint32
	// RTXSSRC is the RFC 4588 retransmission stream's SSRC, 0 for none.
	RTXSSRC uint32
	// StreamID and TrackID are the a=msid values (RFC 8830).
	StreamID, TrackID string
}

// Candidate is one of the gateway's host candidates.
type Candidate struct {
	Network string // "udp" or "tcp" (passive, RFC 6544)
	Addr    netip.AddrPort
}

// Feedback is the optional congestion-control feedback the gateway takes.
// NACK, PLI and FIR are always accepted when offered.
type Feedback struct {
	// TransportCC accepts transport-wide congestion control: the
	// transport-cc rtcp-fb and its RTP header extension, both or neither.
	TransportCC bool
	// REMB accepts goog-remb.
	REMB bool
}

// AnswerConfig is the gateway's side of the answer.
type AnswerConfig struct {
	ICE Credentials
	// Fingerprint is the DTLS certificate's, "sha-256 AB:CD:...".
	Fingerprint string
	// Candidates are listed in the answer (the gateway does not trickle),
	// UDP ranked above TCP, each in the order given.
	Candidates []Candidate
	CNAME      string
	// Video and Audio are the stream's tracks; nil when it has none.
	Video, Audio *Track
	// DataChannel accepts an offered m=application (SCTP over DTLS).
	DataChannel bool
	Feedback    Feedback
}

// Negotiated is what the answer agreed, for the transport to use.
type Negotiated struct {
	// Video and Audio are nil when not accepted: absent from the offer,
	// rejected, or the stream lacks the kind.
	Video, Audio *Section
	// Application is the accepted data channel section, nil for none.
	Application *AppSection
	// BundleMids are the accepted sections' mids, in offer order: the
	// answer's BUNDLE group. The first is the one carrying the candidates.
	BundleMids []string
	// RemoteUfrag and RemotePwd are the offer's ICE credentials (session
	// or media level).
	RemoteUfrag, RemotePwd string
	// RemoteFingerprint is the offer's, "sha-256 AB:CD:..." (sha-256 when
	// the offer lists several).
	RemoteFingerprint string
	// RemoteSetup is the offer's a=setup: "actpass" or "active" (the
	// default when absent, RFC 4145 section 4). The gateway is passive,
	// the DTLS server.
	RemoteSetup string
	// Rejected says, for each offer section the answer rejected or left
	// inactive, why: for logs.
	Rejected []string
}

// Section is one accepted audio or video section.
type Section struct {
	Mid string
	// Send is false when the answer made the section inactive (the offer
	// was sendonly or inactive): nothing may be sent on it.
	Send bool
	// PayloadType is the offer's number for the chosen codec, and
	// RTXPayloadType its rtx (apt=PayloadType), 0 when the offer had none
	// or the track has no RTX SSRC.
	PayloadType, RTXPayloadType uint8
	ClockRate                   uint32
	// Fmtp is the chosen codec's a=fmtp parameters, as offered.
	Fmtp string
	// The rtcp-fb the offer listed for the chosen payload type and the
	// answer accepted.
	NACK, PLI, FIR, TransportCC, REMB bool
	// ReducedSizeRTCP is a=rtcp-rsize (RFC 5506), offered and accepted.
	ReducedSizeRTCP bool
	// Extensions maps the accepted RTP header extensions' URIs to the
	// offer's ids.
	Extensions map[string]int
}

// AppSection is an accepted data channel section.
type AppSection struct {
	Mid string
	// SCTPPort is the offer's a=sctp-port (5000 when absent).
	SCTPPort int
	// MaxMessageSize is the offer's a=max-message-size: what the peer
	// takes. 65536 when absent; 0 means any size (RFC 8841 section 6).
	MaxMessageSize uint64
}

// Answer writes the SDP answer to a WHEP viewer's offer. The gateway is
// ICE-lite and the DTLS server (a=setup:passive), sends one video and one
// audio track on one BUNDLE transport with rtcp-mux, and lists all its
// candidates. Each offer section gets an answer section in the same order
// (RFC 3264 section 6): accepted ones sendonly (inactive when the offer
// does not receive), the others rejected with port 0 and left out of the
// BUNDLE group (RFC 8843 section 7.3.3).
//
// Codec choice is rtc.PreferredCodec's: H264 packetization-mode 1,
// 42e01f first, else the first such H264 offered, whatever its profile
// (Chromium decodes any profile when answered with one it offered); Opus.
// The answer names the offer's payload type numbers.
//
// An offer the gateway refuses is an *rtc.OfferError with the HTTP status
// for the client (400, or 406 when nothing in it can be served); a bad
// config is a plain error.
func Answer(offer []byte, cfg AnswerConfig) ([]byte, Negotiated, error) {
	raw, neg, err := buildAnswer(offer, cfg)
	if err != nil {
		return nil, Negotiated{}, err
	}
	return raw, neg, nil
}

func buildAnswer(offer []byte, cfg AnswerConfig) ([]byte, Negotiated, error) {
	var neg Negotiated
	if err := cfg.validate(); err != nil {
		return nil, neg, fmt.Errorf("peer: answer config: %w", err)
	}
	var off sdp.SessionDescription
	if err := off.Unmarshal(offer); err != nil {
		return nil, neg, refuseOffer(http.StatusBadRequest, "offer is not valid SDP: %v", err)
	}
	if len(off.MediaDescriptions) == 0 {
		return nil, neg, refuseOffer(http.StatusBadRequest, "offer has no media sections")
	}
	bundle := bundleGroup(&off)
	if len(bundle) == 0 {
		return nil, neg, refuseOffer(http.StatusBadRequest, "offer must use BUNDLE (a=group:BUNDLE)")
	}
	if _, lite := off.Attribute(sdp.AttrKeyICELite); lite {
		return nil, neg, refuseOffer(http.StatusBadRequest,
			"offer is ICE-lite; the gateway is ICE-lite too, so the offerer must run full ICE")
	}
	if err := readRemote(&off, bundle, &neg); err != nil {
		return nil, neg, err
	}

	ans, err := sdp.NewJSEPSessionDescription(false) // o= with a crypto-random session id
	if err != nil {
		return nil, neg, fmt.Errorf("peer: answer session id: %w", err)
	}
	ans.WithPropertyAttribute(sdp.AttrKeyICELite)

	w := answerWriter{cfg: cfg, neg: &neg}
	sections := make([]*sdp.MediaDescription, len(off.MediaDescriptions))
	for i, m := range off.MediaDescriptions {
		sections[i] = w.section(m, bundle)
	}
	if !sends(neg.Video) && !sends(neg.Audio) {
		return nil, neg, refuseOffer(http.StatusNotAcceptable, "nothing in the offer that the gateway can send: %s",
			strings.Join(neg.Rejected, "; "))
	}

	// The candidates go in the answerer's BUNDLE-tagged section, the first
	// mid of the group (RFC 8843 section 7.3.1; browsers and pion read
	// them there and ignore them elsewhere). Credentials, fingerprint and
	// setup are in every accepted section, as Chromium and pion write
	// them: harmless under BUNDLE, and enough for a peer that checks each.
	for _, md := range sections {
		if mid, _ := md.Attribute(sdp.AttrKeyMID); md.MediaName.Port.Value != 0 && mid == neg.BundleMids[0] {
			for _, c := range cfg.Candidates {
				md.WithValueAttribute(sdp.AttrKeyCandidate, candidateValue(c, cfg.Candidates))
			}
			md.WithPropertyAttribute(sdp.AttrKeyEndOfCandidates)
		}
	}

	// No a=ice-options:trickle: an ICE-lite agent has all its candidates
	// in the answer and needs none of the peer's (it only answers checks),
	// so there is nothing to trickle either way.
	ans.WithValueAttribute(sdp.AttrKeyGroup, "BUNDLE "+strings.Join(neg.BundleMids, " "))
	if _, ok := off.Attribute(sdp.AttrKeyExtMapAllowMixed); ok {
		ans.WithPropertyAttribute(sdp.AttrKeyExtMapAllowMixed)
	}
	ans.WithValueAttribute(sdp.AttrKeyMsidSemantic, "WMS *") // as pion and Firefox write it
	ans.MediaDescriptions = sections
	raw, err := ans.Marshal()
	if err != nil {
		return nil, neg, fmt.Errorf("peer: marshal answer: %w", err)
	}
	return raw, neg, nil
}

func sends(s *Section) bool { return s != nil && s.Send }

func refuseOffer(status int, format string, a ...any) *rtc.OfferError {
	return &rtc.OfferError{Status: status, Msg: fmt.Sprintf(format, a...)}
}

func (cfg *AnswerConfig) validate() error {
	if cfg.ICE.Ufrag == "" || cfg.ICE.Pwd == "" {
		return errors.New("no ICE credentials")
	}
	algo, value, ok := strings.Cut(cfg.Fingerprint, " ")
	if !ok || value == "" {
		return fmt.Errorf("fingerprint %q is not \"ALGORITHM HEX:HEX:...\"", cfg.Fingerprint)
	}
	if _, err := fingerprint.HashFromString(algo); err != nil {
		return fmt.Errorf("fingerprint %q: %w", cfg.Fingerprint, err)
	}
	for _, c := range cfg.Candidates {
		if n := strings.ToLower(c.Network); n != "udp" && n != "tcp" {
			return fmt.Errorf("candidate %v: network %q is not udp or tcp", c.Addr, c.Network)
		}
		if !c.Addr.IsValid() || c.Addr.Port() == 0 {
			return fmt.Errorf("candidate %s %v: no address or port", c.Network, c.Addr)
		}
	}
	for _, kt := range []struct {
		kind string
		t    *Track
	}{{"video", cfg.Video}, {"audio", cfg.Audio}} {
		kind, t := kt.kind, kt.t
		if t == nil {
			continue
		}
		if t.Kind != "" && t.Kind != kind {
			return fmt.Errorf("the %s track says it is %q", kind, t.Kind)
		}
		if t.SSRC == 0 {
			return fmt.Errorf("the %s track has no SSRC", kind)
		}
		if t.RTXSSRC == t.SSRC {
			return fmt.Errorf("the %s track's RTX SSRC is its SSRC", kind)
		}
		if cfg.CNAME == "" {
			return errors.New("no CNAME")
		}
	}
	return nil
}

// bundleGroup is the offer's first BUNDLE group; the gateway has one
// transport, so sections outside it are rejected.
func bundleGroup(s *sdp.SessionDescription) []string {
	for _, a := range s.Attributes {
		if a.Key != sdp.AttrKeyGroup {
			continue
		}
		if f := strings.Fields(a.Value); len(f) > 1 && f[0] == "BUNDLE" {
			return f[1:]
		}
	}
	return nil
}

// readRemote takes the offer's ICE credentials, fingerprint and DTLS
// role: session level first, then the offerer-tagged section (the first
// mid of the BUNDLE group, RFC 8843 section 7.2.1), then any other
// section of the group.
func readRemote(off *sdp.SessionDescription, bundle []string, neg *Negotiated) error {
	var group []*sdp.MediaDescription
	for _, mid := range bundle {
		for _, m := range off.MediaDescriptions {
			if v, _ := m.Attribute(sdp.AttrKeyMID); v == mid {
				group = append(group, m)
			}
		}
	}
	lookup := func(key string) []string {
		var vals []string
		for _, a := range off.Attributes {
			if a.Key == key {
				vals = append(vals, strings.TrimSpace(a.Value))
			}
		}
		for _, m := range group {
			if len(vals) > 0 {
				break
			}
			for _, a := range m.Attributes {
				if a.Key == key {
					vals = append(vals, strings.TrimSpace(a.Value))
				}
			}
		}
		return vals
	}
	first := func(key string) string {
		if v := lookup(key); len(v) > 0 {
			return v[0]
		}
		return ""
	}

	neg.RemoteUfrag, neg.RemotePwd = first("ice-ufrag"), first("ice-pwd")
	if neg.RemoteUfrag == "" || neg.RemotePwd == "" {
		return refuseOffer(http.StatusBadRequest, "offer has no ICE credentials (a=ice-ufrag and a=ice-pwd)")
	}

	fps := lookup("fingerprint")
	if len(fps) == 0 {
		return refuseOffer(http.StatusBadRequest, "offer has no DTLS fingerprint (a=fingerprint)")
	}
	for _, fp := range fps {
		algo, value, _ := strings.Cut(fp, " ")
		if _, err := fingerprint.HashFromString(algo); err != nil || strings.TrimSpace(value) == "" {
			continue
		}
		fp = strings.ToLower(algo) + " " + strings.TrimSpace(value)
		if neg.RemoteFingerprint == "" || strings.EqualFold(algo, "sha-256") {
			neg.RemoteFingerprint = fp
		}
		if strings.EqualFold(algo, "sha-256") {
			break
		}
	}
	if neg.RemoteFingerprint == "" {
		return refuseOffer(http.StatusBadRequest, "offer's DTLS fingerprint %q is not ALGORITHM HEX:HEX:... with a known hash", fps[0])
	}

	switch setup := first(sdp.AttrKeyConnectionSetup); setup {
	case "actpass", "active":
		neg.RemoteSetup = setup
	case "":
		neg.RemoteSetup = "active"
	case "passive":
		return refuseOffer(http.StatusBadRequest,
			"offer has a=setup:passive; the gateway is the DTLS server, so the offer must be actpass or active (RFC 9725 section 4.2)")
	default:
		return refuseOffer(http.StatusBadRequest, "offer has a=setup:%s; it must be actpass or active", setup)
	}
	return nil
}

// answerWriter builds the answer sections one offer section at a time.
type answerWriter struct {
	cfg AnswerConfig
	neg *Negotiated
}

// section answers one offer section, recording what was accepted.
func (w *answerWriter) section(m *sdp.MediaDescription, bundle []string) *sdp.MediaDescription {
	mid, hasMid := m.Attribute(sdp.AttrKeyMID)
	kind := m.MediaName.Media
	reject := func(format string, a ...any) *sdp.MediaDescription {
		w.neg.Rejected = append(w.neg.Rejected, fmt.Sprintf("mid %s (%s): ", mid, kind)+fmt.Sprintf(format, a...))
		return rejectedSection(m)
	}
	_, bundleOnly := m.Attribute("bundle-only")
	switch {
	case m.MediaName.Port.Value == 0 && !bundleOnly:
		return reject("rejected in the offer")
	case !hasMid || !slices.Contains(bundle, mid):
		return reject("not in the BUNDLE group")
	}
	switch kind {
	case "audio", "video":
		return w.media(m, mid, kind, bundleOnly, reject)
	case "application":
		return w.application(m, mid, reject)
	}
	return reject("the gateway sends only audio, video and data channels")
}

func (w *answerWriter) media(m *sdp.MediaDescription, mid, kind string, bundleOnly bool,
	reject func(string, ...any) *sdp.MediaDescription,
) *sdp.MediaDescription {
	track, slot := w.cfg.Video, &w.neg.Video
	if kind == "audio" {
		track, slot = w.cfg.Audio, &w.neg.Audio
	}
	proto := strings.Join(m.MediaName.Protos, "/")
	switch {
	case track == nil:
		return reject("the stream has no %s", kind)
	case *slot != nil:
		return reject("a second %s section; the stream has one %s track", kind, kind)
	case !slices.Contains(m.MediaName.Protos, "RTP") || !slices.ContainsFunc(m.MediaName.Protos, isSAVP):
		return reject("protocol %s is not DTLS-SRTP", proto)
	}
	if _, ok := m.Attribute(sdp.AttrKeyRTCPMux); !ok && !bundleOnly {
		return reject("no a=rtcp-mux")
	}

	codecs := sectionCodecs(m)
	chosen, ok := chooseCodec(kind, m.MediaName.Formats, codecs)
	if !ok {
		var offered []string
		for _, f := range m.MediaName.Formats {
			if c, ok := codecs[f]; ok && c.Name != "" && !slices.Contains(offered, c.Name) {
				offered = append(offered, c.Name)
			}
		}
		want := "Opus"
		if kind == "video" {
			want = "H264 with packetization-mode=1"
		}
		return reject("no %s (offered: %s)", want, strings.Join(offered, ", "))
	}

	sec := &Section{Mid: mid, PayloadType: chosen.PayloadType, ClockRate: chosen.ClockRate, Fmtp: chosen.Fmtp,
		Extensions: map[string]int{}}
	formats := []string{strconv.Itoa(int(chosen.PayloadType))}
	var rtx sdp.Codec
	if track.RTXSSRC != 0 {
		rtx, ok = findRTX(m.MediaName.Formats, codecs, chosen)
		if ok {
			sec.RTXPayloadType = rtx.PayloadType
			formats = append(formats, strconv.Itoa(int(rtx.PayloadType)))
		}
	}

	// Direction (RFC 3264 section 6.1): the gateway only sends.
	dir := "sendrecv" // RFC 8866 section 6.7: the default
	for _, d := range []string{"sendrecv", "sendonly", "recvonly", "inactive"} {
		if _, ok := m.Attribute(d); ok {
			dir = d
		}
	}
	answerDir := "sendonly"
	if dir == "sendonly" || dir == "inactive" {
		answerDir = "inactive"
		w.neg.Rejected = append(w.neg.Rejected, fmt.Sprintf("mid %s (%s): offered %s, answered inactive", mid, kind, dir))
	}
	sec.Send = answerDir == "sendonly"

	// Header extensions: the MID (RFC 8843 section 15), and transport-wide
	// sequence numbers only with their feedback.
	twccExt, twccID := offeredExtension(m, sdp.TransportCCURI)
	fb := codecs[strconv.Itoa(int(chosen.PayloadType))].RTCPFeedback
	var answerFB []string
	for _, f := range fb {
		f = strings.Join(strings.Fields(f), " ")
		accept := false
		switch f {
		case "nack":
			sec.NACK, accept = true, true
		case "nack pli":
			sec.PLI, accept = true, true
		case "ccm fir":
			sec.FIR, accept = true, true
		case "goog-remb":
			sec.REMB, accept = w.cfg.Feedback.REMB, w.cfg.Feedback.REMB
		case "transport-cc":
			ok := w.cfg.Feedback.TransportCC && twccExt != nil
			sec.TransportCC, accept = ok, ok
		}
		if accept && !slices.Contains(answerFB, f) {
			answerFB = append(answerFB, f)
		}
	}

	md := newSection(m, formats)
	w.transport(md, mid)
	if midExt, id := offeredExtension(m, sdp.SDESMidURI); midExt != nil {
		md.WithExtMap(*answerExtension(midExt))
		sec.Extensions[sdp.SDESMidURI] = id
	}
	if sec.TransportCC {
		md.WithExtMap(*answerExtension(twccExt))
		sec.Extensions[sdp.TransportCCURI] = twccID
	}
	if _, ok := m.Attribute(sdp.AttrKeyExtMapAllowMixed); ok {
		md.WithPropertyAttribute(sdp.AttrKeyExtMapAllowMixed)
	}
	md.WithPropertyAttribute(answerDir)
	msid := ""
	if sec.Send && (track.StreamID != "" || track.TrackID != "") {
		msid = track.StreamID
		if msid == "" {
			msid = "-" // no stream (RFC 8830 section 2)
		}
		if track.TrackID != "" {
			msid += " " + track.TrackID
		}
		md.WithValueAttribute(sdp.AttrKeyMsid, msid)
	}
	md.WithPropertyAttribute(sdp.AttrKeyRTCPMux)
	if _, ok := m.Attribute(sdp.AttrKeyRTCPRsize); ok {
		md.WithPropertyAttribute(sdp.AttrKeyRTCPRsize)
		sec.ReducedSizeRTCP = true
	}
	writeCodec(md, chosen, answerFB)
	if sec.RTXPayloadType != 0 {
		writeCodec(md, rtx, nil)
	}
	if sec.Send {
		ssrcs := []uint32{track.SSRC}
		if sec.RTXPayloadType != 0 {
			ssrcs = append(ssrcs, track.RTXSSRC)
			md.WithValueAttribute(sdp.AttrKeySSRCGroup, fmt.Sprintf("%s %d %d",
				sdp.SemanticTokenFlowIdentification, track.SSRC, track.RTXSSRC))
		}
		for _, s := range ssrcs {
			md.WithValueAttribute(sdp.AttrKeySSRC, fmt.Sprintf("%d cname:%s", s, w.cfg.CNAME))
			if msid != "" {
				md.WithValueAttribute(sdp.AttrKeySSRC, fmt.Sprintf("%d msid:%s", s, msid))
			}
		}
	}
	*slot = sec
	w.neg.BundleMids = append(w.neg.BundleMids, mid)
	return md
}

func (w *answerWriter) application(m *sdp.MediaDescription, mid string,
	reject func(string, ...any) *sdp.MediaDescription,
) *sdp.MediaDescription {
	proto := strings.Join(m.MediaName.Protos, "/")
	switch {
	case !w.cfg.DataChannel:
		return reject("data channels are off")
	case w.neg.Application != nil:
		return reject("a second data channel section")
	case proto != "UDP/DTLS/SCTP" && proto != "TCP/DTLS/SCTP" ||
		!slices.Contains(m.MediaName.Formats, "webrtc-datachannel"):
		return reject("%s %s is not SCTP over DTLS for data channels (RFC 8841)", proto,
			strings.Join(m.MediaName.Formats, " "))
	}
	app := &AppSection{Mid: mid, SCTPPort: 5000, MaxMessageSize: 65536}
	if v, ok := m.Attribute("sctp-port"); ok {
		p, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || p <= 0 || p > 65535 {
			return reject("a=sctp-port:%s is not a port", v)
		}
		app.SCTPPort = p
	}
	if v, ok := m.Attribute("max-message-size"); ok {
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return reject("a=max-message-size:%s is not a number", v)
		}
		app.MaxMessageSize = n
	}
	md := newSection(m, []string{"webrtc-datachannel"})
	w.transport(md, mid)
	md.WithValueAttribute("sctp-port", strconv.Itoa(SCTPPort))
	md.WithValueAttribute("max-message-size", strconv.Itoa(MaxMessageSize))
	w.neg.Application = app
	w.neg.BundleMids = append(w.neg.BundleMids, mid)
	return md
}

// newSection is an accepted section's m= and c= lines: port 9 and
// 0.0.0.0, as JSEP writes them (RFC 8829 section 5.3.1); the candidates
// say where the gateway is.
func newSection(m *sdp.MediaDescription, formats []string) *sdp.MediaDescription {
	return &sdp.MediaDescription{
		MediaName: sdp.MediaName{
			Media: m.MediaName.Media, Port: sdp.RangedPort{Value: 9},
			Protos: slices.Clone(m.MediaName.Protos), Formats: formats,
		},
		ConnectionInformation: anyIPv4(),
	}
}

// transport adds what every accepted section carries: ICE credentials,
// the fingerprint, the DTLS role and the mid.
func (w *answerWriter) transport(md *sdp.MediaDescription, mid string) {
	md.WithICECredentials(w.cfg.ICE.Ufrag, w.cfg.ICE.Pwd)
	md.WithValueAttribute("fingerprint", w.cfg.Fingerprint)
	md.WithValueAttribute(sdp.AttrKeyConnectionSetup, "passive")
	md.WithValueAttribute(sdp.AttrKeyMID, mid)
}

// rejectedSection answers a section the gateway does not take (RFC 3264 section
// 6, RFC 8843 section 7.3.3): port 0, the offer's media and protocol, a c=
// line (Firefox wants one in every section) and the mid, so the answer's
// sections still pair with the offer's. Its formats are ignored (RFC 3264
// section 6) but one must be there: an RTP section gets "0", as Chromium
// and pion write it, because pion refuses an answer naming a payload type
// other than 0 without its a=rtpmap, even in a rejected section; others
// keep the offer's first format (webrtc-datachannel).
func rejectedSection(m *sdp.MediaDescription) *sdp.MediaDescription {
	format := []string{"0"}
	if len(m.MediaName.Formats) > 0 && !slices.Contains(m.MediaName.Protos, "RTP") {
		format = m.MediaName.Formats[:1]
	}
	md := &sdp.MediaDescription{
		MediaName: sdp.MediaName{
			Media: m.MediaName.Media, Port: sdp.RangedPort{Value: 0},
			Protos: slices.Clone(m.MediaName.Protos), Formats: slices.Clone(format),
		},
		ConnectionInformation: anyIPv4(),
	}
	if mid, ok := m.Attribute(sdp.AttrKeyMID); ok {
		md.WithValueAttribute(sdp.AttrKeyMID, mid)
	}
	return md
}

func anyIPv4() *sdp.ConnectionInformation {
	return &sdp.ConnectionInformation{NetworkType: "IN", AddressType: "IP4", Address: &sdp.Address{Address: "0.0.0.0"}}
}

func isSAVP(p string) bool { return p == "SAVPF" || p == "SAVP" }

// sectionCodecs reads one section's rtpmap, fmtp and rtcp-fb lines (pion's
// reading, on this section alone: payload types are per section), keyed
// by the m= line's format strings.
func sectionCodecs(m *sdp.MediaDescription) map[string]sdp.Codec {
	all := (&sdp.SessionDescription{MediaDescriptions: []*sdp.MediaDescription{m}}).GetCodecMap()
	codecs := make(map[string]sdp.Codec, len(m.MediaName.Formats))
	for _, f := range m.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 8)
		if err != nil {
			continue
		}
		if c, ok := all[uint8(pt)]; ok {
			codecs[f] = c
		}
	}
	return codecs
}

// chooseCodec applies frontrow's codec policy (rtc.PreferredCodec) to the
// codecs offered, in offer order, with the clock rates RFC 6184 and RFC
// 7587 fix.
func chooseCodec(kind string, formats []string, codecs map[string]sdp.Codec) (sdp.Codec, bool) {
	var params []webrtc.RTPCodecParameters
	byPT := map[webrtc.PayloadType]sdp.Codec{}
	for _, f := range formats {
		c, ok := codecs[f]
		if !ok {
			continue
		}
		switch {
		case kind == "video" && strings.EqualFold(c.Name, "H264") && c.ClockRate == 90000:
		case kind == "audio" && strings.EqualFold(c.Name, "opus") && c.ClockRate == 48000 &&
			(c.EncodingParameters == "2" || c.EncodingParameters == ""): // RFC 7587 says /2; some omit it
		default:
			continue
		}
		pt := webrtc.PayloadType(c.PayloadType)
		byPT[pt] = c
		params = append(params, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{
				MimeType: kind + "/" + c.Name, ClockRate: c.ClockRate, SDPFmtpLine: c.Fmtp,
			},
			PayloadType: pt,
		})
	}
	codecType := webrtc.RTPCodecTypeVideo
	if kind == "audio" {
		codecType = webrtc.RTPCodecTypeAudio
	}
	best, ok := rtc.PreferredCodec(codecType, params)
	if !ok {
		return sdp.Codec{}, false
	}
	return byPT[best.PayloadType], true
}

// findRTX is the offer's rtx payload type for the chosen one (RFC 4588
// section 8.6: apt= names it, same clock rate).
func findRTX(formats []string, codecs map[string]sdp.Codec, chosen sdp.Codec) (sdp.Codec, bool) {
	for _, f := range formats {
		c, ok := codecs[f]
		if ok && strings.EqualFold(c.Name, "rtx") && c.ClockRate == chosen.ClockRate &&
			rtc.FmtpParam(c.Fmtp, "apt") == strconv.Itoa(int(chosen.PayloadType)) {
			return c, true
		}
	}
	return sdp.Codec{}, false
}

// writeCodec adds a payload type's rtpmap, rtcp-fb and fmtp lines.
func writeCodec(md *sdp.MediaDescription, c sdp.Codec, feedback []string) {
	rtpmap := fmt.Sprintf("%d %s/%d", c.PayloadType, c.Name, c.ClockRate)
	if c.EncodingParameters != "" {
		rtpmap += "/" + c.EncodingParameters
	}
	md.WithValueAttribute("rtpmap", rtpmap)
	for _, f := range feedback {
		md.WithValueAttribute("rtcp-fb", fmt.Sprintf("%d %s", c.PayloadType, f))
	}
	if c.Fmtp != "" {
		md.WithValueAttribute("fmtp", fmt.Sprintf("%d %s", c.PayloadType, c.Fmtp))
	}
}

// offeredExtension is the offer's a=extmap for a URI, and its id.
func offeredExtension(m *sdp.MediaDescription, uri string) (*sdp.ExtMap, int) {
	for _, a := range m.Attributes {
		if a.Key != sdp.AttrKeyExtMap {
			continue
		}
		var e sdp.ExtMap
		if err := e.Unmarshal(sdp.AttrKeyExtMap + ":" + a.Value); err != nil || e.URI == nil {
			continue
		}
		if e.URI.String() == uri {
			return &e, e.Value
		}
	}
	return nil, 0
}

// answerExtension keeps the offer's id and mirrors its direction (RFC
// 8285 section 6): what the offerer only receives, the gateway only sends.
func answerExtension(e *sdp.ExtMap) *sdp.ExtMap {
	a := *e
	a.ExtAttr = nil
	switch e.Direction {
	case sdp.DirectionRecvOnly:
		a.Direction = sdp.DirectionSendOnly
	case sdp.DirectionSendOnly:
		a.Direction = sdp.DirectionRecvOnly
	}
	return &a
}

// candidateValue is a host candidate's a=candidate value (RFC 8839
// section 5.1; RFC 6544 section 4.5 for TCP). Priority follows RFC 8445
// section 5.1.2.1: host type preference 126, component 1, and a local
// preference that puts every UDP candidate above every TCP one (RFC 6544
// section 4.2: passive TCP gets direction preference 4 of 7) and keeps
// each candidate's apart in the order given. The foundation is the same
// for the same base address and transport (RFC 8445 section 5.1.1.3).
func candidateValue(c Candidate, all []Candidate) string {
	network := strings.ToLower(c.Network)
	index := 0
	for _, o := range all {
		if o == c {
			break
		}
		if strings.EqualFold(o.Network, network) {
			index++
		}
	}
	var local uint32
	if network == "udp" {
		local = 65535 - uint32(min(index, 8191))
	} else {
		local = 4<<13 + 8191 - uint32(min(index, 8191))
	}
	const hostTypePreference, component = 126, 1
	priority := hostTypePreference<<24 | local<<8 | (256 - component)
	addr := c.Addr.Addr().Unmap().WithZone("")
	foundation := crc32.ChecksumIEEE([]byte("host" + network + addr.String()))
	v := fmt.Sprintf("%d %d %s %d %s %d typ host", foundation, component, network, priority, addr, c.Addr.Port())
	if network == "tcp" {
		v += " tcptype passive"
	}
	return v
}
