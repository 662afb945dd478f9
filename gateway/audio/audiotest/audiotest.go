// Package audiotest measures decoded test tones for the audio bridge's
// tests: dominant frequency, level, and signal-to-noise ratio against the
// best-fitting sine (the fit is the time alignment: it finds the phase).
package audiotest

import (
	"math"
	"math/cmplx"
)

// Tone is n samples of a ch-channel sine at freq Hz and amplitude amp,
// sampled at rate, interleaved; start is the time of sample 0 in seconds
// (the phase is 2*pi*freq*t).
func Tone(n, rate, ch int, freq, amp, start float64) []float32 {
	out := make([]float32, n*ch)
	for i := range n {
		v := float32(amp * math.Sin(2*math.Pi*freq*(start+float64(i)/float64(rate))))
		for c := range ch {
			out[i*ch+c] = v
		}
	}
	return out
}

// Channel picks channel c of interleaved samples.
func Channel(pcm []float32, ch, c int) []float64 {
	out := make([]float64, len(pcm)/ch)
	for i := range out {
		out[i] = float64(pcm[i*ch+c])
	}
	return out
}

// Report is what Measure finds in a stretch of a tone.
type Report struct {
	Freq     float64 // dominant frequency, Hz
	LevelDB  float64 // RMS level, dBFS (a full-scale sine is -3 dB)
	SNRDB    float64 // fitted sine's power over the residual's
	FitAmp   float64 // amplitude of the fitted sine
	FitPhase float64 // its phase at sample 0, radians
}

// Measure analyses x (one channel at rate): the dominant frequency from an
// FFT peak with parabolic interpolation, refined by least squares; the RMS
// level; and the SNR of x against the sine fitted at that frequency.
func Measure(x []float64, rate int) Report {
	var r Report
	var p float64
	for _, v := range x {
		p += v * v
	}
	p /= float64(len(x))
	r.LevelDB = 10 * math.Log10(p)
	r.Freq = dominant(x, rate)
	// Refine to the frequency whose fitted sine leaves the least residual:
	// near it the residual is a parabola in the frequency.
	for _, step := range []float64{0.5, 0.05, 0.005} {
		_, _, r0 := fit(x, rate, r.Freq-step)
		_, _, r1 := fit(x, rate, r.Freq)
		_, _, r2 := fit(x, rate, r.Freq+step)
		if d := r0 - 2*r1 + r2; d > 0 {
			r.Freq += step * max(-1, min(1, (r0-r2)/(2*d)))
		}
	}
	amp, phase, res := fit(x, rate, r.Freq)
	r.FitAmp, r.FitPhase = amp, phase
	r.SNRDB = 10 * math.Log10(amp*amp/2/res)
	return r
}

// SNRAgainst is the ratio, in dB, of want's power to that of got - want.
func SNRAgainst(got, want []float64) float64 {
	var s, e float64
	for i := range min(len(got), len(want)) {
		s += want[i] * want[i]
		d := got[i] - want[i]
		e += d * d
	}
	return 10 * math.Log10(s/e)
}

// fit finds a*sin + b*cos + c at freq by least squares and returns the
// sine's amplitude, its phase, and the mean residual power.
func fit(x []float64, rate int, freq float64) (amp, phase, res float64) {
	var ss, cc, sc, s1, c1, xs, xc, x1 float64
	n := float64(len(x))
	w := 2 * math.Pi * freq / float64(rate)
	for i, v := range x {
		s, c := math.Sincos(w * float64(i))
		ss += s * s
		cc += c * c
		sc += s * c
		s1 += s
		c1 += c
		xs += v * s
		xc += v * c
		x1 += v
	}
	// Normal equations of [s c 1] * [a b d]' = x.
	m := [3][4]float64{{ss, sc, s1, xs}, {sc, cc, c1, xc}, {s1, c1, n, x1}}
	for i := range 3 {
		for j := i + 1; j < 3; j++ {
			f := m[j][i] / m[i][i]
			for k := i; k < 4; k++ {
				m[j][k] -= f * m[i][k]
			}
		}
	}
	var sol [3]float64
	for i := 2; i >= 0; i-- {
		v := m[i][3]
		for k := i + 1; k < 3; k++ {
			v -= m[i][k] * sol[k]
		}
		sol[i] = v / m[i][i]
	}
	a, b, d := sol[0], sol[1], sol[2]
	for i, v := range x {
		s, c := math.Sincos(w * float64(i))
		e := v - a*s - b*c - d
		res += e * e
	}
	return math.Hypot(a, b), math.Atan2(b, a), res / n
}

// dominant is the frequency of the highest peak of x's Hann-windowed
// spectrum, interpolated between bins.
func dominant(x []float64, rate int) float64 {
	n := 1
	for n*2 <= len(x) {
		n *= 2
	}
	buf := make([]complex128, n)
	for i := range n {
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n))
		buf[i] = complex(x[i]*w, 0)
	}
	fft(buf)
	best := 1
	for k := 1; k < n/2; k++ {
		if cmplx.Abs(buf[k]) > cmplx.Abs(buf[best]) {
			best = k
		}
	}
	a, b, c := cmplx.Abs(buf[best-1]), cmplx.Abs(buf[best]), cmplx.Abs(buf[best+1])
	shift := 0.0
	if d := a - 2*b + c; d != 0 {
		shift = 0.5 * (a - c) / d
	}
	return (float64(best) + shift) * float64(rate) / float64(n)
}

// fft is an in-place radix-2 Cooley-Tukey FFT; len(a) is a power of two.
func fft(a []complex128) {
	n := len(a)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			a[i], a[j] = a[j], a[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		step := cmplx.Exp(complex(0, -2*math.Pi/float64(size)))
		for start := 0; start < n; start += size {
			w := complex(1, 0)
			for k := range size / 2 {
				u, v := a[start+k], a[start+k+size/2]*w
				a[start+k], a[start+k+size/2] = u+v, u-v
				w *= step
			}
		}
	}
}

// Timeline places decoded frames at their timestamps, so holes and
// misplaced frames show up as noise when measured.
type Timeline struct {
	rate, ch int
	start    float64 // seconds of sample 0
	pcm      []float32
}

// NewTimeline covers n samples from start (seconds) at rate.
func NewTimeline(rate, ch int, start float64, n int) *Timeline {
	return &Timeline{rate: rate, ch: ch, start: start, pcm: make([]float32, n*ch)}
}

// Put writes interleaved samples beginning at time at (seconds); what falls
// outside the timeline is cut.
func (t *Timeline) Put(at float64, pcm []float32) {
	first := int(math.Round((at - t.start) * float64(t.rate)))
	for i := range len(pcm) / t.ch {
		j := first + i
		if j < 0 || j*t.ch >= len(t.pcm) {
			continue
		}
		copy(t.pcm[j*t.ch:(j+1)*t.ch], pcm[i*t.ch:(i+1)*t.ch])
	}
}

// PCM is the timeline's samples, interleaved.
func (t *Timeline) PCM() []float32 { return t.pcm }
