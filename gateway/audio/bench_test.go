package audio

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/gateway/audio/audiotest"
)

// benchClip is how much audio one benchmark op transcodes.
const benchClip = 5 * time.Second

// music is a stand-in for programme audio: a chord with vibrato and noise,
// different on each channel (broadband: the hard case for AAC's coders).
func music(n, rate int) []float32 {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]float32, 2*n)
	for i := range n {
		t := float64(i) / float64(rate)
		v := 0.12*math.Sin(2*math.Pi*220*t+0.5*math.Sin(2*math.Pi*5*t)) + 0.06*math.Sin(2*math.Pi*277.2*t) +
			0.06*math.Sin(2*math.Pi*329.6*t)*math.Sin(2*math.Pi*0.5*t)
		out[2*i] = float32(v + 0.04*(rng.Float64()*2-1))
		out[2*i+1] = float32(0.8*v + 0.04*(rng.Float64()*2-1))
	}
	return out
}

// speech is a stand-in for a voice: a 140 Hz buzz with harmonics, pulsed
// three times a second (tonal and bursty).
func speech(n, rate int) []float32 {
	out := make([]float32, 2*n)
	for i := range n {
		t := float64(i) / float64(rate)
		env := math.Max(0, math.Sin(2*math.Pi*3*t))
		var v float64
		for h := 1; h < 20; h++ {
			v += math.Sin(2*math.Pi*140*float64(h)*t) / float64(h)
		}
		out[2*i], out[2*i+1] = float32(0.15*env*v), float32(0.12*env*v)
	}
	return out
}

// BenchmarkTranscode measures one stereo transcoder per direction, for a
// 1 kHz tone (the quality tests' signal), a voice-like buzz and broadband
// programme audio (AAC encoders' costs depend on the material). One op
// transcodes benchClip of audio; it reports:
//
//   - %core: the share of one core the transcoder takes per real-time
//     second of audio, from the process's CPU time (GC included), so other
//     processes on the machine do not inflate it (budget: 5 %);
//   - added-ms-mean and added-ms-max: how much later each input sample
//     reaches the tier than the input frame carrying it reached the
//     gateway, with frames arriving in real time and the measured
//     processing time (budget: 40 ms). Framing (1024 vs 960 samples), the
//     encoder's look-ahead or pipeline and the resampler's look-ahead are
//     in it; the tier's own transport is not.
//
// Run it with:
//
//	go test ./gateway/audio -run '^$' -bench Transcode -benchtime 20x
func BenchmarkTranscode(b *testing.B) {
	tone := func(rate int) []float32 {
		return audiotest.Tone(int(benchClip.Seconds()*float64(rate)), rate, 2, toneHz, toneAmp, base.Seconds())
	}
	musicAt := func(rate int) []float32 { return music(int(benchClip.Seconds()*float64(rate)), rate) }
	speechAt := func(rate int) []float32 { return speech(int(benchClip.Seconds()*float64(rate)), rate) }
	for _, c := range []struct {
		name string
		pcm  func(int) []float32
		rate int
		out  string
	}{
		{"AACToOpus/44.1kHz/tone", tone, 44100, CodecOpus},
		{"AACToOpus/44.1kHz/speech", speechAt, 44100, CodecOpus},
		{"AACToOpus/44.1kHz/music", musicAt, 44100, CodecOpus},
		{"AACToOpus/48kHz/music", musicAt, 48000, CodecOpus},
		{"OpusToAAC/tone", tone, 48000, CodecAAC},
		{"OpusToAAC/speech", speechAt, 48000, CodecAAC},
		{"OpusToAAC/music", musicAt, 48000, CodecAAC},
	} {
		var p Params
		var in []Frame
		if c.out == CodecOpus {
			p, in = aacFrames(b, c.pcm(c.rate), c.rate, 2)
		} else {
			p, in = opusFrames(b, c.pcm(c.rate), 2)
		}
		b.Run(c.name, func(b *testing.B) {
			discard := func(Frame) {}
			cpu := cpuTime()
			for b.Loop() {
				tc, err := NewTranscoder(PureGo, p, c.out)
				if err != nil {
					b.Fatal(err)
				}
				for _, f := range in {
					_ = tc.Write(f, discard)
				}
			}
			perOp := (cpuTime() - cpu).Seconds() / float64(b.N)
			b.ReportMetric(100*perOp/benchClip.Seconds(), "%core")
			mean, worst := addedLatency(b, p, in, c.out)
			b.ReportMetric(mean.Seconds()*1000, "added-ms-mean")
			b.ReportMetric(worst.Seconds()*1000, "added-ms-max")
		})
	}
}

// addedLatency replays in as a real-time source would send it (each frame
// once its last sample exists) through a transcoder, timing each Write, and
// returns the mean and worst delay from an input sample's frame arriving to
// the output frame carrying it being emitted (sampled every 0.25 ms of
// audio, the first and last half second left out).
func addedLatency(b *testing.B, p Params, in []Frame, out string) (mean, worst time.Duration) {
	b.Helper()
	tc, err := NewTranscoder(PureGo, p, out)
	if err != nil {
		b.Fatal(err)
	}
	frameDur := samplesToDuration(1024, p.Rate)
	if p.Codec == CodecOpus {
		frameDur = 20 * time.Millisecond
	}
	type emitted struct {
		start, end time.Duration // content, on the stream clock
		at         time.Duration // when it was emitted, on the same clock
	}
	var outs []emitted
	outDur := samplesToDuration(int64(tc.enc.FrameSize()), OutputRate)
	for _, f := range in {
		arrival := f.PTS + frameDur
		start := time.Now()
		_ = tc.Write(f, func(o Frame) {
			outs = append(outs, emitted{o.PTS, o.PTS + outDur, arrival + time.Since(start)})
		})
	}
	arrivalOf := func(x time.Duration) time.Duration {
		i := sort.Search(len(in), func(i int) bool { return in[i].PTS > x }) - 1
		return in[i].PTS + frameDur
	}
	var sum time.Duration
	n := 0
	from, to := in[0].PTS+500*time.Millisecond, in[len(in)-1].PTS-500*time.Millisecond
	for _, o := range outs {
		for x := o.start; x < o.end; x += 250 * time.Microsecond {
			if x < from || x > to {
				continue
			}
			d := o.at - arrivalOf(x)
			sum += d
			worst = max(worst, d)
			n++
		}
	}
	if n == 0 {
		b.Fatal("no output to measure")
	}
	return sum / time.Duration(n), worst
}
