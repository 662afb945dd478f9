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
	lossReported bool           // a loss was reported and no unit got through since
	out          [2]*accessUnit // push's result, reused
}

func newAUAssembler() *auAssembler {
	return &auAssembler{depack: codecs.H264Packet{IsAVC: true}, waitKeyframe: true}
}

// push adds one packet (already in sequence order) and returns the access
// units it completed: none, one, or two when a new timestamp closes an
// unmarked unit and the same packet's marker closes its own. The slice is
// reused by the next call. lost reports that a unit was dropped for loss, so
// the caller can ask the publisher for a keyframe.
func (a *auAssembler) push(pkt *rtp.Packet) (done []*accessUnit, lost bool) {
	done = a.out[:0]
	gap := false
	if a.haveSeq && pkt.SequenceNumber != a.nextSeq {
		if int16(pkt.SequenceNumber-a.nextSeq) < 0 {
			return done, false // late or duplicate: its unit is already gone
		}
		gap = true
	}
	a.haveSeq, a.nextSeq = true, pkt.SequenceNumber+1
	if len(pkt.Payload) == 0 {
		// Padding only (RFC 3550 section 5.1): no media, but a lost packet
		// before it still breaks the unit under assembly.
		a.broken = a.broken || gap
		return done, false
	}

	if a.packets > 0 && pkt.Timestamp != a.cur.ts {
		// A new timestamp without a marker before it closes the previous
		// unit. The lost packet may have been that unit's tail or this one's
		// head: unless this packet visibly starts a unit, both are suspect.
		a.broken = a.broken || gap
		if au, l := a.finish(); au != nil {
			done = append(done, au)
		} else {
			lost = lost || l
		}
		gap = gap && !startsUnit(pkt.Payload)
	}
	if a.packets == 0 {
		a.cur = accessUnit{ts: pkt.Timestamp}
	}
	a.broken = a.broken || gap
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
		if au, l := a.finish(); au != nil {
			done = append(done, au)
		} else {
			lost = lost || l
		}
	}
	return done, lost
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
		// A loss is reported once until a unit gets through again: more
		// broken units while recovering change nothing.
		report := !a.lossReported
		a.waitKeyframe, a.lossReported = true, true
		return nil, report
	}
	if len(cur.nalus) == 0 {
		return nil, false
	}
	cur.keyframe = h264.IsRandomAccess(cur.nalus)
	if a.waitKeyframe && !cur.keyframe {
		return nil, false
	}
	a.waitKeyframe, a.lossReported = false, false
	return &cur, false
}

// startsUnit tells whether an RTP payload visibly begins an access unit: an
// aggregation packet, a parameter set, AUD or SEI, or the first fragment or
// single NAL of a slice whose first_mb_in_slice is 0 (H.264 section 7.3.3:
// ue(v) 0 is the single bit 1).
func startsUnit(payload []byte) bool {
	if len(payload) < 2 {
		return false
	}
	isStart := func(t h264.NALUType, first byte) bool {
		switch t {
		case h264.NALUTypeIDR, h264.NALUTypeNonIDR:
			return first&0x80 != 0
		case h264.NALUTypeSPS, h264.NALUTypePPS, h264.NALUTypeAccessUnitDelimiter, h264.NALUTypeSEI:
			return true
		}
		return false
	}
	switch t := payload[0] & 0x1F; t {
	case 24: // STAP-A
		return true
	case 28: // FU-A
		return len(payload) > 2 && payload[1]&0x80 != 0 && isStart(h264.NALUType(payload[1]&0x1F), payload[2])
	default:
		return isStart(h264.NALUType(t), payload[1])
	}
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
