package rtc

import (
	"context"
	"fmt"
	"net/http"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// ReceiveOnly is a viewer's offer as the gateway answers it: its sendrecv
// sections (and session-level attribute) become recvonly. A WHEP answer is
// sendonly whatever the player offered (RFC 3264 section 6.1 lets a sendrecv
// offer be answered sendonly), but pion turns a sendonly transceiver into
// sendrecv when the offer is sendrecv, and has no way to set it back.
func ReceiveOnly(offer []byte) ([]byte, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(offer); err != nil {
		return nil, offerErr(http.StatusBadRequest, "offer is not SDP: %v", err)
	}
	// recvOnly rewrites attrs' sendrecv; it reports whether they say a
	// direction at all.
	recvOnly := func(attrs []sdp.Attribute) (directed bool) {
		for i := range attrs {
			switch attrs[i].Key {
			case sdp.AttrKeySendRecv:
				attrs[i].Key = sdp.AttrKeyRecvOnly
				directed = true
			case sdp.AttrKeyRecvOnly, sdp.AttrKeySendOnly, sdp.AttrKeyInactive:
				directed = true
			}
		}
		return directed
	}
	sessionDirected := recvOnly(sd.Attributes)
	for _, m := range sd.MediaDescriptions {
		// No direction anywhere means sendrecv (RFC 8866 section 6.7).
		if !recvOnly(m.Attributes) && !sessionDirected {
			m.Attributes = append(m.Attributes, sdp.NewPropertyAttribute(sdp.AttrKeyRecvOnly))
		}
	}
	out, err := sd.Marshal()
	if err != nil {
		return nil, offerErr(http.StatusBadRequest, "offer cannot be rewritten: %v", err)
	}
	return out, nil
}

// Answer applies a remote offer to pc and returns the complete answer: all of
// the gateway's candidates are in it, since WHIP and WHEP servers do not
// trickle after answering (RFC 9725 section 4.3.2). Offers pion cannot use
// are the client's mistake (400), never a 500.
func Answer(ctx context.Context, pc *webrtc.PeerConnection, offer []byte) ([]byte, error) {
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		return nil, offerErr(http.StatusBadRequest, "offer rejected: %v", err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, offerErr(http.StatusBadRequest, "no answer to this offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return nil, fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return nil, fmt.Errorf("gather candidates: %w", ctx.Err())
	}
	return []byte(pc.LocalDescription().SDP), nil
}
