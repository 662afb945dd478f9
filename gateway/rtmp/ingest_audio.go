package rtmp

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/frontrow-live/frontrow/packager"
)

const (
	// aacFrameSamples is an AAC-LC frame's length (ISO/IEC 14496-3
	// section 4.5.1.1; 960 with frameLengthFlag).
	aacFrameSamples = 1024
	// flvRounding is how far an FLV timestamp (whole milliseconds) may sit
	// from the exact time of an audio frame, with room for encoders that
	// truncate rather than round.
	flvRounding = 2 * time.Millisecond
	// opusClockRate is Opus's one RTP and CMAF clock rate (RFC 7587 section 4.1).
	opusClockRate = 48000
	// maxOpusChannels: WebRTC carries mono or stereo Opus (RFC 7587 section 7).
	maxOpusChannels = 2
)

// audioConfig is the audio track's codec configuration.
type audioConfig struct {
	name string // codecAAC or codecOpus
	info packager.AudioInfo
	// frame is the samples per frame when every frame has the same length
	// (AAC-LC), so timestamps can be exact; 0 otherwise.
	frame int64
	clock frameClock
}

func newAACConfig(asc *mpeg4audio.AudioSpecificConfig) (*audioConfig, error) {
	raw, err := asc.Marshal()
	if err != nil {
		return nil, fmt.Errorf("AAC AudioSpecificConfig: %w", err)
	}
	if asc.SampleRate <= 0 {
		return nil, errors.New("AAC AudioSpecificConfig without a sample rate")
	}
	c := &audioConfig{name: codecAAC, info: packager.AudioInfo{
		Codec: packager.CodecAAC, SampleRate: asc.SampleRate, Channels: asc.ChannelCount, Config: raw,
	}}
	if asc.Type == mpeg4audio.ObjectTypeAACLC && asc.ExtensionType == 0 {
		c.frame = aacFrameSamples
		if asc.FrameLengthFlag {
			c.frame = aacFrameSamples * 15 / 16
		}
	}
	c.clock = frameClock{rate: int64(asc.SampleRate), frame: c.frame}
	return c, nil
}

func newOpusConfig(h *opus.IDHeader) (*audioConfig, error) {
	if h.ChannelCount < 1 || h.ChannelCount > maxOpusChannels {
		return nil, refuseAudio(fmt.Sprintf("Opus with %d channels", h.ChannelCount))
	}
	return &audioConfig{name: codecOpus, info: packager.AudioInfo{
		Codec: packager.CodecOpus, SampleRate: opusClockRate, Channels: int(h.ChannelCount),
	}}, nil
}

func (c *audioConfig) String() string {
	return fmt.Sprintf("%s %d Hz %d ch", c.name, c.info.SampleRate, c.info.Channels)
}

func (c *audioConfig) same(o *audioConfig) bool {
	return c.info.Codec == o.info.Codec && c.info.SampleRate == o.info.SampleRate &&
		c.info.Channels == o.info.Channels && bytes.Equal(c.info.Config, o.info.Config)
}

// setAudio takes an audio sequence header.
func (in *ingest) setAudio(cfg *audioConfig, arrival time.Time) error {
	if in.published() {
		switch {
		case !in.hasAudio:
			in.ignoreTrack(packager.KindAudio)
			return nil
		case !in.audio.same(cfg):
			// The packager's init segment cannot change under a live
			// publication; a new one (reconnect) gets a new init.
			return fmt.Errorf("audio configuration changed mid-stream (%s to %s); the encoder must reconnect", in.audio, cfg)
		}
		return nil
	}
	in.audio = cfg
	if in.ready(false, arrival) {
		return in.start()
	}
	return nil
}

// audioFrame takes one audio frame (a raw AAC frame or one Opus packet).
func (in *ingest) audioFrame(codec string, dts time.Duration, payload []byte, arrival time.Time) error {
	on, err := in.begin(arrival)
	if err != nil {
		return err
	}
	if !on {
		in.stats.dropped++
		return nil
	}
	if !in.hasAudio {
		in.ignoreTrack(packager.KindAudio)
		return nil
	}
	if codec != in.audio.name {
		return fmt.Errorf("audio frames are %s but the sequence header said %s", codec, in.audio.name)
	}
	if len(payload) == 0 {
		return nil
	}
	out, ok := in.mapTime(packager.KindAudio, in.audio.clock.exact(dts), arrival)
	if !ok {
		return nil
	}
	return in.write(packager.Unit{
		Kind: packager.KindAudio, DTS: out, PTS: out, Keyframe: true, Payload: payload, Arrival: arrival,
	})
}

// frameClock gives audio frames of a fixed length their exact times. FLV
// stamps them in whole milliseconds, so an AAC frame of 21.333 ms would
// otherwise last 21 or 22 ms in CMAF; while the encoder's timestamps stay
// within flvRounding of frame counting, frame counting wins.
type frameClock struct {
	rate, frame int64 // Hz, samples per frame; frame 0 passes timestamps through
	synced      bool
	base        time.Duration // encoder time of frame 0
	n           int64         // frames since base
}

// exact returns the time of the frame the encoder stamped src.
func (c *frameClock) exact(src time.Duration) time.Duration {
	if c.frame <= 0 || c.rate <= 0 {
		return src
	}
	if c.synced {
		samples := (c.n + 1) * c.frame
		want := c.base + time.Duration(samples/c.rate)*time.Second + time.Duration(samples%c.rate)*time.Second/time.Duration(c.rate)
		if d := src - want; d >= -flvRounding && d <= flvRounding {
			c.n++
			return want
		}
	}
	c.synced, c.base, c.n = true, src, 0
	return src
}
