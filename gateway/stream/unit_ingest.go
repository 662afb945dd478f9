package stream

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/frontrow-live/frontrow/packager"
)

// rtpMTU is the largest RTP payload the gateway builds: it fits a 1280-byte
// IPv6 minimum MTU with SRTP and header room to spare, as browsers do.
const rtpMTU = 1200

// Payload types the gateway's own packetizer stamps; viewers get theirs
// rewritten per connection anyway.
const (
	unitPayloadTypeH264 = 96
	unitPayloadTypeOpus = 111
)

// unitPacketizer turns one track's access units into RTP once per stream, for
// sources that deliver units rather than RTP (RTMP). Each publisher session
// has its own, with random SSRC, sequence and timestamp bases like any sender
// (RFC 3550 section 5.1); the track's rewriter makes viewers see one line.
type unitPacketizer struct {
	seq    uint16
	tsBase uint32
	rate   int64
	h264   codecs.H264Payloader
}

func newUnitPacketizer(rate int64) *unitPacketizer {
	return &unitPacketizer{seq: uint16(rand.Uint32()), tsBase: rand.Uint32(), rate: rate}
}

// timestamp maps a stream-clock time to this track's RTP clock.
func (u *unitPacketizer) timestamp(t time.Duration) uint32 {
	// Rounded, not floored: 1 s + 1/30 s is 3000 ticks past 1 s, not 2999.
	ticks := int64(t/time.Second)*u.rate + (int64(t%time.Second)*u.rate+int64(time.Second)/2)/int64(time.Second)
	return u.tsBase + uint32(ticks)
}

// packets builds the RTP packets of one unit; the marker bit ends a video
// access unit (RFC 6184 section 5.1) and starts an audio talkspurt.
func (u *unitPacketizer) packets(kind packager.Kind, unit *packager.Unit, first bool) []*rtp.Packet {
	ts := u.timestamp(unit.PTS)
	var payloads [][]byte
	pt := uint8(unitPayloadTypeOpus)
	if kind == packager.KindVideo {
		pt = unitPayloadTypeH264
		for _, nalu := range unit.NALUs {
			payloads = append(payloads, u.h264.Payload(rtpMTU, nalu)...)
		}
	} else {
		payloads = [][]byte{unit.Payload}
	}
	out := make([]*rtp.Packet, 0, len(payloads))
	for i, pl := range payloads {
		marker := i == len(payloads)-1
		if kind == packager.KindAudio {
			marker = first
		}
		out = append(out, &rtp.Packet{
			Header:  rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: u.seq, Timestamp: ts, Marker: marker},
			Payload: pl,
		})
		u.seq++
	}
	return out
}

// WriteUnit takes one access unit from a source that has units, not RTP
// (RTMP). Its DTS and PTS are already on the stream clock (durations since
// Stream.Epoch, rising); a video keyframe carries its SPS and PPS in-band,
// since WebRTC viewers joining at it have no other way to get them. The unit
// goes to the packager as it is and, packetized to RTP once, to every
// viewer. AAC audio goes to the packager as it is and, through the audio
// bridge, to viewers as Opus; Opus audio goes to viewers as it is and to
// the packager as AAC. Each track must be written from one goroutine at a time.
func (p *Publisher) WriteUnit(u packager.Unit) error {
	if p.closed.Load() {
		return ErrClosed
	}
	n := len(u.Payload)
	for _, nalu := range u.NALUs {
		n += len(nalu)
	}
	p.stream.countIn(u.Kind, n)
	var track *Track
	var pk **unitPacketizer
	rate := int64(videoClockRate)
	switch {
	case u.Kind == packager.KindVideo && p.video != nil:
		track, pk = p.video.track, &p.video.packetizer
		if u.PTS != u.DTS && !p.stream.bframes.Swap(true) {
			p.stream.log.Warn("video has B-frames: WebRTC viewers may stutter; set the encoder's profile to baseline or B-frames to 0")
		}
		if !u.Keyframe {
			u.Keyframe = h264.IsRandomAccess(u.NALUs)
		}
	case u.Kind == packager.KindAudio && p.audio != nil:
		if p.audio.forward { // Opus: to viewers as it is
			track, pk, rate = p.audio.track, &p.audio.packetizer, audioClockRate
		}
	default:
		return fmt.Errorf("stream %s: publisher has no %s track", p.stream.name, u.Kind)
	}
	if track != nil {
		first := *pk == nil
		if first {
			*pk = newUnitPacketizer(rate)
		}
		capture := p.captureOf(u.PTS, u.Arrival)
		for _, pkt := range (*pk).packets(u.Kind, &u, first) {
			p.stream.forward(u.Kind, track.ingest(pkt, u.Arrival, capture, uint32(p.session)))
		}
	}
	if u.Kind == packager.KindAudio {
		p.audioUnit(u)
		return nil
	}
	p.sinkUnit(u)
	return nil
}
