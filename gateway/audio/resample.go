package audio

import (
	"fmt"
	"math"
)

const (
	// resampleHalfTaps is the filter's half length in input samples (when
	// upsampling): 24 each side keep images and aliases below -90 dB with
	// the Kaiser window below, for 0.5 ms of look-ahead at 44.1 kHz.
	resampleHalfTaps = 24
	// resampleBeta is the Kaiser window's beta: about 90 dB of stopband
	// attenuation (Kaiser's formula, beta = 0.1102 (A - 8.7)).
	resampleBeta = 9.0
	// resampleCutoff is the passband edge as a fraction of the lower
	// Nyquist frequency: 20.3 kHz for 44.1 kHz input, 14.7 kHz for 32 kHz.
	resampleCutoff = 0.92
	// maxPhases bounds the polyphase table: rates whose ratio needs more
	// phases than this (none of the MPEG-4 rates to 48 kHz do) are refused.
	maxPhases = 1024
)

// Resampler converts interleaved PCM from one sample rate to another with a
// polyphase windowed-sinc filter (a rational L/M converter: output sample n
// sits at input position n*M/L). It is exact in time: output sample n
// belongs at input time n/out, so timestamps need no correction for the
// filter, which instead looks resampleHalfTaps input samples ahead. Not safe
// for concurrent use.
type Resampler struct {
	ch       int
	up, down int64 // L and M: out/in rate ratio in lowest terms
	half     int   // taps each side of the centre, in input samples
	taps     int   // 2*half
	coef     []float32

	buf  []float32 // interleaved input history; buf[0] is input sample base
	base int64     // absolute input index of buf[0]
	next int64     // absolute index of the next output sample
}

// NewResampler makes a converter for ch-channel PCM from rate in to out.
func NewResampler(in, out, ch int) (*Resampler, error) {
	if in <= 0 || out <= 0 || ch < 1 {
		return nil, fmt.Errorf("audio: resample %d Hz to %d Hz, %d channels: %w", in, out, ch, ErrUnsupported)
	}
	g := gcd(in, out)
	r := &Resampler{ch: ch, up: int64(out / g), down: int64(in / g)}
	if r.up > maxPhases {
		return nil, fmt.Errorf("audio: resample %d Hz to %d Hz needs %d filter phases: %w", in, out, r.up, ErrUnsupported)
	}
	// Cut at the lower of the two Nyquist frequencies; downsampling
	// stretches the filter by the ratio to keep the same transition width
	// in output terms.
	fc := resampleCutoff
	scale := 1.0
	if out < in {
		scale = float64(out) / float64(in)
		fc *= scale
	}
	r.half = int(math.Ceil(resampleHalfTaps / scale))
	r.taps = 2 * r.half
	r.coef = make([]float32, int(r.up)*r.taps)
	norm := besselI0(resampleBeta)
	for phase := range int(r.up) {
		frac := float64(phase) / float64(r.up)
		row := r.coef[phase*r.taps : (phase+1)*r.taps]
		sum := 0.0
		vals := make([]float64, r.taps)
		for k := range r.taps {
			t := float64(k-r.half+1) - frac // input sample's distance from the output position
			x := t / float64(r.half)
			w := 0.0
			if x > -1 && x < 1 {
				w = besselI0(resampleBeta*math.Sqrt(1-x*x)) / norm
			}
			vals[k] = fc * sinc(fc*t) * w
			sum += vals[k]
		}
		for k, v := range vals {
			row[k] = float32(v / sum) // unity gain at DC in every phase
		}
	}
	r.Reset()
	return r, nil
}

// Reset forgets all input: the next sample is input sample 0 again.
func (r *Resampler) Reset() {
	// The filter reaches half-1 samples before input 0: silence.
	r.base = -int64(r.half - 1)
	r.buf = append(r.buf[:0], make([]float32, (r.half-1)*r.ch)...)
	r.next = 0
}

// Delay is how far ahead of an output sample's time the input must reach,
// in input samples: the converter's latency.
func (r *Resampler) Delay() int { return r.half }

// Process takes interleaved input and appends the output samples it
// completes to out.
func (r *Resampler) Process(in []float32, out []float32) []float32 {
	r.buf = append(r.buf, in...)
	have := r.base + int64(len(r.buf)/r.ch) // one past the newest input index
	for {
		pos := r.next * r.down
		i, phase := pos/r.up, pos%r.up
		if i+int64(r.half) >= have {
			break
		}
		row := r.coef[int(phase)*r.taps : int(phase+1)*r.taps]
		start := int(i-int64(r.half)+1-r.base) * r.ch
		for c := range r.ch {
			var acc float32
			for k, h := range row {
				acc += h * r.buf[start+k*r.ch+c]
			}
			out = append(out, acc)
		}
		r.next++
	}
	// Keep what the next output sample's window needs.
	i := r.next * r.down / r.up
	if drop := int(i-int64(r.half)+1-r.base) * r.ch; drop > 0 {
		n := copy(r.buf, r.buf[drop:])
		r.buf = r.buf[:n]
		r.base += int64(drop / r.ch)
	}
	return out
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// by its power series (converges fast for the betas used here).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-12*sum {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}
