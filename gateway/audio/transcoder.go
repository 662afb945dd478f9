package audio

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

const (
	// timingSlack is how far a frame's timestamp may sit from where the
	// samples before it end and still count as continuous: FLV stamps whole
	// milliseconds, and the sample count is the better clock. Beyond it a
	// gap is filled with silence, an overlap dropped.
	timingSlack = 5 * time.Millisecond
	// maxGap is the longest hole filled with silence (lost packets, Opus
	// DTX, a dropped corrupt frame). A longer jump in the timestamps starts
	// the output again at the new time.
	maxGap = time.Second
)

// Frame is one coded audio frame on the stream clock.
type Frame struct {
	// PTS is when the frame's first decoded sample plays, as a duration
	// since the stream's epoch.
	PTS     time.Duration
	Payload []byte
	// Arrival is when the input frame reached the gateway; an output frame
	// carries the arrival of the input frame that completed it.
	Arrival time.Time
}

// Stats counts what a transcoder did with its input.
type Stats struct {
	In  uint64 // frames written
	Out uint64 // coded frames emitted
	// Corrupt frames did not decode; each cost itself (its time is filled
	// with silence when the next frame comes).
	Corrupt uint64
	// Late frames overlapped audio already transcoded (reordered packets,
	// timestamps going back) and were dropped.
	Late uint64
	// Filled is how many holes in the timestamps were filled with silence.
	Filled uint64
	// Restarts counts jumps in the timestamps beyond maxGap (and encoder
	// failures) after which the output started again.
	Restarts uint64
	// Dropped frames found the worker's queue full.
	Dropped uint64
}

// Transcoder decodes one audio stream and encodes it in another codec at
// 48 kHz, one frame at a time. Output timestamps are counted in samples from
// the first input frame's time and corrected for the encoder's delay, so
// decoded output lands where its input was on the stream clock; holes in
// the input are filled with silence so the count stays true. Write must be
// called from one goroutine at a time; Stats from any.
type Transcoder struct {
	dec   Decoder
	enc   Encoder
	res   *Resampler // nil when the decoder already gives 48 kHz
	in    Format
	frame int // encoder frame, samples per channel
	delay int // encoder delay, samples per channel

	started   bool
	inStart   time.Duration // stream time of the first input sample since the (re)start
	inSamples int64         // input samples per channel since then, silence included
	t0        time.Duration // stream time of encoder input sample 0, on the 48 kHz grid
	emitted   int64         // coded frames since the (re)start
	pending   []float32     // encoder input short of a whole frame
	scratch   []float32
	lastOut   time.Duration
	haveOut   bool

	n counters
}

// counters are Stats as they run; Write updates them, Stats reads them.
type counters struct {
	in, out, corrupt, late, filled, restarts atomic.Uint64
}

// NewTranscoder makes a transcoder from in to codec out (CodecOpus or
// CodecAAC) at 48 kHz with in's channel count. It fails, with
// ErrUnsupported, for input the library cannot decode.
func NewTranscoder(codecs Codecs, in Params, out string) (*Transcoder, error) {
	dec, err := codecs.NewDecoder(in)
	if err != nil {
		return nil, err
	}
	f := dec.Format()
	enc, err := codecs.NewEncoder(out, Format{Rate: OutputRate, Channels: f.Channels})
	if err != nil {
		return nil, err
	}
	t := &Transcoder{dec: dec, enc: enc, in: f, frame: enc.FrameSize(), delay: enc.Delay()}
	if f.Rate != OutputRate {
		if t.res, err = NewResampler(f.Rate, OutputRate, f.Channels); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Output describes the coded stream the transcoder makes.
func (t *Transcoder) Output() Params { return t.enc.Params() }

// Stats is what the transcoder did so far.
func (t *Transcoder) Stats() Stats {
	return Stats{
		In: t.n.in.Load(), Out: t.n.out.Load(), Corrupt: t.n.corrupt.Load(), Late: t.n.late.Load(),
		Filled: t.n.filled.Load(), Restarts: t.n.restarts.Load(),
	}
}

// Write transcodes one frame and hands emit every coded frame it completes
// (zero, one or two). A frame that does not decode returns an error
// wrapping ErrCorrupt and costs only itself.
func (t *Transcoder) Write(f Frame, emit func(Frame)) error {
	t.n.in.Add(1)
	pcm, err := t.dec.Decode(f.Payload)
	if err != nil {
		t.n.corrupt.Add(1)
		return err
	}
	n := len(pcm) / t.in.Channels
	if n == 0 || len(pcm)%t.in.Channels != 0 {
		return nil
	}
	if t.started {
		switch d := f.PTS - t.inEnd(); {
		case d > -timingSlack && d < timingSlack:
			// Continuous: the sample count keeps the time.
		case d > 0 && d <= maxGap:
			t.n.filled.Add(1)
			if err := t.silence(durationToSamples(d, t.in.Rate), f, emit); err != nil {
				return err
			}
		case d < 0 && d > -maxGap:
			t.n.late.Add(1)
			return nil
		default:
			t.n.restarts.Add(1)
			if err := t.restart(); err != nil {
				return err
			}
		}
	}
	if !t.started {
		t.started, t.inStart, t.inSamples = true, f.PTS, 0
		t.t0 = ceilToTick(f.PTS, OutputRate)
	}
	return t.feed(pcm, n, f, emit)
}

// inEnd is the stream time right after the input so far.
func (t *Transcoder) inEnd() time.Duration {
	return t.inStart + samplesToDuration(t.inSamples, t.in.Rate)
}

// silence feeds n samples per channel of silence.
func (t *Transcoder) silence(n int64, f Frame, emit func(Frame)) error {
	const chunk = 1024
	zeros := make([]float32, chunk*t.in.Channels)
	for n > 0 {
		k := min(n, chunk)
		if err := t.feed(zeros[:k*int64(t.in.Channels)], int(k), f, emit); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// feed takes n samples per channel of decoded PCM and encodes every whole
// frame they complete.
func (t *Transcoder) feed(pcm []float32, n int, f Frame, emit func(Frame)) error {
	t.inSamples += int64(n)
	if t.res != nil {
		t.scratch = t.res.Process(pcm, t.scratch[:0])
		pcm = t.scratch
	}
	t.pending = append(t.pending, pcm...)
	size := t.frame * t.in.Channels
	used := 0
	for ; len(t.pending)-used >= size; used += size {
		coded, err := t.enc.Encode(t.pending[used : used+size])
		if err != nil {
			t.n.restarts.Add(1)
			return errors.Join(err, t.restart())
		}
		if coded == nil {
			continue
		}
		// Coded frame k decodes to encoder input from k*frame-delay on.
		pts := t.t0 + samplesToDuration(t.emitted*int64(t.frame)-int64(t.delay), OutputRate)
		t.emitted++
		if t.haveOut && pts <= t.lastOut {
			continue // overlaps the output before a restart
		}
		t.lastOut, t.haveOut = pts, true
		t.n.out.Add(1)
		emit(Frame{PTS: pts, Payload: append([]byte(nil), coded...), Arrival: f.Arrival})
	}
	t.pending = t.pending[:copy(t.pending, t.pending[used:])]
	return nil
}

// restart drops the encoder's and resampler's state: the next frame starts
// the output timeline again at its own time.
func (t *Transcoder) restart() error {
	t.started, t.emitted, t.pending = false, 0, t.pending[:0]
	if t.res != nil {
		t.res.Reset()
	}
	if err := t.enc.Reset(); err != nil {
		return fmt.Errorf("audio: restart: %w", err)
	}
	return nil
}
