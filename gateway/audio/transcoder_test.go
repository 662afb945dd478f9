package audio

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/thesyncim/gopus"
	aac "github.com/tphakala/go-aac"

	"github.com/frontrow-live/frontrow/gateway/audio/audiotest"
)

const (
	toneHz  = 1000.0
	toneAmp = 0.25
	// base is where the test streams start on the stream clock. On a
	// 48 kHz sample boundary: the transcoder puts its output on that grid
	// (moving it by less than a sample), and the checks place samples at
	// whole positions.
	base = 3 * time.Second
)

// aacSource encodes secs of the test tone at rate with go-aac, as an RTMP
// encoder would: frame k is stamped (k*1024 - priming)/rate after base, so
// its decoded samples play where the tone had them.
func aacSource(t testing.TB, rate, ch int, secs float64) (Params, []Frame) {
	return aacSourceFrom(t, rate, ch, secs, 0)
}

// aacSourceFrom is aacSource with silence before onset.
func aacSourceFrom(t testing.TB, rate, ch int, secs float64, onset time.Duration) (Params, []Frame) {
	t.Helper()
	pcm := audiotest.Tone(int(secs*float64(rate)), rate, ch, toneHz, toneAmp, base.Seconds())
	clear(pcm[:durationToSamples(onset, rate)*int64(ch)])
	return aacFrames(t, pcm, rate, ch)
}

// aacFrames encodes interleaved PCM that starts at base.
func aacFrames(t testing.TB, pcm []float32, rate, ch int) (Params, []Frame) {
	t.Helper()
	enc, err := aac.NewEncoder(aac.EncoderConfig{SampleRate: rate, Channels: ch, Bitrate: 64000 * ch})
	if err != nil {
		t.Fatal(err)
	}
	n := len(pcm) / ch
	planar := make([][]float32, ch)
	for c := range planar {
		planar[c] = make([]float32, aac.FrameSize)
	}
	var frames []Frame
	for i := 0; i+aac.FrameSize <= n; i += aac.FrameSize {
		for j := range aac.FrameSize {
			for c := range ch {
				planar[c][j] = pcm[(i+j)*ch+c]
			}
		}
		au, err := enc.EncodeFrame(nil, planar)
		if err != nil {
			t.Fatal(err)
		}
		if len(au) == 0 {
			continue
		}
		k := int64(len(frames))
		frames = append(frames, Frame{PTS: base + samplesToDuration(k*aac.FrameSize-int64(enc.Delay()), rate), Payload: au})
	}
	return Params{Codec: CodecAAC, Rate: rate, Channels: ch, Config: enc.AudioSpecificConfig()}, frames
}

// opusSource encodes secs of the tone with gopus in 20 ms packets stamped
// like a WebRTC sender's, corrected for the look-ahead so decoded samples
// play where the tone had them.
func opusSource(t testing.TB, ch int, secs float64) (Params, []Frame) {
	return opusSourceFrom(t, ch, secs, 0)
}

// opusSourceFrom is opusSource with silence before onset.
func opusSourceFrom(t testing.TB, ch int, secs float64, onset time.Duration) (Params, []Frame) {
	t.Helper()
	pcm := audiotest.Tone(int(secs*OutputRate), OutputRate, ch, toneHz, toneAmp, base.Seconds())
	clear(pcm[:durationToSamples(onset, OutputRate)*int64(ch)])
	return opusFrames(t, pcm, ch)
}

// opusFrames encodes interleaved 48 kHz PCM that starts at base, as a
// browser would (the Opus default application, 20 ms packets).
func opusFrames(t testing.TB, pcm []float32, ch int) (Params, []Frame) {
	t.Helper()
	enc, err := gopus.NewEncoder(gopus.EncoderConfig{SampleRate: OutputRate, Channels: ch, Application: gopus.ApplicationAudio})
	if err != nil {
		t.Fatal(err)
	}
	n := len(pcm) / ch
	var frames []Frame
	buf := make([]byte, opusMaxPacket)
	for i := 0; i+960 <= n; i += 960 {
		m, err := enc.Encode(pcm[i*ch:(i+960)*ch], buf)
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, Frame{
			PTS: base + samplesToDuration(int64(i-enc.Lookahead()), OutputRate), Payload: append([]byte(nil), buf[:m]...),
		})
	}
	return Params{Codec: CodecOpus, Rate: OutputRate, Channels: ch}, frames
}

