package audio

import (
	"errors"
	"testing"
	"time"
)

// passCodecs is a codec pair whose frames are 10 ms of mono samples all
// equal to the frame's first byte, so worker tests control exactly what
// comes out: one byte per frame, the value of its samples.
type passCodecs struct{}

type passDecoder struct{ pcm []float32 }

func (passCodecs) NewDecoder(Params) (Decoder, error) { return &passDecoder{}, nil }
func (passCodecs) NewEncoder(string, Format) (Encoder, error) {
	return &passEncoder{}, nil
}

func (*passDecoder) Format() Format { return Format{Rate: OutputRate, Channels: 1} }
func (d *passDecoder) Decode(f []byte) ([]float32, error) {
	if len(f) > 0 && f[0] == 0xff {
		return nil, ErrCorrupt
	}
	d.pcm = d.pcm[:0]
	for range passFrame {
		d.pcm = append(d.pcm, float32(f[0]))
	}
	return d.pcm, nil
}

type passEncoder struct{ out []byte }

func (*passEncoder) Params() Params { return Params{Codec: "pass", Rate: OutputRate, Channels: 1} }
func (*passEncoder) FrameSize() int { return passFrame }
func (*passEncoder) Delay() int     { return 0 }
func (*passEncoder) Reset() error   { return nil }
func (e *passEncoder) Encode(pcm []float32) ([]byte, error) {
	e.out = append(e.out[:0], byte(pcm[0]))
	return e.out, nil
}

// passFrame is the pass codec's frame: 10 ms.
const passFrame = 480

// frameAt is input frame i of the pass codec.
func frameAt(i int) Frame {
	return Frame{PTS: base + samplesToDuration(int64(passFrame*i), OutputRate), Payload: []byte{byte(i)}}
}

// A worker never blocks its writer: with the transcoder stuck (its output
// blocked), the queue fills and further frames are dropped and counted.
// Close then transcodes what was queued and returns once the goroutine is
// gone; writes after Close are refused.
func TestWorkerQueue(t *testing.T) {
	tc, err := NewTranscoder(passCodecs{}, Params{}, "pass")
	if err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var out []Frame
	var errs []error
	w := NewWorker(tc, WorkerConfig{QueueLen: 3, Emit: func(f Frame) {
		if len(out) == 0 {
			close(entered)
			<-release
		}
		out = append(out, f)
	}, OnError: func(err error) { errs = append(errs, err) }})
	if !w.Write(frameAt(0)) {
		t.Fatal("first frame refused")
	}
	select {
	case <-entered: // the worker holds frame 0; the queue is empty
	case <-time.After(5 * time.Second):
		t.Fatal("worker did not start on the first frame")
	}
	for i := 1; i <= 3; i++ {
		if !w.Write(frameAt(i)) {
			t.Fatalf("frame %d refused with room in the queue", i)
		}
	}
	corrupt := frameAt(5)
	corrupt.Payload[0] = 0xff
	if w.Write(frameAt(4)) || w.Write(corrupt) {
		t.Fatal("a full queue took a frame")
	}
	if st := w.Stats(); st.Dropped != 2 {
		t.Errorf("dropped %d, want 2", st.Dropped)
	}
	close(release)
	w.Close()
	if len(out) != 4 {
		t.Errorf("%d frames out after Close, want the 4 queued", len(out))
	}
	for i, f := range out {
		if f.Payload[0] != byte(i) || f.PTS != frameAt(i).PTS {
			t.Errorf("output %d: %v at %v", i, f.Payload, f.PTS)
		}
	}
	if w.Write(frameAt(6)) {
		t.Error("Write after Close accepted a frame")
	}
	w.Close() // idempotent
	st := w.Stats()
	if st.In != 4 || st.Out != 4 || st.Dropped != 2 || len(errs) != 0 {
		t.Errorf("stats %+v, errors %v", st, errs)
	}
}

// A frame that fails reaches OnError and the counters; the next ones go on.
func TestWorkerErrors(t *testing.T) {
	tc, _ := NewTranscoder(passCodecs{}, Params{}, "pass")
	var out []Frame
	var errs []error
	w := NewWorker(tc, WorkerConfig{Emit: func(f Frame) { out = append(out, f) }, OnError: func(err error) { errs = append(errs, err) }})
	bad := frameAt(1)
	bad.Payload = []byte{0xff}
	for _, f := range []Frame{frameAt(0), bad, frameAt(2)} {
		w.Write(f)
	}
	w.Close()
	if len(errs) != 1 || !errors.Is(errs[0], ErrCorrupt) {
		t.Errorf("errors %v, want one ErrCorrupt", errs)
	}
	// The corrupt frame's time is filled with silence: three frames out.
	if st := w.Stats(); st.Corrupt != 1 || st.Filled != 1 || st.Out != 3 || len(out) != 3 || out[1].Payload[0] != 0 {
		t.Errorf("stats %+v, output %v", st, out)
	}
}
