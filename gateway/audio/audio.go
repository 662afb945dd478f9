// Package audio bridges a stream's audio between the codecs its two tiers
// carry: WebRTC carries Opus, LL-HLS carries AAC-LC. A Transcoder decodes one
// publisher's frames, resamples to 48 kHz where needed and encodes them again,
// keeping every output frame on the stream clock; a Worker runs one
// Transcoder on its own goroutine behind a bounded queue, so the ingest path
// never waits for it.
//
// The codec libraries sit behind Decoder, Encoder and Codecs, so they can be
// swapped; PureGo (gopus for Opus, go-aac for AAC-LC) is the default, one
// static binary without cgo.
package audio

import (
	"errors"
	"time"
)

// Codec names, as packager.AudioInfo.Codec spells them.
const (
	CodecOpus = "opus"
	CodecAAC  = "aac"
)

// OutputRate is the sample rate of everything the bridge encodes: Opus's one
// rate (RFC 7587 section 4.1), and the AAC rate WebRTC-sourced audio has anyway.
const OutputRate = 48000

// ErrUnsupported is returned when a library cannot decode or encode a
// stream (HE-AAC, more than two channels, a sample rate it lacks): the
// bridge stays off for that publication and the tier goes without sound.
var ErrUnsupported = errors.New("audio: codec configuration not supported")

// ErrCorrupt wraps the error of a frame that did not decode; it costs that
// frame only.
var ErrCorrupt = errors.New("audio: frame did not decode")

// Format is a PCM layout: interleaved float32 samples in [-1, 1].
type Format struct {
	Rate     int // Hz
	Channels int // 1 or 2
}

// Params describes a coded audio stream.
type Params struct {
	Codec    string // CodecOpus or CodecAAC
	Rate     int    // Hz; 48000 for Opus
	Channels int
	// Config is the AAC AudioSpecificConfig (ISO/IEC 14496-3 section
	// 1.6.2.1); empty for Opus.
	Config []byte
}

// Decoder turns coded frames into PCM. Not safe for concurrent use.
type Decoder interface {
	// Format is the PCM the decoder produces.
	Format() Format
	// Decode decodes one frame. The samples are borrowed: valid until the
	// next call. A frame that does not decode returns an error and leaves
	// the decoder usable (it resets itself if it must).
	Decode(frame []byte) ([]float32, error)
}

// Encoder turns PCM into coded frames. Not safe for concurrent use.
type Encoder interface {
	// Params describes the coded stream (for AAC with its AudioSpecificConfig).
	Params() Params
	// FrameSize is the samples per channel each Encode call takes.
	FrameSize() int
	// Delay is how many samples per channel the decoded output lags the
	// input: Opus's look-ahead, AAC's priming. Output timestamps subtract
	// it, so decoded audio lands where its input was.
	Delay() int
	// Encode takes exactly FrameSize samples per channel (interleaved) and
	// returns at most one coded frame: nil while the encoder fills its
	// pipeline (AAC holds one frame back). The bytes are borrowed: valid
	// until the next call.
	Encode(pcm []float32) ([]byte, error)
	// Reset starts a new, independent stream.
	Reset() error
}

// Codecs makes the decoders and encoders a Transcoder uses: the one seam
// between frontrow and the codec libraries.
type Codecs interface {
	// NewDecoder returns ErrUnsupported (wrapped) for streams it cannot decode.
	NewDecoder(p Params) (Decoder, error)
	// NewEncoder makes an encoder of codec for PCM in format f.
	NewEncoder(codec string, f Format) (Encoder, error)
}

// samplesToDuration is the time n samples last at rate, rounded up to the
// nanosecond, so converting back to ticks of rate (rounding down, as the
// packager does) gives n again.
func samplesToDuration(n int64, rate int) time.Duration {
	r := int64(rate)
	whole, rem := n/r, n%r
	if rem < 0 {
		whole, rem = whole-1, rem+r
	}
	return time.Duration(whole)*time.Second + time.Duration((rem*int64(time.Second)+r-1)/r)
}

// durationToSamples is the number of whole samples at rate in d, rounded to
// the nearest.
func durationToSamples(d time.Duration, rate int) int64 {
	r := int64(rate)
	sec, rem := int64(d/time.Second), int64(d%time.Second)
	return sec*r + (rem*r+int64(time.Second)/2)/int64(time.Second)
}

// ceilToTick rounds d up to the next time samplesToDuration gives for a
// whole number of samples at rate (from the stream clock's zero), so times
// counted in samples from it convert to exact ticks.
func ceilToTick(d time.Duration, rate int) time.Duration {
	r := int64(rate)
	sec, rem := int64(d/time.Second), int64(d%time.Second)
	if rem < 0 {
		sec, rem = sec-1, rem+int64(time.Second)
	}
	ticks := rem * r / int64(time.Second)
	if samplesToDuration(ticks, rate) < time.Duration(rem) {
		ticks++
	}
	return time.Duration(sec)*time.Second + samplesToDuration(ticks, rate)
}
