package audio

import (
	"errors"
	"fmt"

	"github.com/thesyncim/gopus"
	aac "github.com/tphakala/go-aac"
	aacpcm "github.com/tphakala/go-aac/pcm"
)

const (
	// opusBitratePerChannel: 48 kb/s a channel (96 kb/s stereo) is
	// transparent for music in Opus's CELT mode; WebRTC browsers send 32-64.
	opusBitratePerChannel = 48000
	// aacBitratePerChannel: 64 kb/s a channel (128 kb/s stereo), the usual
	// AAC-LC rate for live music.
	aacBitratePerChannel = 64000
	// aacCoder is go-aac's quantizer search: the NMR trellis (upstream's
	// default and best) costs about 2-2.5 % of a core per stereo stream on
	// tones, voice and broadband alike, where the "fast" two-loop search
	// ranges from 1.2 % (noise) to 4 % (a pure tone, voice), measured in
	// thread CPU time (BenchmarkTranscode; see the README).
	aacCoder = aac.CoderNMR
	// opusApplication: CELT only, 2.5 ms look-ahead instead of 6.5 ms and
	// no mode switches (OPUS_APPLICATION_RESTRICTED_LOWDELAY): at 48 kb/s
	// a channel CELT carries speech and music alike.
	opusApplication = gopus.ApplicationLowDelay
	// opusMaxFrame is the longest Opus packet in samples per channel
	// (120 ms at 48 kHz, RFC 6716 section 3.2.5).
	opusMaxFrame = 5760
	// opusMaxPacket is enough for any Opus packet (RFC 6716 section 3.4, R1-R5).
	opusMaxPacket = 4000
)

// PureGo is the default library set: gopus (Opus, BSD-3-Clause) and go-aac
// (AAC-LC, LGPL-2.1-or-later), both pure Go.
var PureGo Codecs = pureGo{}

type pureGo struct{}

func (pureGo) NewDecoder(p Params) (Decoder, error) {
	switch p.Codec {
	case CodecOpus:
		return newOpusDecoder(p.Channels)
	case CodecAAC:
		return newAACDecoder(p.Config)
	}
	return nil, fmt.Errorf("audio: decode %q: %w", p.Codec, ErrUnsupported)
}

func (pureGo) NewEncoder(codec string, f Format) (Encoder, error) {
	switch codec {
	case CodecOpus:
		return newOpusEncoder(f)
	case CodecAAC:
		return newAACEncoder(f)
	}
	return nil, fmt.Errorf("audio: encode %q: %w", codec, ErrUnsupported)
}

// opusDecoder decodes Opus packets (RFC 6716) with gopus at 48 kHz.
type opusDecoder struct {
	d   *gopus.Decoder
	f   Format
	pcm []float32
}

func newOpusDecoder(channels int) (*opusDecoder, error) {
	if channels < 1 || channels > 2 {
		return nil, fmt.Errorf("audio: Opus with %d channels: %w", channels, ErrUnsupported)
	}
	d, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(OutputRate, channels))
	if err != nil {
		return nil, fmt.Errorf("audio: Opus decoder: %w", err)
	}
	return &opusDecoder{d: d, f: Format{Rate: OutputRate, Channels: channels}, pcm: make([]float32, opusMaxFrame*channels)}, nil
}

func (d *opusDecoder) Format() Format { return d.f }

func (d *opusDecoder) Decode(frame []byte) ([]float32, error) {
	if len(frame) == 0 {
		// gopus conceals a lost packet for nil data; an empty payload is
		// not a packet (RFC 6716 section 3.1 needs a TOC byte).
		return nil, fmt.Errorf("%w: empty Opus packet", ErrCorrupt)
	}
	n, err := d.d.Decode(frame, d.pcm)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return d.pcm[:n*d.f.Channels], nil
}

// opusEncoder encodes 20 ms Opus packets with gopus.
type opusEncoder struct {
	e   *gopus.Encoder
	f   Format
	out []byte
}

func newOpusEncoder(f Format) (*opusEncoder, error) {
	if f.Rate != OutputRate || f.Channels < 1 || f.Channels > 2 {
		return nil, fmt.Errorf("audio: Opus encoder for %d Hz, %d channels: %w", f.Rate, f.Channels, ErrUnsupported)
	}
	e, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: f.Rate, Channels: f.Channels, Application: opusApplication})
	if err != nil {
		return nil, fmt.Errorf("audio: Opus encoder: %w", err)
	}
	enc := &opusEncoder{e: e, f: f, out: make([]byte, opusMaxPacket)}
	if err := enc.configure(); err != nil {
		return nil, err
	}
	return enc, nil
}

func (e *opusEncoder) configure() error {
	if err := e.e.SetBitrate(opusBitratePerChannel * e.f.Channels); err != nil {
		return fmt.Errorf("audio: Opus bitrate: %w", err)
	}
	return nil
}

func (e *opusEncoder) Params() Params {
	return Params{Codec: CodecOpus, Rate: e.f.Rate, Channels: e.f.Channels}
}

// FrameSize is 20 ms, WebRTC's default ptime (RFC 7587 section 4.2).
func (e *opusEncoder) FrameSize() int { return e.e.FrameSize() }

// Delay is the encoder's look-ahead (312 samples, 6.5 ms, in CELT mode).
func (e *opusEncoder) Delay() int { return e.e.Lookahead() }

func (e *opusEncoder) Encode(pcm []float32) ([]byte, error) {
	n, err := e.e.Encode(pcm, e.out)
	if err != nil {
		return nil, fmt.Errorf("audio: Opus encode: %w", err)
	}
	return e.out[:n], nil
}

