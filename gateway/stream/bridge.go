package stream

import (
	"fmt"
	"sync"
	"time"

	"github.com/frontrow-live/frontrow/gateway/audio"
	"github.com/frontrow-live/frontrow/packager"
)

// The audio bridge: the WebRTC tier carries Opus, the HLS tier AAC-LC
// (mp4a.40.2, which every HLS player decodes). A publication whose audio
// does not fit a tier gets one transcoder for that tier, for the length of
// its publisher session: RTMP's AAC becomes Opus for WebRTC viewers, WHIP's
// (and RTMP's) Opus becomes AAC for the packager. Audio that fits a tier
// reaches it untouched. The transcoder runs on its own goroutine behind a
// bounded queue (audio.Worker), so the ingest path never waits for it.

// bridgeErrorLogEvery rate-limits the log line about frames that do not
// decode; each one is counted anyway.
const bridgeErrorLogEvery = 10 * time.Second

// audioPlan is what a publication's audio becomes in each tier.
type audioPlan struct {
	// sink is what the packager is told: AAC for an Opus publication.
	sink packager.Tracks
	// webrtc says whether WebRTC viewers get audio: Opus as it came, or
	// the bridge's.
	webrtc bool
	// transcoder is the bridge, nil when the audio fits both tiers (or
	// cannot be bridged); toWebRTC says which tier its output feeds.
	transcoder *audio.Transcoder
	toWebRTC   bool
	// unsupported is why audio that needs the bridge cannot have it.
	unsupported error
}

// planAudio decides, from the publisher's tracks, what each tier gets.
func (r *Registry) planAudio(tracks packager.Tracks) audioPlan {
	plan := audioPlan{sink: tracks}
	a := tracks.Audio
	if a == nil {
		return plan
	}
	plan.webrtc = a.Codec == packager.CodecOpus
	if r.cfg.NoAudioBridge {
		return plan
	}
	in := audio.Params{Codec: a.Codec, Rate: a.SampleRate, Channels: a.Channels, Config: a.Config}
	switch a.Codec {
	case packager.CodecAAC:
		tc, err := audio.NewTranscoder(r.cfg.AudioCodecs, in, audio.CodecOpus)
		if err != nil {
			plan.unsupported = err
			return plan
		}
		plan.transcoder, plan.toWebRTC, plan.webrtc = tc, true, true
	case packager.CodecOpus:
		tc, err := audio.NewTranscoder(r.cfg.AudioCodecs, in, audio.CodecAAC)
		if err != nil {
			// The HLS tier keeps the Opus then: Apple's player cannot play
			// it, hls.js and others can.
			plan.unsupported = err
			return plan
		}
		out := tc.Output()
		plan.sink.Audio = &packager.AudioInfo{Codec: packager.CodecAAC, SampleRate: out.Rate, Channels: out.Channels, Config: out.Config}
		plan.transcoder = tc
	}
	return plan
}

// tiers names what each tier carries, for the publish log line.
func (p audioPlan) tiers() (webrtc, hls string) {
	a := p.sink.Audio
	if a == nil {
		return "none", "none"
	}
	webrtc, hls = "none", a.Codec
	if p.webrtc {
		webrtc = packager.CodecOpus
	}
	if p.transcoder != nil {
		if p.toWebRTC {
			webrtc += " (transcoded)"
		} else {
			hls += " (transcoded)"
		}
	}
	return webrtc, hls
}

// AudioBridge is what the audio bridge does for a stream.
type AudioBridge struct {
	// From and To name the codecs transcoded now (packager.CodecAAC to
	// CodecOpus for the WebRTC tier, or CodecOpus to CodecAAC for the HLS
	// tier); empty when the audio fits both tiers or there is none.
	From, To string
	// Unsupported says why audio that needs the bridge cannot have it
	// (HE-AAC, for one): that tier has no sound, or for WHIP Opus, keeps Opus.
	Unsupported string
	// Stats adds up the bridge's work over the stream's publisher sessions.
	audio.Stats
}

// bridgeTotals keeps a stream's bridge figures across sessions.
type bridgeTotals struct {
	mu     sync.Mutex
	now    AudioBridge   // direction and support of the current session
	closed audio.Stats   // sessions that ended
	live   *audio.Worker // the current session's worker, nil if none
}

// AudioBridge describes the stream's audio bridge now.
func (s *Stream) AudioBridge() AudioBridge {
	b := &s.bridge
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.now
	out.Stats = b.closed
	if b.live != nil {
		addStats(&out.Stats, b.live.Stats())
	}
	return out
}

func addStats(to *audio.Stats, s audio.Stats) {
	to.In += s.In
	to.Out += s.Out
	to.Corrupt += s.Corrupt
	to.Late += s.Late
	to.Filled += s.Filled
	to.Restarts += s.Restarts
	to.Dropped += s.Dropped
}

