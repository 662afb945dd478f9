package whep

import (
	"encoding/binary"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/gateway/peer"
	"github.com/frontrow-live/frontrow/gateway/stream"
)

// outTrack is one of a viewer's outgoing tracks: the stream's packets with
// the SSRC the gateway chose and the payload type this viewer's answer
// negotiated. Payload types are per connection, so every viewer's packets
// get their own (ARCHITECTURE: where naive gateways go wrong). Only the
// viewer's writer goroutine sends on it.
type outTrack struct {
	src  *stream.Track
	ssrc uint32
	pt   uint8
	hdr  rtp.Header // reused per packet: no allocation per send
	rep  reporter
	// The retransmission stream (RFC 4588), when the viewer's offer had
	// one: retransmissions go there, with their own sequence numbers, so
	// the viewer tells them from late originals.
	rtxSSRC uint32
	rtxPT   uint8
	rtxSeq  uint16
}

func newOutTrack(src *stream.Track, ssrc uint32, pt uint8) *outTrack {
	return &outTrack{src: src, ssrc: ssrc, pt: pt}
}

// seal writes one shared packet with this viewer's SSRC and payload type
// (and pad bytes of RTP padding) into dst, SRTP-sealed: false before the
// connection is up.
func (t *outTrack) seal(conn *peer.Conn, dst []byte, p *stream.Packet, pad int) ([]byte, bool, error) {
	t.hdr = p.Header
	t.hdr.SSRC, t.hdr.PayloadType = t.ssrc, t.pt
	return conn.SealRTP(dst, &t.hdr, p.Payload, pad)
}

// sealRTX writes a retransmission of p into dst as an RTX packet (RFC
// 4588 section 4: the original sequence number, then the payload) on the
// retransmission stream; scratch holds the RTX payload and is the
// caller's (reused). False before the connection is up.
func (t *outTrack) sealRTX(conn *peer.Conn, dst, scratch []byte, p *stream.Packet) ([]byte, bool, error) {
	t.hdr = p.Header
	t.hdr.SSRC, t.hdr.PayloadType, t.hdr.SequenceNumber = t.rtxSSRC, t.rtxPT, t.rtxSeq
	t.rtxSeq++
	payload := binary.BigEndian.AppendUint16(scratch[:0], p.Header.SequenceNumber)
	payload = append(payload, p.Payload...)
	return conn.SealRTP(dst, &t.hdr, payload, 0)
}

// senderReport returns the track's RTCP sender report due at now, if any
// (see reporter.report).
func (t *outTrack) senderReport(now time.Time) (rtcp.SenderReport, bool) {
	return t.rep.report(t.src.ClockRate(), now)
}
