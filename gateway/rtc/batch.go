package rtc

import "net/netip"

// Batch is one send worker's own batch on the shared socket: the worker
// writes each datagram straight into the batch's buffers (SRTP encrypts in
// place there), each destination's run of packets becomes one UDP GSO
// train, and Flush sends the lot with sendmmsg from the worker's own
// goroutine: no copy, no queue, no hand-off to the socket's sender. A
// worker that sends a viewer a whole frame at once gets the frame out as
// one train. Not safe for concurrent use: one per worker.
type Batch struct {
	out   batchSender
	stats *sender // the socket's totals, which the batch adds to

	bufs   [][]byte // the slab; bufs[:n] hold queued datagrams
	n      int
	runs   []run
	trains []train
	iovs   [][]byte
}

// run is a train being built: bufs[start:end] to one destination.
type run struct {
	to         netip.AddrPort
	start, end int
	seg, total int
}

// BatchLimit is how many datagrams a Batch holds before Add asks for a
// Flush: a few hundred viewers' frames, one system call.
const BatchLimit = 1024

// NewBatch makes a send worker's batch on the engine's socket.
func (e *Engine) NewBatch() *Batch {
	return &Batch{out: newBatchSender(e.conn, e.mux.log), stats: e.mux.out}
}

// Buffer is where the next datagram is written: empty, with room for one
// (sendBufLen bytes). It stays the batch's: hand it back to Add, extended.
func (b *Batch) Buffer() []byte {
	if b.n == len(b.bufs) {
		b.bufs = append(b.bufs, make([]byte, 0, sendBufLen))
	}
	return b.bufs[b.n][:0]
}

// Add queues p, the buffer Buffer returned with the datagram written into
// it, for to; it reports whether the batch is full (Flush it now).
func (b *Batch) Add(to netip.AddrPort, p []byte) (full bool) {
	i := b.n
	b.bufs[i] = p
	b.n++
	if k := len(b.runs) - 1; k >= 0 && b.out.gso() {
		r := &b.runs[k]
		last := len(b.bufs[r.end-1])
		if r.to == to && r.end-r.start < maxSegments && last == r.seg && len(p) <= r.seg && r.total+len(p) <= maxTrainBytes {
			r.end++
			r.total += len(p)
			return b.n >= BatchLimit
		}
	}
	b.runs = append(b.runs, run{to: to, start: i, end: i + 1, seg: len(p), total: len(p)})
	return b.n >= BatchLimit
}

// Len is how many datagrams wait.
func (b *Batch) Len() int { return b.n }

// Flush sends every queued datagram, one sendmmsg (more if the kernel takes
// fewer messages at once), and empties the batch. Datagrams the kernel
// refuses are dropped and counted.
func (b *Batch) Flush() {
	if b.n == 0 {
		return
	}
	b.trains, b.iovs = b.trains[:0], append(b.iovs[:0], b.bufs[:b.n]...)
	for _, r := range b.runs {
		b.trains = append(b.trains, train{to: r.to, segs: b.iovs[r.start:r.end:r.end], seg: r.seg})
	}
	calls, dropped := b.out.send(b.trains)
	b.stats.calls.Add(uint64(calls))
	b.stats.dropped.Add(uint64(dropped))
	b.stats.packets.Add(uint64(b.n))
	b.stats.trainsSent.Add(uint64(len(b.trains)))
	clear(b.iovs)
	clear(b.trains)
	b.runs, b.n = b.runs[:0], 0
}