func (e *opusEncoder) Reset() error {
	e.e.Reset()
	return e.configure()
}

// aacDecoder decodes raw AAC-LC access units with go-aac. Its streaming API
// reads length-prefixed units from an io.Reader; frameReader hands it one
// unit per Read, so each Decode is one synchronous call.
type aacDecoder struct {
	d   *aacpcm.Decoder
	asc []byte
	f   Format
	in  frameReader
	raw []byte // S16LE output of one frame
	pcm []float32
}

func newAACDecoder(asc []byte) (*aacDecoder, error) {
	d := &aacDecoder{asc: asc}
	dec, err := aacpcm.NewDecoder(&d.in, aacpcm.WithRawStream(asc))
	if err != nil {
		if errors.Is(err, aacpcm.ErrUnsupported) {
			return nil, fmt.Errorf("audio: AAC AudioSpecificConfig %x (go-aac decodes AAC-LC mono and stereo only): %w: %w", asc, ErrUnsupported, err)
		}
		return nil, fmt.Errorf("audio: AAC AudioSpecificConfig %x: %w", asc, err)
	}
	info := dec.Info()
	d.d, d.f = dec, Format{Rate: info.SampleRate, Channels: info.Channels}
	d.raw = make([]byte, aac.FrameSize*2*info.Channels)
	d.pcm = make([]float32, aac.FrameSize*info.Channels)
	return d, nil
}

func (d *aacDecoder) Format() Format { return d.f }

func (d *aacDecoder) Decode(frame []byte) ([]float32, error) {
	if len(frame) == 0 || len(frame) > 0xffff {
		return nil, fmt.Errorf("%w: AAC frame of %d bytes", ErrCorrupt, len(frame))
	}
	d.in.set(frame)
	n, err := d.d.Read(d.raw)
	if err == nil && n != len(d.raw) {
		err = fmt.Errorf("decoded %d bytes of PCM, want %d", n, len(d.raw))
	}
	if err != nil {
		// The decoder latches its error; start it again for the next frame.
		d.in.set(nil)
		if rerr := d.d.Reset(&d.in, aacpcm.WithRawStream(d.asc)); rerr != nil {
			return nil, fmt.Errorf("audio: AAC decoder reset: %w", rerr)
		}
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	for i := range d.pcm {
		d.pcm[i] = float32(int16(uint16(d.raw[2*i])|uint16(d.raw[2*i+1])<<8)) / 32768
	}
	return d.pcm, nil
}

// frameReader serves one length-prefixed access unit (go-aac's raw framing:
// 2-byte big-endian length) and then reports that nothing is there.
type frameReader struct {
	buf []byte
	off int
}

var errNoFrame = errors.New("audio: no AAC frame queued")

// set queues frame; nil queues nothing.
func (r *frameReader) set(frame []byte) {
	r.buf, r.off = r.buf[:0], 0
	if frame != nil {
		r.buf = append(r.buf, byte(len(frame)>>8), byte(len(frame)))
		r.buf = append(r.buf, frame...)
	}
}

func (r *frameReader) empty() bool { return r.off == len(r.buf) }

func (r *frameReader) Read(p []byte) (int, error) {
	if r.empty() {
		return 0, errNoFrame
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

// aacEncoder encodes AAC-LC access units (1024 samples) with go-aac.
type aacEncoder struct {
	e      *aac.Encoder
	cfg    aac.EncoderConfig
	planar [][]float32
	out    []byte
}

func newAACEncoder(f Format) (*aacEncoder, error) {
	if f.Channels < 1 || f.Channels > 2 || (f.Rate != 48000 && f.Rate != 44100) {
		return nil, fmt.Errorf("audio: AAC encoder for %d Hz, %d channels (go-aac: 44.1 or 48 kHz, mono or stereo): %w",
			f.Rate, f.Channels, ErrUnsupported)
	}
	cfg := aac.EncoderConfig{SampleRate: f.Rate, Channels: f.Channels, Bitrate: aacBitratePerChannel * f.Channels, Coder: aacCoder}
	e, err := aac.NewEncoder(cfg)
	if err != nil {
		return nil, fmt.Errorf("audio: AAC encoder: %w", err)
	}
	enc := &aacEncoder{e: e, cfg: cfg, out: make([]byte, 0, 6144/8*f.Channels)}
	for range f.Channels {
		enc.planar = append(enc.planar, make([]float32, aac.FrameSize))
	}
	return enc, nil
}

func (e *aacEncoder) Params() Params {
	return Params{Codec: CodecAAC, Rate: e.cfg.SampleRate, Channels: e.cfg.Channels, Config: e.e.AudioSpecificConfig()}
}

func (e *aacEncoder) FrameSize() int { return aac.FrameSize }

// Delay is the priming: the decoded output starts with one frame the
// encoder made up (aac.EncoderDelay).
func (e *aacEncoder) Delay() int { return e.e.Delay() }

func (e *aacEncoder) Encode(pcm []float32) ([]byte, error) {
	ch := len(e.planar)
	for i := range aac.FrameSize {
		for c := range ch {
			e.planar[c][i] = pcm[i*ch+c]
		}
	}
	out, err := e.e.EncodeFrame(e.out[:0], e.planar)
	if err != nil {
		return nil, fmt.Errorf("audio: AAC encode: %w", err)
	}
	e.out = out
	if len(out) == 0 {
		return nil, nil // priming: the first frame comes out with the second
	}
	return out, nil
}

func (e *aacEncoder) Reset() error {
	if err := e.e.Reset(e.cfg); err != nil {
		return fmt.Errorf("audio: AAC encoder reset: %w", err)
	}
	return nil
}
