package audio

import (
	"math"
	"testing"
)

// tone is n samples of ch-channel sine at freq Hz and amplitude amp,
// sampled at rate, the second channel a quarter period behind.
func tone(n, rate, ch int, freq, amp float64) []float32 {
	out := make([]float32, n*ch)
	for i := range n {
		for c := range ch {
			out[i*ch+c] = float32(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)-float64(c)*math.Pi/2))
		}
	}
	return out
}

// snrAgainst is the ratio of want's power to the error's, in dB, over the
// samples of got from skip on (interleaved, same layout).
func snrAgainst(got, want []float32, skip int) float64 {
	var sig, noise float64
	for i := skip; i < len(got) && i < len(want); i++ {
		sig += float64(want[i]) * float64(want[i])
		d := float64(got[i]) - float64(want[i])
		noise += d * d
	}
	return 10 * math.Log10(sig/noise)
}

// A sine resampled is the same sine sampled at the output rate, sample for
// sample (no delay to correct), to better than 85 dB, at every rate an AAC
// encoder commonly uses, for tones across the passband.
func TestResamplerQuality(t *testing.T) {
	for _, in := range []int{8000, 16000, 22050, 24000, 32000, 44100, 88200, 96000} {
		for _, freq := range []float64{440, 1000, 3000} {
			if freq > float64(in)*0.4 {
				continue
			}
			r, err := NewResampler(in, OutputRate, 2)
			if err != nil {
				t.Fatal(err)
			}
			src := tone(in/2, in, 2, freq, 0.5) // half a second
			var out []float32
			// Uneven chunks: the result must not depend on them.
			for i, step := 0, 0; i < len(src); i += step {
				step = min(2*(37+i%501), len(src)-i)
				out = r.Process(src[i:i+step], out)
			}
			n := len(out) / 2
			// Everything whose window the input covers has come out.
			if want := OutputRate/2 - r.Delay()*OutputRate/in - 2; n < want || n > OutputRate/2 {
				t.Errorf("%d Hz: %d output samples for 0.5 s, want about %d", in, n, OutputRate/2)
			}
			want := tone(n, OutputRate, 2, freq, 0.5)
			skip := 2 * (r.Delay() * OutputRate / in) // the start, where the filter sees silence before input 0
			snr := snrAgainst(out, want, skip)
			t.Logf("%d Hz, %v Hz tone: SNR %.1f dB", in, freq, snr)
			if snr < 85 {
				t.Errorf("%d Hz -> 48 kHz, %v Hz tone: SNR %.1f dB, want > 85", in, freq, snr)
			}
		}
	}
}

// Chunking does not change a single sample.
func TestResamplerChunking(t *testing.T) {
	src := tone(4410, 44100, 1, 997, 0.7)
	one, _ := NewResampler(44100, OutputRate, 1)
	whole := one.Process(src, nil)
	bits, _ := NewResampler(44100, OutputRate, 1)
	var parts []float32
	for i := range src {
		parts = bits.Process(src[i:i+1], parts)
	}
	if len(parts) != len(whole) {
		t.Fatalf("%d samples sample by sample, %d at once", len(parts), len(whole))
	}
	for i := range whole {
		if parts[i] != whole[i] {
			t.Fatalf("sample %d: %v sample by sample, %v at once", i, parts[i], whole[i])
		}
	}
	bits.Reset()
	if again := bits.Process(src, nil); len(again) != len(whole) || again[100] != whole[100] {
		t.Errorf("after Reset the output differs from a fresh resampler's")
	}
}

// Content above the output's Nyquist frequency is removed, not folded
// back (96 kHz in: a 30 kHz tone must vanish).
func TestResamplerAntiAlias(t *testing.T) {
	r, err := NewResampler(96000, OutputRate, 1)
	if err != nil {
		t.Fatal(err)
	}
	out := r.Process(tone(96000, 96000, 1, 30000, 0.5), nil)
	var p float64
	for _, v := range out[1000:] {
		p += float64(v) * float64(v)
	}
	if db := 10 * math.Log10(p/float64(len(out)-1000)/0.125); db > -80 {
		t.Errorf("a 30 kHz tone leaves %.1f dB after 96 -> 48 kHz, want below -80", db)
	}
}

func TestResamplerRefuses(t *testing.T) {
	for _, c := range [][3]int{{0, 48000, 2}, {44100, 48000, 0}, {47999, 48000, 2}} {
		if _, err := NewResampler(c[0], c[1], c[2]); err == nil {
			t.Errorf("NewResampler(%d, %d, %d) accepted", c[0], c[1], c[2])
		}
	}
}

func BenchmarkResampler(b *testing.B) {
	r, _ := NewResampler(44100, OutputRate, 2)
	src := tone(1024, 44100, 2, 1000, 0.5)
	out := make([]float32, 0, 4096)
	b.SetBytes(int64(len(src) * 4))
	for b.Loop() {
		out = r.Process(src, out[:0])
	}
	// One op is one AAC frame at 44.1 kHz.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)*44100/1024/1e9*100, "%core")
}
