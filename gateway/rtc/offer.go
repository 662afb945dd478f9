package rtc

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/pion/sdp/v3"
)

// Role says which side of the gateway an offer comes from.
type Role int

// The two roles: a WHIP publisher sends, a WHEP viewer receives.
const (
	RolePublisher Role = iota
	RoleViewer
)

// OfferError is an offer the gateway refuses; Status is the HTTP status the
// client gets and the message says what to change.
type OfferError struct {
	Status int
	Msg    string
}

func (e *OfferError) Error() string { return e.Msg }

func offerErr(status int, format string, a ...any) *OfferError {
	return &OfferError{Status: status, Msg: fmt.Sprintf(format, a...)}
}

// OfferInfo is what an accepted offer asks for.
type OfferInfo struct {
	Video, Audio bool
	// ICEUfrag is the offer's ICE username fragment (session or media level).
	ICEUfrag string
}

// CheckOffer parses an SDP offer and checks it against what frontrow routes
// (RFC 9725 section 4.2 and draft-ietf-wish-whep): BUNDLE and rtcp-mux, at
// most one audio and one video section, directions that fit the role, H264
// packetization-mode 1 video and Opus audio. Every refusal names its reason.
func CheckOffer(raw []byte, role Role) (OfferInfo, error) {
	var info OfferInfo
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(string(raw)); err != nil {
		return info, offerErr(http.StatusBadRequest, "offer is not valid SDP: %v", err)
	}
	bundled := false
	for _, a := range desc.Attributes {
		if a.Key == "group" && strings.HasPrefix(a.Value, "BUNDLE ") {
			bundled = true
		}
	}
	if !bundled {
		return info, offerErr(http.StatusBadRequest, "offer must use BUNDLE (a=group:BUNDLE)")
	}
	info.ICEUfrag, _ = desc.Attribute("ice-ufrag")
	for _, m := range desc.MediaDescriptions {
		kind := m.MediaName.Media
		_, bundleOnly := m.Attribute("bundle-only")
		if kind == "application" || (m.MediaName.Port.Value == 0 && !bundleOnly) {
			continue // data channels are not used; rejected sections carry nothing
		}
		if kind != "audio" && kind != "video" {
			return info, offerErr(http.StatusBadRequest, "offer has a %q section; only audio and video are carried", kind)
		}
		// A bundle-only section (RFC 8843 section 7.5.3, GStreamer's
		// max-bundle) rides on the first one's transport and may omit it.
		if _, ok := m.Attribute("rtcp-mux"); !ok && !bundleOnly {
			return info, offerErr(http.StatusBadRequest, "offer's %s section lacks a=rtcp-mux", kind)
		}
		if err := checkDirection(m, role); err != nil {
			return info, err
		}
		if u, ok := m.Attribute("ice-ufrag"); ok && info.ICEUfrag == "" {
			info.ICEUfrag = u
		}
		seen := &info.Audio
		if kind == "video" {
			seen = &info.Video
		}
		if *seen {
			return info, offerErr(http.StatusBadRequest, "offer has more than one %s section; one audio and one video track at most", kind)
		}
		*seen = true
		if err := checkCodecs(m, kind); err != nil {
			return info, err
		}
	}
	if !info.Audio && !info.Video {
		return info, offerErr(http.StatusBadRequest, "offer has no audio or video section")
	}
	return info, nil
}

func checkDirection(m *sdp.MediaDescription, role Role) error {
	dir := "sendrecv" // RFC 8866 section 6.7: the default
	for _, d := range []string{"sendrecv", "sendonly", "recvonly", "inactive"} {
		if _, ok := m.Attribute(d); ok {
			dir = d
		}
	}
	ok := dir == "sendrecv" || (role == RolePublisher && dir == "sendonly") || (role == RoleViewer && dir == "recvonly")
	if !ok {
		want := "sendonly or sendrecv (WHIP publishes)"
		if role == RoleViewer {
			want = "recvonly or sendrecv (WHEP plays)"
		}
		return offerErr(http.StatusBadRequest, "offer's %s section is %s; it must be %s", m.MediaName.Media, dir, want)
	}
	return nil
}

// checkCodecs refuses a section without a codec frontrow can route, naming
// the codec it lacks and what was offered instead.
func checkCodecs(m *sdp.MediaDescription, kind string) error {
	rtpmap := map[string]string{} // payload type -> encoding name
	fmtp := map[string]string{}
	for _, a := range m.Attributes {
		pt, rest, ok := strings.Cut(a.Value, " ")
		if !ok {
			continue
		}
		switch a.Key {
		case "rtpmap":
			name, _, _ := strings.Cut(rest, "/")
			rtpmap[pt] = name
		case "fmtp":
			fmtp[pt] = rest
		}
	}
	var offered []string
	for _, pt := range m.MediaName.Formats {
		name := rtpmap[pt]
		if name == "" {
			continue
		}
		if !slices.Contains(offered, name) {
			offered = append(offered, name)
		}
		switch {
		case kind == "audio" && strings.EqualFold(name, "opus"):
			return nil
		case kind == "video" && strings.EqualFold(name, "H264") && FmtpParam(fmtp[pt], "packetization-mode") == "1" &&
			routableProfile(FmtpParam(fmtp[pt], "profile-level-id")):
			return nil
		}
	}
	if kind == "audio" {
		return offerErr(http.StatusNotAcceptable, "offer's audio lacks Opus (offered: %s); frontrow carries Opus audio over WebRTC",
			strings.Join(offered, ", "))
	}
	return offerErr(http.StatusNotAcceptable,
		"offer's video lacks H264 with packetization-mode=1 (offered: %s); frontrow routes H264 video only",
		strings.Join(offered, ", "))
}

// routableProfile reports whether a profile-level-id matches one registered
// in the media engine (profile_idc and constraint flags; RFC 6184 section 8.1).
func routableProfile(plid string) bool {
	if len(plid) < 4 {
		return false // pion matches profile-level-id only when both sides name one
	}
	for _, p := range h264Profiles {
		if strings.EqualFold(FmtpParam(p.fmt, "profile-level-id")[:4], plid[:4]) {
			return true
		}
	}
	return false
}

// HTTPStatus is the status a client gets for this offer.
func (e *OfferError) HTTPStatus() int { return e.Status }