// transcodeAll writes every frame and collects the output.
func transcodeAll(t testing.TB, tc *Transcoder, in []Frame) []Frame {
	t.Helper()
	var out []Frame
	for _, f := range in {
		if err := tc.Write(f, func(o Frame) { out = append(out, o) }); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("write %v: %v", f.PTS, err)
		}
	}
	return out
}

// decodeOnto decodes coded frames (of p) onto a 48 kHz timeline from
// base+from for dur, each at its PTS.
func decodeOnto(t testing.TB, p Params, frames []Frame, from, dur time.Duration) []float32 {
	t.Helper()
	dec, err := PureGo.NewDecoder(p)
	if err != nil {
		t.Fatal(err)
	}
	ch := dec.Format().Channels
	tl := audiotest.NewTimeline(OutputRate, ch, (base + from).Seconds(), int(durationToSamples(dur, OutputRate)))
	for _, f := range frames {
		pcm, err := dec.Decode(f.Payload)
		if err != nil {
			t.Fatalf("decode output at %v: %v", f.PTS, err)
		}
		tl.Put(f.PTS.Seconds(), pcm)
	}
	return tl.PCM()
}

// checkTone measures a decoded stretch: the tone's frequency, its level,
// its SNR against the best-fitting sine, and where that sine sits against
// the input's: a timestamp error shows as a phase offset (modulo the 1 ms
// period; TestTranscodeDelay pins the whole delay).
func checkTone(t *testing.T, what string, pcm []float32, ch int, from time.Duration) {
	t.Helper()
	x := audiotest.Channel(pcm, ch, 0)
	r := audiotest.Measure(x, OutputRate)
	inLevel := 20 * math.Log10(toneAmp/math.Sqrt2)
	wantPhase := 2 * math.Pi * toneHz * (base + from).Seconds()
	offset := math.Remainder(r.FitPhase-wantPhase, 2*math.Pi) / (2 * math.Pi * toneHz) * OutputRate
	t.Logf("%s: %.2f Hz, level %.2f dB (input %.2f), SNR %.1f dB, %+.2f samples from the input's time",
		what, r.Freq, r.LevelDB, inLevel, r.SNRDB, offset)
	if math.Abs(r.Freq-toneHz) > 1 {
		t.Errorf("%s: dominant frequency %.2f Hz, want %v", what, r.Freq, toneHz)
	}
	if math.Abs(r.LevelDB-inLevel) > 1 {
		t.Errorf("%s: level %.2f dB, input %.2f dB", what, r.LevelDB, inLevel)
	}
	if r.SNRDB < 30 {
		t.Errorf("%s: SNR %.1f dB, want > 30", what, r.SNRDB)
	}
	// The output clock starts on a 48 kHz sample boundary: less than one
	// sample from the input's time.
	if math.Abs(offset) > 1 {
		t.Errorf("%s: decoded output %.2f samples from where the input had it", what, offset)
	}
}

// AAC at any common rate becomes Opus at 48 kHz whose decoded samples sit
// where the input's were: the encoder's look-ahead, the AAC priming and the
// resampler are all accounted for in the timestamps.
func TestTranscodeAACToOpus(t *testing.T) {
	for _, c := range []struct{ rate, ch int }{{44100, 2}, {48000, 2}, {44100, 1}} {
		p, in := aacSource(t, c.rate, c.ch, 1)
		tc, err := NewTranscoder(PureGo, p, CodecOpus)
		if err != nil {
			t.Fatal(err)
		}
		out := transcodeAll(t, tc, in)
		if got := tc.Output(); got.Codec != CodecOpus || got.Rate != OutputRate || got.Channels != c.ch {
			t.Errorf("output %+v", got)
		}
		checkCadence(t, out, 960)
		from, dur := 200*time.Millisecond, 600*time.Millisecond
		pcm := decodeOnto(t, tc.Output(), out, from, dur)
		checkTone(t, "AAC "+itoa(c.rate)+" Hz "+itoa(c.ch)+" ch -> Opus", pcm, c.ch, from)
	}
}

