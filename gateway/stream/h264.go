package stream

import (
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// maxAUPackets bounds an access unit under assembly, so a publisher that never
// sets the marker bit cannot grow memory without limit.
const maxAUPackets = 2048

// accessUnit is one H264 access unit reassembled from RTP.
type accessUnit struct {
	ts       uint32
	nalus    [][]byte
	keyframe bool
}

// auAssembler rebuilds H264 access units from RTP (RFC 6184) for the HLS tier.
// A unit with a missing packet is never passed on as if whole: it is dropped,
// and so is everything up to the next keyframe (ARCHITECTURE: ingest loss).
type auAssembler struct {
	depack  codecs.H264Packet
	cur     accessUnit
	packets int
	broken  bool
	nextSeq uint16
	haveSeq bool
	// waitKeyframe drops units until an IDR: at start and after a loss.
	waitKeyframe bool
}

func newAUAssembler() *auAssembler {
	return &auAssembler{depack: codecs.H264Packet{IsAVC: true}, waitKeyframe: true}
}

// push adds one packet (already in sequence order) and returns the access
// unit it completed, if any. lost reports that a unit was dropped for loss, so
// the caller can ask the publisher for a keyframe.
func (a *auAssembler) push(pkt *rtp.Packet) (au *accessUnit, lost bool) {
	if a.haveSeq && pkt.SequenceNumber != a.nextSeq {
		if int16(pkt.SequenceNumber-a.nextSeq) < 0 {
			return nil, false // late or duplicate: its unit is already gone
		}
		a.broken = true
	}
	a.haveSeq, a.nextSeq = true, pkt.SequenceNumber+1

	// A new timestamp without a marker before it closes the previous unit.
	if a.packets > 0 && pkt.Timestamp != a.cur.ts {
		au, lost = a.finish()
	}
	if a.packets == 0 {
		a.cur = accessUnit{ts: pkt.Timestamp}
	}
	a.packets++
	if a.packets > maxAUPackets {
		a.broken = true
	}
	if !a.broken {
		if err := a.appendPayload(pkt.Payload); err != nil {
			a.broken = true
		}
	}
	if pkt.Marker {
		done, l := a.finish()
		if done != nil {
			au = done
		}
		lost = lost || l
	}
	return au, lost
}

func (a *auAssembler) appendPayload(payload []byte) error {
	avcc, err := a.depack.Unmarshal(payload)
	if err != nil {
		return fmt.Errorf("depacketize h264: %w", err)
	}
	if len(avcc) == 0 {
		return nil // inside a fragmented NAL unit (FU-A)
	}
	var nalus h264.AVCC
	if err := nalus.Unmarshal(avcc); err != nil {
		return fmt.Errorf("split h264 nal units: %w", err)
	}
	a.cur.nalus = append(a.cur.nalus, nalus...)
	return nil
}

// finish closes the unit under assembly.
func (a *auAssembler) finish() (*accessUnit, bool) {
	cur, broken := a.cur, a.broken
	a.cur, a.packets, a.broken = accessUnit{}, 0, false
	if broken {
		// A fragmented NAL unit may be half-buffered in the depacketizer.
		a.depack = codecs.H264Packet{IsAVC: true}
		a.waitKeyframe = true
		return nil, true
	}
	if len(cur.nalus) == 0 {
		return nil, false
	}
	cur.keyframe = h264.IsRandomAccess(cur.nalus)
	if a.waitKeyframe && !cur.keyframe {
		return nil, false
	}
	a.waitKeyframe = false
	return &cur, false
}

// startsKeyframe tells whether an RTP payload begins an IDR access unit or
// its parameter sets (RFC 6184 section 5.4: single NAL, STAP-A, FU-A start).
func startsKeyframe(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	isKey := func(t h264.NALUType) bool {
		return t == h264.NALUTypeIDR || t == h264.NALUTypeSPS || t == h264.NALUTypePPS
	}
	switch t := payload[0] & 0x1F; t {
	case 24: // STAP-A: check each aggregated unit
		for p := 1; p+2 < len(payload); {
			size := int(payload[p])<<8 | int(payload[p+1])
			p += 2
			if size == 0 || p+size > len(payload) {
				return false
			}
			if isKey(h264.NALUType(payload[p] & 0x1F)) {
				return true
			}
			p += size
		}
		return false
	case 28: // FU-A: only the start fragment begins a unit
		return len(payload) > 1 && payload[1]&0x80 != 0 && isKey(h264.NALUType(payload[1]&0x1F))
	default:
		return isKey(h264.NALUType(t))
	}
}
