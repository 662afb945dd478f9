package whep

import (
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/gateway/rtc"
	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

// outTrack is one of a viewer's outgoing tracks: a pion TrackLocal that
// learns, when pion binds it, the SSRC and payload type this viewer's answer
// negotiated. Payload types are per connection, so every viewer's packets
// get their own (ARCHITECTURE: where naive gateways go wrong).
type outTrack struct {
	src  *stream.Track
	kind webrtc.RTPCodecType

	mu     sync.Mutex
	ssrc   uint32
	pt     uint8
	writer webrtc.TrackLocalWriter
	hdr    rtp.Header // reused per packet: no allocation per send

	// rep is the writer goroutine's (send and senderReport): not under mu.
	rep reporter
}

func newOutTrack(src *stream.Track) *outTrack {
	kind := webrtc.RTPCodecTypeAudio
	if src.Kind() == packager.KindVideo {
		kind = webrtc.RTPCodecTypeVideo
	}
	return &outTrack{src: src, kind: kind}
}

// Bind picks the codec frontrow sends among those negotiated.
func (t *outTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	c, ok := rtc.PreferredCodec(t.kind, ctx.CodecParameters())
	if !ok {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	t.mu.Lock()
	t.ssrc, t.pt, t.writer = uint32(ctx.SSRC()), uint8(c.PayloadType), ctx.WriteStream()
	t.mu.Unlock()
	return c, nil
}

// Unbind detaches the track from the connection.
func (t *outTrack) Unbind(webrtc.TrackLocalContext) error {
	t.mu.Lock()
	t.writer = nil
	t.mu.Unlock()
	return nil
}

// ID names the track within its stream.
func (t *outTrack) ID() string { return t.src.Kind().String() }

// RID is empty: no simulcast.
func (t *outTrack) RID() string { return "" }

// StreamID groups audio and video into one MediaStream for the player.
func (t *outTrack) StreamID() string { return "frontrow" }

// Kind is audio or video.
func (t *outTrack) Kind() webrtc.RTPCodecType { return t.kind }

// send writes one shared packet with this viewer's SSRC and payload type,
// and counts it for the sender reports; resend marks a retransmission.
// Only the viewer's writer goroutine calls it.
func (t *outTrack) send(p *stream.Packet, resend bool) error {
	t.mu.Lock()
	w := t.writer
	t.hdr = p.Header
	t.hdr.SSRC, t.hdr.PayloadType = t.ssrc, t.pt
	t.mu.Unlock()
	if w == nil {
		return nil
	}
	if _, err := w.WriteRTP(&t.hdr, p.Payload); err != nil {
		return err
	}
	t.rep.sent(t.hdr.SSRC, p, resend)
	return nil
}

// senderReport returns the track's RTCP sender report due at now, if any
// (see reporter.report). Only the viewer's writer goroutine calls it.
func (t *outTrack) senderReport(now time.Time) (rtcp.SenderReport, bool) {
	return t.rep.report(t.src.ClockRate(), now)
}