// Opus becomes AAC-LC at 48 kHz with a 2-byte AudioSpecificConfig, on time.
func TestTranscodeOpusToAAC(t *testing.T) {
	for _, ch := range []int{2, 1} {
		p, in := opusSource(t, ch, 1)
		tc, err := NewTranscoder(PureGo, p, CodecAAC)
		if err != nil {
			t.Fatal(err)
		}
		out := transcodeAll(t, tc, in)
		got := tc.Output()
		if got.Codec != CodecAAC || got.Rate != OutputRate || got.Channels != ch || len(got.Config) != 2 {
			t.Errorf("output %+v", got)
		}
		checkCadence(t, out, 1024)
		from, dur := 200*time.Millisecond, 600*time.Millisecond
		pcm := decodeOnto(t, got, out, from, dur)
		checkTone(t, "Opus "+itoa(ch)+" ch -> AAC", pcm, ch, from)
	}
}

// checkCadence: consecutive output frames are exactly one frame apart on
// the output clock, and times rise.
func checkCadence(t *testing.T, out []Frame, frame int64) {
	t.Helper()
	if len(out) < 10 {
		t.Fatalf("only %d output frames", len(out))
	}
	for i := 1; i < len(out); i++ {
		if d := durationToSamples(out[i].PTS-out[i-1].PTS, OutputRate); d != frame {
			t.Fatalf("output frames %d and %d are %d samples apart, want %d", i-1, i, d, frame)
		}
	}
}

// The whole delay, not only its phase: a tone that starts after silence
// starts, decoded from the output, where it did in the input (the phase
// checks above cannot tell delays 1 ms apart). This is where the encoders'
// look-ahead and priming would show if they were not subtracted.
func TestTranscodeDelay(t *testing.T) {
	const onset = 500 * time.Millisecond
	for _, c := range []struct {
		name   string
		source func() (Params, []Frame)
		out    string
	}{
		{"AAC 44.1 kHz -> Opus", func() (Params, []Frame) { return aacSourceFrom(t, 44100, 2, 1, onset) }, CodecOpus},
		{"AAC 48 kHz -> Opus", func() (Params, []Frame) { return aacSourceFrom(t, 48000, 2, 1, onset) }, CodecOpus},
		{"Opus -> AAC", func() (Params, []Frame) { return opusSourceFrom(t, 2, 1, onset) }, CodecAAC},
	} {
		p, in := c.source()
		tc, err := NewTranscoder(PureGo, p, c.out)
		if err != nil {
			t.Fatal(err)
		}
		out := transcodeAll(t, tc, in)
		pcm := audiotest.Channel(decodeOnto(t, tc.Output(), out, 0, time.Second), 2, 0)
		first := -1
		for i, v := range pcm {
			if math.Abs(v) > toneAmp/2 {
				first = i
				break
			}
		}
		// sin reaches half its amplitude 1/12 period after it starts.
		want := int(durationToSamples(onset, OutputRate)) + OutputRate/int(toneHz)/12
		t.Logf("%s: tone starts at sample %d, input at %d", c.name, first, want)
		if first < want-12 || first > want+12 {
			t.Errorf("%s: decoded tone starts %d samples from where the input's did", c.name, first-want)
		}
	}
}

