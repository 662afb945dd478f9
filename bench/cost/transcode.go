package cost

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/thesyncim/gopus"
	aac "github.com/tphakala/go-aac"

	"github.com/frontrow-live/frontrow/gateway/audio"
)

// Direction is which way the audio bridge transcodes a stream.
type Direction string

// The audio bridge's two directions.
const (
	// AACToOpus is an RTMP publisher's AAC made Opus for the WebRTC tier.
	AACToOpus Direction = "aac-to-opus"
	// OpusToAAC is a WHIP publisher's Opus made AAC for the LL-HLS tier.
	OpusToAAC Direction = "opus-to-aac"
)

const (
	// transcodeClip is how much audio one measurement transcodes: enough
	// for the encoders' start-up to vanish in the average.
	transcodeClip = 10 * time.Second
	// clipRate and clipChannels: 48 kHz stereo, what browsers send over
	// WHIP and OBS sends over RTMP by default (a 44.1 kHz AAC source costs
	// a resampler more; gateway/audio's BenchmarkTranscode has it).
	clipRate     = 48000
	clipChannels = 2
	// aacInputBitrate and the Opus encoder's default rate stand in for a
	// publisher's encoder.
	aacInputBitrate = 128000
	// opusFrameSamples is a WebRTC sender's 20 ms Opus packet.
	opusFrameSamples = 960
	// opusMaxPacket bounds an Opus packet (RFC 6716 section 3.4).
	opusMaxPacket = 4000
)

// Transcode is the audio bridge's cost for one stereo stream in direction
// dir: transcodeClip of broadband programme audio (the hard case for AAC's
// coders), coded as the publisher would send it, through one transcoder
// (gateway/audio's pure-Go codecs) as fast as it goes. Making the input is
// not counted.
func Transcode(ctx context.Context, dir Direction) (MilliCPU, error) {
	return transcode(ctx, dir, transcodeClip)
}

// transcode is Transcode with clip of audio; tests take less.
func transcode(ctx context.Context, dir Direction, clip time.Duration) (MilliCPU, error) {
	pcm := music(int(clip.Seconds()*clipRate), clipRate)
	var p audio.Params
	var in []audio.Frame
	var out string
	var err error
	switch dir {
	case AACToOpus:
		p, in, err = aacFrames(pcm)
		out = audio.CodecOpus
	case OpusToAAC:
		p, in, err = opusFrames(pcm)
		out = audio.CodecAAC
	default:
		return 0, fmt.Errorf("cost: transcode: unknown direction %q (want %q or %q)", dir, AACToOpus, OpusToAAC)
	}
	if err != nil {
		return 0, fmt.Errorf("cost: transcode %s: input: %w", dir, err)
	}
	var emitted int
	cpu, err := measure(func() error {
		tc, err := audio.NewTranscoder(audio.PureGo, p, out)
		if err != nil {
			return fmt.Errorf("cost: transcode %s: %w", dir, err)
		}
		emit := func(audio.Frame) { emitted++ }
		for i, f := range in {
			if i%50 == 0 {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("cost: transcode %s: %w", dir, err)
				}
			}
			if err := tc.Write(f, emit); err != nil {
				return fmt.Errorf("cost: transcode %s: frame at %v: %w", dir, f.PTS, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if emitted == 0 {
		return 0, fmt.Errorf("cost: transcode %s: %d input frames made no output", dir, len(in))
	}
	return perMediaSecond(cpu, clipDuration(len(in), p))
}

// clipDuration is the media time n input frames of p carry.
func clipDuration(n int, p audio.Params) time.Duration {
	samples := opusFrameSamples
	if p.Codec == audio.CodecAAC {
		samples = aac.FrameSize
	}
	return time.Duration(n*samples) * time.Second / time.Duration(p.Rate)
}

// music is a stand-in for programme audio, interleaved stereo: a chord with
// vibrato and noise, different on each channel (as gateway/audio's
// benchmark makes it).
func music(n, rate int) []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]float32, clipChannels*n)
	for i := range n {
		t := float64(i) / float64(rate)
		v := 0.12*math.Sin(2*math.Pi*220*t+0.5*math.Sin(2*math.Pi*5*t)) + 0.06*math.Sin(2*math.Pi*277.2*t) +
			0.06*math.Sin(2*math.Pi*329.6*t)*math.Sin(2*math.Pi*0.5*t)
		out[2*i] = float32(v + 0.04*(rng.Float64()*2-1))
		out[2*i+1] = float32(0.8*v + 0.04*(rng.Float64()*2-1))
	}
	return out
}

// aacFrames encodes interleaved stereo PCM as an RTMP encoder would: AAC-LC
// frames of 1024 samples, stamped so decoded samples play where they were.
func aacFrames(pcm []float32) (audio.Params, []audio.Frame, error) {
	enc, err := aac.NewEncoder(aac.EncoderConfig{SampleRate: clipRate, Channels: clipChannels, Bitrate: aacInputBitrate})
	if err != nil {
		return audio.Params{}, nil, fmt.Errorf("aac encoder: %w", err)
	}
	n := len(pcm) / clipChannels
	planar := make([][]float32, clipChannels)
	for c := range planar {
		planar[c] = make([]float32, aac.FrameSize)
	}
	var frames []audio.Frame
	for i := 0; i+aac.FrameSize <= n; i += aac.FrameSize {
		for j := range aac.FrameSize {
			for c := range clipChannels {
				planar[c][j] = pcm[(i+j)*clipChannels+c]
			}
		}
		au, err := enc.EncodeFrame(nil, planar)
		if err != nil {
			return audio.Params{}, nil, fmt.Errorf("aac encode: %w", err)
		}
		if len(au) == 0 {
			continue
		}
		k := len(frames)*aac.FrameSize - enc.Delay()
		frames = append(frames, audio.Frame{PTS: streamStart + samplesToDuration(k), Payload: au})
	}
	return audio.Params{Codec: audio.CodecAAC, Rate: clipRate, Channels: clipChannels, Config: enc.AudioSpecificConfig()}, frames, nil
}

// opusFrames encodes interleaved stereo 48 kHz PCM as a browser would: the
// Opus default application, 20 ms packets.
func opusFrames(pcm []float32) (audio.Params, []audio.Frame, error) {
	enc, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: clipRate, Channels: clipChannels, Application: gopus.ApplicationAudio})
	if err != nil {
		return audio.Params{}, nil, fmt.Errorf("opus encoder: %w", err)
	}
	n := len(pcm) / clipChannels
	buf := make([]byte, opusMaxPacket)
	var frames []audio.Frame
	for i := 0; i+opusFrameSamples <= n; i += opusFrameSamples {
		m, err := enc.Encode(pcm[i*clipChannels:(i+opusFrameSamples)*clipChannels], buf)
		if err != nil {
			return audio.Params{}, nil, fmt.Errorf("opus encode: %w", err)
		}
		frames = append(frames, audio.Frame{
			PTS: streamStart + samplesToDuration(i-enc.Lookahead()), Payload: append([]byte(nil), buf[:m]...),
		})
	}
	return audio.Params{Codec: audio.CodecOpus, Rate: clipRate, Channels: clipChannels}, frames, nil
}

// samplesToDuration is n samples at clipRate, to the nanosecond below.
func samplesToDuration(n int) time.Duration {
	return time.Duration(n) * time.Second / clipRate
}
