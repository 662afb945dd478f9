package stream

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/gateway/audio"
	"github.com/frontrow-live/frontrow/packager"
)

// PublishRequest describes a publisher as it connects.
type PublishRequest struct {
	Tracks   packager.Tracks
	Protocol string // "whip", "rtmp", "demo": for logs and status
	Remote   string // the publisher's address, for logs
	// RequestKeyframe asks the publisher for an IDR (RTCP PLI for WHIP); nil
	// when the source cannot be asked.
	RequestKeyframe func()
}

// Publisher is one publisher session of a stream: the ingest path every
// source (WHIP, RTMP, the demo) feeds with RTP packets and sender reports.
// Each track must be written from one goroutine at a time.
type Publisher struct {
	stream  *Stream
	req     PublishRequest
	session int
	clock   sessionClock

	video *videoIngest
	audio *audioIngest

	// skew (nanoseconds) is the most a unit's capture time on the stream
	// clock came out after its arrival; see captureOf.
	skew atomic.Int64

	closeOnce sync.Once
	closed    atomic.Bool
}

// captureOf is when the media of a unit at stream-clock time pts, which
// arrived at arrival, was captured, for sources whose units come on the
// stream clock (RTMP, the demo). That clock anchors the encoder's at the
// session's first unit's arrival, so a later unit that came through faster
// than the first (or a B-frame, whose PTS is past its DTS) would have been
// "captured" after it arrived, and a player would show less latency than
// it really has. Every capture moves back by the most any unit came out
// ahead (as a receiver's skew compensation re-anchors on the earliest
// arrival): it only grows, it is the same for audio and video, and
// presentation times and the HLS tier are left alone. A zero arrival (not
// known) leaves the capture at pts.
func (p *Publisher) captureOf(pts time.Duration, arrival time.Time) time.Time {
	c := p.stream.epoch.Add(pts)
	if arrival.IsZero() {
		return c
	}
	ahead := int64(c.Sub(arrival))
	for {
		cur := p.skew.Load()
		if ahead <= cur || p.skew.CompareAndSwap(cur, ahead) {
			break
		}
	}
	return c.Add(-time.Duration(p.skew.Load()))
}

type videoIngest struct {
	track *Track
	clock trackClock
	au    *auAssembler
	dts   h264.DTSExtractor
	// dtsReady is false until the extractor has seen the session's first IDR.
	dtsReady bool
	// lastKeyframe is the PTS of the newest keyframe, for KeyframeInterval.
	lastKeyframe time.Duration
	// packetizer builds RTP from units for unit sources (WriteUnit).
	packetizer *unitPacketizer
	// capTS and capWall cache the newest timestamp's capture time: a
	// frame's packets share it, so the clock is asked once per frame.
	capTS   uint32
	capWall time.Time
}

// captureTime is when the sample with RTP timestamp ts was captured, on the
// gateway's clock; zero while the clock waits for its first sender report.
func (v *videoIngest) captureTime(ts uint32, arrival time.Time) time.Time {
	if ts == v.capTS && !v.capWall.IsZero() {
		return v.capWall
	}
	wall, ok := v.clock.wallTime(ts, arrival)
	if !ok {
		return time.Time{} // not cached: an SR may sync the clock at the next packet
	}
	v.capTS, v.capWall = ts, wall
	return wall
}

type audioIngest struct {
	// track is the WebRTC tier's, nil when it gets no audio.
	track *Track
	// forward: the publisher's audio is Opus and goes to viewers as it is.
	forward    bool
	clock      trackClock
	packetizer *unitPacketizer
	// bridge transcodes the audio for the tier it does not fit (nil when
	// it fits both): to Opus for viewers when toWebRTC, else to AAC for
	// the packager.
	bridge   *audio.Worker
	toWebRTC bool
}

func newPublisher(s *Stream, req PublishRequest, session int) *Publisher {
	p := &Publisher{stream: s, req: req, session: session}
	if req.Tracks.Video != nil {
		p.video = &videoIngest{
			track: s.tracks[packager.KindVideo],
			clock: trackClock{rate: videoClockRate, session: &p.clock},
			au:    newAUAssembler(),
		}
	}
	if req.Tracks.Audio != nil {
		p.audio = &audioIngest{
			track:   s.tracks[packager.KindAudio],
			forward: req.Tracks.Audio.Codec == packager.CodecOpus,
			clock:   trackClock{rate: audioClockRate, session: &p.clock},
		}
	}
	return p
}

// Stream is the stream this publisher feeds.
func (p *Publisher) Stream() *Stream { return p.stream }

// WriteRTP takes one RTP packet of a track: it goes to every viewer at once
// and, reassembled into access units, to the packager.
func (p *Publisher) WriteRTP(kind packager.Kind, pkt *rtp.Packet, arrival time.Time) error {
	if p.closed.Load() {
		return ErrClosed
	}
	p.stream.countIn(kind, len(pkt.Payload))
	switch {
	case kind == packager.KindVideo && p.video != nil:
		out := p.video.track.ingest(pkt, arrival, p.video.captureTime(pkt.Timestamp, arrival), uint32(p.session))
		p.stream.forward(kind, out)
		p.writeVideoUnit(pkt, arrival)
	case kind == packager.KindAudio && p.audio != nil:
		var wall time.Time // zero: empty, or the clock waits for its first SR
		if len(pkt.Payload) > 0 {
			if w, ok := p.audio.clock.wallTime(pkt.Timestamp, arrival); ok {
				wall = w
			}
		}
		if p.audio.track != nil && p.audio.forward {
			p.stream.forward(kind, p.audio.track.ingest(pkt, arrival, wall, uint32(p.session)))
		}
		p.writeAudioUnit(pkt, wall, arrival)
	default:
		return fmt.Errorf("stream %s: publisher has no %s track", p.stream.name, kind)
	}
	return nil
}