// A frame that does not decode costs itself: it is counted, its time is
// filled with silence, and the output goes on at the same cadence and in
// time (the tone after it still lines up with the input).
func TestTranscodeCorruptFrame(t *testing.T) {
	p, in := aacSource(t, 48000, 2, 1.5)
	bad := len(in) / 2
	in[bad].Payload = []byte{0xde, 0xad, 0xbe, 0xef, 0x00}
	in[bad+5].Payload = nil
	tc, err := NewTranscoder(PureGo, p, CodecOpus)
	if err != nil {
		t.Fatal(err)
	}
	var errs int
	var out []Frame
	for _, f := range in {
		if err := tc.Write(f, func(o Frame) { out = append(out, o) }); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			errs++
		}
	}
	st := tc.Stats()
	if errs != 2 || st.Corrupt != 2 || st.Filled != 2 || st.In != uint64(len(in)) || st.Restarts != 0 {
		t.Errorf("%d errors, stats %+v; want 2 corrupt frames, 2 holes filled", errs, st)
	}
	checkCadence(t, out, 960)
	// After the holes, the tone is back where it belongs.
	after := in[bad+8].PTS - base
	pcm := decodeOnto(t, tc.Output(), out, after, 300*time.Millisecond)
	checkTone(t, "after corrupt frames", pcm, 2, after)
	// The hole is silence, not a shifted timeline: about one frame's energy is missing.
	hole := decodeOnto(t, tc.Output(), out, in[bad].PTS-base, samplesToDuration(1024, 48000))
	if r := audiotest.Measure(audiotest.Channel(hole, 2, 0), OutputRate); r.LevelDB > 20*math.Log10(toneAmp/math.Sqrt2)-3 {
		t.Errorf("the corrupt frame's time has level %.1f dB, want mostly silence", r.LevelDB)
	}
}

// Lost frames leave a hole that is filled; a late (reordered) frame is
// dropped; a jump of more than maxGap starts the output again at the new
// time, never going back.
func TestTranscodeTiming(t *testing.T) {
	p, in := opusSource(t, 2, 3)
	tc, err := NewTranscoder(PureGo, p, CodecAAC)
	if err != nil {
		t.Fatal(err)
	}
	var out []Frame
	emit := func(o Frame) { out = append(out, o) }
	write := func(f Frame) {
		t.Helper()
		if err := tc.Write(f, emit); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range in[:20] {
		write(f)
	}
	for _, f := range in[25:40] { // 100 ms lost
		write(f)
	}
	write(in[30]) // a late duplicate
	if st := tc.Stats(); st.Filled != 1 || st.Late != 1 || st.Restarts != 0 {
		t.Errorf("after a hole and a late frame: %+v", st)
	}
	checkCadence(t, out, 1024)
	n := len(out)
	jump := in[40]
	jump.PTS += 5 * time.Second
	write(jump)
	for _, f := range in[41:60] {
		f.PTS += 5 * time.Second
		write(f)
	}
	if st := tc.Stats(); st.Restarts != 1 {
		t.Errorf("after a 5 s jump: %+v", st)
	}
	for i := 1; i < len(out); i++ {
		if out[i].PTS <= out[i-1].PTS {
			t.Fatalf("output %d at %v after %v", i, out[i].PTS, out[i-1].PTS)
		}
	}
	if len(out) <= n || out[n].PTS < jump.PTS-samplesToDuration(1024, OutputRate) {
		t.Errorf("after the jump the output continues at %v, want from about %v", out[n].PTS, jump.PTS)
	}
	checkCadence(t, out[n:], 1024)
}

// Streams the libraries cannot decode are refused with ErrUnsupported, so
// the bridge stays off and the tier goes without sound.
func TestTranscoderUnsupported(t *testing.T) {
	for name, p := range map[string]Params{
		"HE-AAC (explicit SBR)": {Codec: CodecAAC, Config: []byte{0x2b, 0x12, 0x08, 0x00}},
		"AAC 5.1":               {Codec: CodecAAC, Config: []byte{0x11, 0xb0}},
		"Opus 6 channels":       {Codec: CodecOpus, Rate: 48000, Channels: 6},
		"MP3":                   {Codec: "mp3"},
	} {
		if _, err := NewTranscoder(PureGo, p, CodecOpus); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: %v, want ErrUnsupported", name, err)
		}
	}
}

func itoa(n int) string {
	return string(appendInt(nil, n))
}

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}
