package demo

import (
	"math/rand/v2"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/frontrow-live/frontrow/packager"
)

// H264 NAL unit types (ITU-T H.264 table 7-1) the packetizer looks at.
const (
	naluTypeIDR = 5
	naluTypeSPS = 7
)

// sender is one track's RTP state for one Run: like a real sender it starts
// SSRC, sequence number and timestamp at random (RFC 3550 section 5.1).
type sender struct {
	kind      packager.Kind
	pt        uint8
	clockRate uint32
	ssrc      uint32
	seq       uint16
	base      uint32
	h264      codecs.H264Payloader
	sps, pps  [][]byte
	sent      bool
}

func newSender(kind packager.Kind, m *media) *sender {
	s := &sender{
		kind: kind,
		ssrc: rand.Uint32(),
		seq:  uint16(rand.Uint32()),
		base: rand.Uint32(),
	}
	if kind == packager.KindVideo {
		s.pt, s.clockRate, s.sps, s.pps = PayloadTypeH264, VideoClockRate, m.sps, m.pps
	} else {
		s.pt, s.clockRate = PayloadTypeOpus, AudioClockRate
	}
	return s
}

// rtpTime is the track's RTP timestamp for a point of the media timeline.
func (s *sender) rtpTime(t time.Duration) uint32 {
	return s.base + uint32(durationToTicks(t, s.clockRate))
}

// packets turns one sample into RTP packets: H264 per RFC 6184
// (packetization-mode 1, marker on the access unit's last packet, section
// 5.1), Opus one frame per packet with the marker only on the first packet,
// which starts the talkspurt (RFC 7587 section 4.2, RFC 3551 section 4.1).
func (s *sender) packets(smp *Sample, t time.Duration, mtu int) []*rtp.Packet {
	var payloads [][]byte
	if s.kind == packager.KindVideo {
		for _, nalu := range s.withParameterSets(smp.NALUs) {
			payloads = append(payloads, s.h264.Payload(uint16(mtu), nalu)...)
		}
	} else {
		payloads = [][]byte{append([]byte(nil), smp.Payload...)}
	}
	ts := s.rtpTime(t)
	pkts := make([]*rtp.Packet, len(payloads))
	for i, p := range payloads {
		pkts[i] = &rtp.Packet{
			Header: rtp.Header{
				Version:        2,
				Marker:         s.marker(i == len(payloads)-1),
				PayloadType:    s.pt,
				SequenceNumber: s.seq,
				Timestamp:      ts,
				SSRC:           s.ssrc,
			},
			Payload: p,
		}
		s.seq++
	}
	s.sent = true
	return pkts
}

func (s *sender) marker(lastOfUnit bool) bool {
	if s.kind == packager.KindAudio {
		return !s.sent
	}
	return lastOfUnit
}

// withParameterSets prepends SPS and PPS to an IDR access unit that lacks
// them, so a viewer can start decoding at any IDR.
func (s *sender) withParameterSets(nalus [][]byte) [][]byte {
	idr := false
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch n[0] & 0x1F {
		case naluTypeSPS:
			return nalus
		case naluTypeIDR:
			idr = true
		}
	}
	if !idr {
		return nalus
	}
	out := make([][]byte, 0, len(s.sps)+len(s.pps)+len(nalus))
	out = append(out, s.sps...)
	out = append(out, s.pps...)
	return append(out, nalus...)
}

// durationToTicks converts a (possibly negative) duration to clock ticks,
// rounded, without overflowing for long runs.
func durationToTicks(d time.Duration, clockRate uint32) int64 {
	rate := int64(clockRate)
	sec, rem := int64(d/time.Second), int64(d%time.Second)
	frac := rem * rate
	if frac >= 0 {
		frac += int64(time.Second) / 2
	} else {
		frac -= int64(time.Second) / 2
	}
	return sec*rate + frac/int64(time.Second)
}
