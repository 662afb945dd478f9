package rtc

import (
	"context"
	"fmt"
	"net/http"

	"github.com/pion/webrtc/v4"
)

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