// WriteSenderReport maps a track's RTP timestamp to the publisher's wall
// clock (an RTCP SR, RFC 3550 section 6.4.1); it aligns audio and video.
func (p *Publisher) WriteSenderReport(kind packager.Kind, ntp time.Time, rtpTime uint32) {
	now := time.Now() // on the same clock as the arrival times WriteRTP gets
	switch {
	case kind == packager.KindVideo && p.video != nil:
		p.video.clock.senderReport(ntp, rtpTime, now)
	case kind == packager.KindAudio && p.audio != nil:
		p.audio.clock.senderReport(ntp, rtpTime, now)
	}
}

func (p *Publisher) writeVideoUnit(pkt *rtp.Packet, arrival time.Time) {
	done, lost := p.video.au.push(pkt)
	if lost {
		p.stream.lostUnits.Add(1)
		p.stream.RequestKeyframe()
	}
	for _, au := range done {
		p.writeAccessUnit(au, arrival)
	}
}

func (p *Publisher) writeAccessUnit(au *accessUnit, arrival time.Time) {
	v := p.video
	wall := v.captureTime(au.ts, arrival)
	if wall.IsZero() {
		return // waiting for the first sender report
	}
	pts := wall.Sub(p.stream.epoch)
	if pts < 0 {
		return
	}
	if !v.dtsReady {
		if !au.keyframe {
			// The keyframes before the clock was synced are gone, and a
			// WebRTC encoder sends the next one only when asked.
			p.stream.RequestKeyframe()
			return
		}
		v.dts.Initialize()
		v.dtsReady = true
	}
	// RTP carries presentation times only; with B-frames the decode time
	// comes from the picture order count (mediacommon's extractor).
	pts90 := durationTo90k(pts)
	d, err := v.dts.Extract(au.nalus, pts90)
	if err != nil {
		v.dts, v.dtsReady = h264.DTSExtractor{}, false // start again at the next IDR
		return
	}
	dts := pts
	if d != pts90 {
		dts = from90k(d)
	}
	p.keyframeDue(au.keyframe, pts)
	if dts != pts && !p.stream.bframes.Swap(true) {
		p.stream.log.Warn("video has B-frames: WebRTC viewers may stutter; set the encoder's profile to baseline or B-frames to 0")
	}
	p.sinkUnit(packager.Unit{
		Kind: packager.KindVideo, DTS: dts, PTS: pts, Keyframe: au.keyframe, NALUs: au.nalus, Arrival: arrival,
	})
}

// keyframeDue asks the publisher for a keyframe once none came for
// KeyframeInterval. An encoder with its own GOP of that length is never
// asked; one that only answers requests gets segments a round trip longer.
// Repeats are bounded by the stream's keyframe request rate limit.
func (p *Publisher) keyframeDue(keyframe bool, pts time.Duration) {
	v, interval := p.video, p.stream.reg.cfg.KeyframeInterval
	switch {
	case keyframe:
		v.lastKeyframe = pts
	case interval > 0 && pts-v.lastKeyframe >= interval:
		p.stream.RequestKeyframe()
	}
}

// writeAudioUnit takes one audio packet to the HLS tier; wall is its
// capture time, zero if the packet is empty or the clock not yet synced.
func (p *Publisher) writeAudioUnit(pkt *rtp.Packet, wall, arrival time.Time) {
	if wall.IsZero() {
		return
	}
	pts := wall.Sub(p.stream.epoch)
	if pts < 0 {
		return
	}
	p.audioUnit(packager.Unit{
		Kind: packager.KindAudio, DTS: pts, PTS: pts, Keyframe: true, Payload: pkt.Payload, Arrival: arrival,
	})
}

// audioUnit takes one source audio frame to the packager, or to the bridge
// that transcodes it for a tier.
func (p *Publisher) audioUnit(u packager.Unit) {
	a := p.audio
	if a.bridge != nil {
		p.bridgeAudio(u.PTS, u.Payload, u.Arrival)
		if !a.toWebRTC {
			return // the packager gets the bridge's AAC instead
		}
	}
	p.sinkUnit(u)
}

func (p *Publisher) sinkUnit(u packager.Unit) {
	if p.stream.sink == nil {
		return
	}
	if err := p.stream.sink.WriteUnit(u); err != nil {
		p.stream.droppedUnits.Add(1)
		p.stream.log.Debug("packager refused unit", "kind", u.Kind, "err", err)
	}
}

// Close ends the publisher session; the stream lingers for the grace period.
// Idempotent.
func (p *Publisher) Close() { p.CloseWithReason("publisher closed") }

// CloseWithReason is Close with the reason logged on unpublish. The
// session's audio bridge has ended when it returns.
func (p *Publisher) CloseWithReason(reason string) {
	p.closeOnce.Do(func() {
		p.closed.Store(true)
		p.stopBridge()
		p.stream.unpublish(p, reason)
	})
}

func durationTo90k(d time.Duration) int64 {
	return int64(d/time.Second)*90000 + int64(d%time.Second)*90000/int64(time.Second)
}

func from90k(v int64) time.Duration {
	return time.Duration(v/90000)*time.Second + time.Duration(v%90000)*time.Second/90000
}