// startBridge runs the plan's transcoder for publisher p.
func (p *Publisher) startBridge(plan audioPlan) {
	s := p.stream
	now := AudioBridge{}
	if plan.unsupported != nil {
		now.Unsupported = plan.unsupported.Error()
	}
	var w *audio.Worker
	if plan.transcoder != nil {
		emit := p.bridgeToHLS
		if plan.toWebRTC {
			emit = p.bridgeToWebRTC
		}
		var lastLog time.Time
		w = audio.NewWorker(plan.transcoder, audio.WorkerConfig{
			QueueLen: s.reg.cfg.AudioQueueLen,
			Emit:     emit,
			OnError: func(err error) {
				if time.Since(lastLog) >= bridgeErrorLogEvery {
					lastLog = time.Now()
					s.log.Warn("audio bridge: frame dropped (counted; the stream goes on)", "err", err)
				}
			},
		})
		out := plan.transcoder.Output()
		now.From, now.To = p.req.Tracks.Audio.Codec, out.Codec
	}
	if p.audio != nil {
		p.audio.bridge, p.audio.toWebRTC = w, plan.toWebRTC
	}
	b := &s.bridge
	b.mu.Lock()
	b.now, b.live = now, w
	b.mu.Unlock()
}

// stopBridge ends the session's transcoder: what is queued is transcoded,
// and nothing of this session reaches a tier after it returns.
func (p *Publisher) stopBridge() {
	if p.audio == nil || p.audio.bridge == nil {
		return
	}
	w := p.audio.bridge
	w.Close()
	st := w.Stats()
	b := &p.stream.bridge
	b.mu.Lock()
	addStats(&b.closed, st)
	if b.live == w {
		b.live = nil
	}
	b.mu.Unlock()
	if st.Corrupt+st.Dropped+st.Late > 0 {
		p.stream.log.Info("audio bridge: session done", "frames_in", st.In, "frames_out", st.Out,
			"corrupt", st.Corrupt, "queue_drops", st.Dropped, "late", st.Late, "gaps_filled", st.Filled)
	}
}

// bridgeAudio hands one source frame to the bridge; the ingest path never
// waits (a full queue drops the frame, counted).
func (p *Publisher) bridgeAudio(pts time.Duration, payload []byte, arrival time.Time) {
	p.audio.bridge.Write(audio.Frame{PTS: pts, Payload: payload, Arrival: arrival})
}

// bridgeToWebRTC sends one Opus frame of the bridge to the viewers,
// packetized once (RFC 7587: one frame, one packet) on the worker's
// goroutine, the only writer of the audio track for such a publication.
func (p *Publisher) bridgeToWebRTC(f audio.Frame) {
	a := p.audio
	first := a.packetizer == nil
	if first {
		a.packetizer = newUnitPacketizer(audioClockRate)
	}
	u := packager.Unit{Kind: packager.KindAudio, DTS: f.PTS, PTS: f.PTS, Keyframe: true, Payload: f.Payload, Arrival: f.Arrival}
	// The frame's PTS is the source audio's, on the stream clock: viewers'
	// sender reports map the Opus timestamps to when the sound was
	// captured, not to when the transcoder got the frame out.
	capture := p.captureOf(f.PTS, f.Arrival)
	for _, pkt := range a.packetizer.packets(packager.KindAudio, &u, first) {
		p.stream.forward(packager.KindAudio, a.track.ingest(pkt, f.Arrival, capture, uint32(p.session)))
	}
}

// bridgeToHLS hands one AAC frame of the bridge to the packager.
func (p *Publisher) bridgeToHLS(f audio.Frame) {
	if f.PTS < 0 {
		return // before the stream's epoch: the encoder's priming of the first frame
	}
	p.sinkUnit(packager.Unit{Kind: packager.KindAudio, DTS: f.PTS, PTS: f.PTS, Keyframe: true, Payload: f.Payload, Arrival: f.Arrival})
}

// describeUnsupported is the log line for audio the bridge cannot take.
func describeUnsupported(a *packager.AudioInfo, err error) string {
	if a.Codec == packager.CodecAAC {
		return fmt.Sprintf("AAC audio (AudioSpecificConfig %x) cannot be transcoded for WebRTC viewers, who get video without sound; "+
			"set the encoder to AAC-LC (OBS: Settings > Output > Audio Encoder AAC; ffmpeg: -c:a aac -profile:a aac_low): %v", a.Config, err)
	}
	return fmt.Sprintf("%s audio cannot be transcoded to AAC; the HLS tier carries it as it is: %v", a.Codec, err)
}
