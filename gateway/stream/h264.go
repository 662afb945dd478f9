package stream

import (
	"errors"
	"fmt"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
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
//
// NAL units are copied into two buffers used by turns, so the steady state
// allocates nothing; a finished unit's NALUs are valid until the next push
// (the packager copies them in WriteUnit).
type auAssembler struct {
	bufs    [2]unitBuf
	units   [2]accessUnit // finish's results, by buffer
	w       int           // bufs[w] takes the unit under assembly
	fuStart int           // where the fragmented NAL unit under assembly starts in it, -1 if none
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
	return &auAssembler{fuStart: -1, waitKeyframe: true}
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
		a.reset()
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

// unitBuf holds one access unit's NAL units back to back.
type unitBuf struct {
	data  []byte
	ends  []int    // where each NAL unit ends in data
	nalus [][]byte // the finished unit's NAL units, into data
}

// RTP payload structures (RFC 6184 section 5.2).
const (
	rtpSTAPA = 24
	rtpFUA   = 28
)

var (
	errFragment    = errors.New("h264: FU-A fragment without its start")
	errUnsupported = errors.New("h264: unsupported RTP payload type (only single NAL, STAP-A and FU-A, packetization-mode 1)")
	errTruncated   = errors.New("h264: truncated STAP-A")
)

// appendPayload adds an RTP payload's NAL units to the unit under assembly
// (RFC 6184 sections 5.6 single NAL, 5.7.1 STAP-A, 5.8 FU-A).
func (a *auAssembler) appendPayload(payload []byte) error {
	b := &a.bufs[a.w]
	t := payload[0] & 0x1F
	if a.fuStart >= 0 && t != rtpFUA {
		return errFragment // the fragmented unit never ended
	}
	switch {
	case t >= 1 && t <= 23:
		a.addNALU(payload)
	case t == rtpSTAPA:
		for p := 1; p < len(payload); {
			if p+2 > len(payload) {
				return errTruncated
			}
			size := int(payload[p])<<8 | int(payload[p+1])
			p += 2
			if size == 0 || p+size > len(payload) {
				return errTruncated
			}
			a.addNALU(payload[p : p+size])
			p += size
		}
	case t == rtpFUA:
		if len(payload) < 3 {
			return errTruncated
		}
		start, end := payload[1]&0x80 != 0, payload[1]&0x40 != 0
		switch {
		case start && a.fuStart >= 0:
			return errFragment
		case start:
			b.data = append(b.data, payload[0]&0xE0|payload[1]&0x1F) // the NAL header (F, NRI, type)
			a.fuStart = len(b.data) - 1
		case a.fuStart < 0:
			return errFragment
		}
		b.data = append(b.data, payload[2:]...)
		if end {
			b.ends = append(b.ends, len(b.data))
			a.fuStart = -1
		}
	default:
		return fmt.Errorf("%w: type %d", errUnsupported, t)
	}
	return nil
}

func (a *auAssembler) addNALU(n []byte) {
	b := &a.bufs[a.w]
	b.data = append(b.data, n...)
	b.ends = append(b.ends, len(b.data))
}

// reset empties the buffer of the unit under assembly, keeping its memory.
func (a *auAssembler) reset() {
	b := &a.bufs[a.w]
	b.data, b.ends, a.fuStart = b.data[:0], b.ends[:0], -1
}

// finish closes the unit under assembly.
func (a *auAssembler) finish() (*accessUnit, bool) {
	cur, broken := a.cur, a.broken
	a.cur, a.packets, a.broken = accessUnit{}, 0, false
	if broken || a.fuStart >= 0 { // a NAL unit cut short is a loss too
		a.reset()
		// A loss is reported once until a unit gets through again: more
		// broken units while recovering change nothing.
		report := !a.lossReported
		a.waitKeyframe, a.lossReported = true, true
		return nil, report
	}
	idx := a.w
	b := &a.bufs[idx]
	b.nalus = b.nalus[:0]
	for i, end := range b.ends {
		start := 0
		if i > 0 {
			start = b.ends[i-1]
		}
		b.nalus = append(b.nalus, b.data[start:end:end])
	}
	a.w ^= 1 // the next unit goes to the other buffer: this one's bytes stay
	if len(b.nalus) == 0 {
		return nil, false
	}
	cur.nalus = b.nalus
	cur.keyframe = h264.IsRandomAccess(cur.nalus)
	if a.waitKeyframe && !cur.keyframe {
		return nil, false
	}
	a.waitKeyframe, a.lossReported = false, false
	out := &a.units[idx] // reused by turns, as the buffers
	*out = cur
	return out, false
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
