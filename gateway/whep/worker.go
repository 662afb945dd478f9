package whep

import (
	"sync"
	"time"

	"github.com/frontrow-live/frontrow/gateway/peer"
	"github.com/frontrow-live/frontrow/gateway/rtc"
	"github.com/frontrow-live/frontrow/gateway/stream"
)

// worker sends to its share of the viewers: woken once per frame (not per
// packet), it walks its viewers and writes each one's new packets, SRTP
// sealed in place, into its batch, where each viewer's frame becomes one
// GSO train, and sends the batch with one sendmmsg. One per core: a
// goroutine per viewer would cost a wake-up per viewer per packet.
type worker struct {
	batch *rtc.Batch
	wake  chan struct{}
	stop  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	viewers []*viewer // copy on write

	// Owned by the worker's goroutine.
	snaps  map[*fanout]*snapshot
	passNo uint64
	sent   []sentPacket // since the last flush, for the forwarding delay
	rtx    [1500]byte   // an RTX payload being built
	tcpBuf [1600]byte   // a packet for an ICE-TCP viewer, sealed before it is queued there
}

// buffer is where a packet for remote is sealed: the batch's next
// datagram for UDP; for ICE-TCP, a scratch buffer the link copies from.
func (w *worker) buffer(remote peer.Path) []byte {
	if remote.TCP != nil {
		return w.tcpBuf[:0]
	}
	return w.batch.Buffer()
}

// send sends a sealed packet: into the batch (flushed when full) for UDP,
// into the connection's bounded queue for ICE-TCP (a TCP viewer that does
// not keep up loses packets there, and delays nobody).
func (w *worker) send(remote peer.Path, b []byte) {
	if remote.TCP != nil {
		_ = remote.TCP.Write(b)
		return
	}
	if w.batch.Add(remote.UDP, b) {
		w.flush()
	}
}

// snapshot is what a pass read of one fan-out's ring.
type snapshot struct {
	pass    uint64 // the pass that read it
	next    uint64 // the index the next pass reads from
	entries []entry
	first   uint64 // the index of entries[0]
	missed  uint64 // packets the worker fell too far behind to read
}

// sentPacket is a packet in the batch, timed once the batch is sent.
type sentPacket struct {
	delay   *stream.DelayRecorder
	arrival time.Time
}

func newWorker(batch *rtc.Batch) *worker {
	w := &worker{
		batch: batch, wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
		snaps: make(map[*fanout]*snapshot),
	}
	go w.run()
	return w
}

// poke wakes the worker; it never blocks.
func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) add(v *viewer) {
	w.mu.Lock()
	next := append(w.viewers[:len(w.viewers):len(w.viewers)], v)
	w.viewers = next
	w.mu.Unlock()
}

func (w *worker) remove(v *viewer) {
	w.mu.Lock()
	next := make([]*viewer, 0, len(w.viewers))
	for _, o := range w.viewers {
		if o != v {
			next = append(next, o)
		}
	}
	w.viewers = next
	w.mu.Unlock()
	w.poke() // let the worker forget a fan-out it no longer serves
}

func (w *worker) load() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.viewers)
}

// close stops the worker and waits for it.
func (w *worker) close() {
	close(w.stop)
	<-w.done
}

func (w *worker) run() {
	defer close(w.done)
	for {
		select {
		case <-w.wake:
		case <-w.stop:
			return
		}
		w.pass()
	}
}

// pass sends every viewer what is new for it: the packets its fan-out got
// since the last pass, its retransmissions, its sender reports.
func (w *worker) pass() {
	w.mu.Lock()
	viewers := w.viewers
	w.mu.Unlock()
	w.passNo++
	now := time.Now()
	for _, v := range viewers {
		sn := w.snaps[v.fan]
		if sn == nil {
			sn = &snapshot{next: v.fan.position()}
			w.snaps[v.fan] = sn
		}
		if sn.pass != w.passNo {
			sn.pass = w.passNo
			sn.entries, sn.first, sn.missed = v.fan.read(sn.entries, sn.next)
			sn.next = sn.first + uint64(len(sn.entries))
		}
		v.send(w, sn, now)
	}
	w.flush()
	for f, sn := range w.snaps {
		if sn.pass != w.passNo {
			delete(w.snaps, f) // no viewer of it here any more
			continue
		}
		clear(sn.entries) // no packet kept past its pass
	}
}

// flush sends the batch and times what it held.
func (w *worker) flush() {
	if w.batch.Len() == 0 {
		return
	}
	w.batch.Flush()
	now := time.Now()
	for _, s := range w.sent {
		s.delay.Observe(now.Sub(s.arrival))
	}
	clear(w.sent)
	w.sent = w.sent[:0]
}
