package loadgen

import (
	"fmt"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// maxPending bounds the video packets kept while the SRTP keys are not yet
// in the reader's hands (the gateway may start sending the moment its side
// of the handshake ends, a little before ours does).
const maxPending = 1024

// H264 NAL unit types (RFC 6184 section 5.2).
const (
	nalIDR   = 5
	nalSTAPA = 24
	nalFUA   = 28
)

// firstFrame decrypts video packets until the first H264 keyframe access
// unit has arrived whole: from the packet that starts an IDR picture to
// the packet with the marker bit, same timestamp, no sequence gap. It
// belongs to the reader goroutine and is dropped when done.
type firstFrame struct {
	ctx     *srtp.Context // decrypt only; nil until the keys arrive
	pending []pendingPacket
	plain   []byte
	pkt     rtp.Packet
	at      time.Time // arrival of the datagram being handled

	inFrame bool
	ts      uint32
	nextSeq uint16
}

type pendingPacket struct {
	data []byte
	at   time.Time
}

func newFirstFrame() *firstFrame {
	return &firstFrame{plain: make([]byte, 0, readBufSize)}
}

// hold keeps a packet that arrived before the keys.
func (f *firstFrame) hold(p []byte, at time.Time) {
	if len(f.pending) < maxPending {
		f.pending = append(f.pending, pendingPacket{data: append([]byte(nil), p...), at: at})
	}
}

// step decrypts one SRTP video packet and reports whether it completed the
// first keyframe.
func (f *firstFrame) step(p []byte) (bool, error) {
	plain, err := f.ctx.DecryptRTP(f.plain, p, nil)
	if err != nil {
		return false, fmt.Errorf("decrypt: %w", err)
	}
	f.plain = plain[:0]
	if err := f.pkt.Unmarshal(plain); err != nil {
		return false, fmt.Errorf("decrypted packet: %w", err)
	}
	h := &f.pkt.Header
	if f.inFrame && (h.Timestamp != f.ts || h.SequenceNumber != f.nextSeq) {
		f.inFrame = false // a packet lost, or the frame ended unmarked: wait for the next
	}
	if !f.inFrame {
		if !idrStart(f.pkt.Payload) {
			return false, nil
		}
		f.inFrame, f.ts = true, h.Timestamp
	}
	f.nextSeq = h.SequenceNumber + 1
	return h.Marker, nil
}

// idrStart reports whether an H264 RTP payload (RFC 6184) begins an IDR
// slice: a single IDR NAL unit, a STAP-A holding one, or the first
// fragment (FU-A start bit) of one.
func idrStart(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	switch p[0] & 0x1f {
	case nalIDR:
		return true
	case nalSTAPA:
		for i := 1; i+2 < len(p); {
			n := int(p[i])<<8 | int(p[i+1])
			i += 2
			if n == 0 || i+n > len(p) {
				return false
			}
			if p[i]&0x1f == nalIDR {
				return true
			}
			i += n
		}
	case nalFUA:
		return len(p) >= 2 && p[1]&0x80 != 0 && p[1]&0x1f == nalIDR
	}
	return false
}
