package audio

import (
	"sync"
	"sync/atomic"
)

// DefaultQueueLen bounds a worker's queue: about 0.7 s of AAC or Opus
// frames. A transcoder that falls further behind (a starved CPU) loses
// input frames, counted, rather than holding up the ingest or serving stale
// audio.
const DefaultQueueLen = 32

// WorkerConfig wires a Worker.
type WorkerConfig struct {
	// QueueLen bounds the frames waiting; 0 means DefaultQueueLen.
	QueueLen int
	// Emit gets every coded frame, on the worker's goroutine.
	Emit func(Frame)
	// OnError, if set, sees every frame that failed (on the worker's goroutine).
	OnError func(error)
}

// Worker runs one Transcoder on its own goroutine behind a bounded queue:
// Write never blocks, and Close returns once the goroutine has ended.
type Worker struct {
	t     *Transcoder
	cfg   WorkerConfig
	queue chan Frame

	dropped   atomic.Uint64
	closeOnce sync.Once
	stop      chan struct{}
	done      chan struct{}
}

// NewWorker starts a worker for t.
func NewWorker(t *Transcoder, cfg WorkerConfig) *Worker {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	w := &Worker{
		t: t, cfg: cfg, queue: make(chan Frame, cfg.QueueLen),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	go w.run()
	return w
}

// Output describes the coded stream the worker emits.
func (w *Worker) Output() Params { return w.t.Output() }

// Write queues one frame; it reports false when the frame was dropped
// because the queue is full or the worker closed. The payload must not be
// changed afterwards.
func (w *Worker) Write(f Frame) bool {
	select {
	case <-w.stop:
		return false
	default:
	}
	select {
	case w.queue <- f:
		return true
	default:
		w.dropped.Add(1)
		return false
	}
}

// Close transcodes what is queued, ends the goroutine and returns after it.
// Idempotent.
func (w *Worker) Close() {
	w.closeOnce.Do(func() { close(w.stop) })
	<-w.done
}

// Stats is what the worker did so far.
func (w *Worker) Stats() Stats {
	s := w.t.Stats()
	s.Dropped = w.dropped.Load()
	return s
}

func (w *Worker) run() {
	defer close(w.done)
	for {
		select {
		case f := <-w.queue:
			w.process(f)
		case <-w.stop:
			for {
				select {
				case f := <-w.queue:
					w.process(f)
				default:
					return
				}
			}
		}
	}
}

func (w *Worker) process(f Frame) {
	if err := w.t.Write(f, w.cfg.Emit); err != nil && w.cfg.OnError != nil {
		w.cfg.OnError(err)
	}
}
