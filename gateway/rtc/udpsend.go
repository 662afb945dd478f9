package rtc

import (
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// The send path of the shared UDP socket. With every viewer on one socket,
// sending one datagram per system call makes the kernel's per-call cost the
// largest part of the fan-out (about 4 us per packet on loopback, more than
// the SRTP encryption). So writers queue a copy of each datagram and return,
// and one goroutine sends everything queued at once: each destination's
// run of packets (the RTP packets of one frame, equal-sized but for the
// last) becomes one UDP GSO datagram train (Linux UDP_SEGMENT, one trip
// down the stack for up to maxSegments packets), and the whole lot goes to
// the kernel in one sendmmsg. Under load the batches grow by themselves:
// whatever is queued while the sender is in the kernel goes out next.
// Idle, a packet goes out at once, one goroutine hand-off later.

const (
	// maxSegments bounds one GSO train (the kernel's UDP_MAX_SEGMENTS is
	// 64 on older kernels).
	maxSegments = 64
	// maxTrainBytes keeps a train under the 64 KiB a datagram can carry.
	maxTrainBytes = 60000
	// maxQueued is how many datagrams may wait for the sender goroutine
	// before writers wait for it instead: a keyframe to a thousand viewers
	// would otherwise queue 35,000 copies (50 MB) at once, where waiting
	// keeps them as shared packets in the viewers' queues. A batch on the
	// wire and a full queue are at most twice this many buffers.
	maxQueued = 2048
	// maxQueueWait bounds that wait: a socket that stopped draining loses
	// datagrams (counted as dropped) rather than stalling its writers.
	maxQueueWait = 50 * time.Millisecond
	// sendBufLen fits any datagram WebRTC sends here (ICE, DTLS and RTP
	// stay under the 1500-byte MTU); larger ones get their own buffer.
	sendBufLen = 1500
	// sendBufSize is the socket send buffer asked for: a batch of a
	// thousand viewers' packets must fit.
	sendBufSize = 4 << 20
)

// outgoing is one queued datagram.
type outgoing struct {
	to  netip.AddrPort
	buf *[]byte
	n   int
}

// train is what one message of a batch carries: segs to one destination,
// all seg bytes long but the last (GSO when more than one).
type train struct {
	to   netip.AddrPort
	segs [][]byte
	seg  int
}

// SendStats are the send path's totals, for metrics and benchmarks.
type SendStats struct {
	Packets uint64 // datagrams sent
	Trains  uint64 // messages they went in (GSO trains and single datagrams)
	Calls   uint64 // system calls that sent them
	Dropped uint64 // datagrams dropped: queue full, or the kernel refused them
}

// sender owns the socket's writes once started.
type sender struct {
	sock net.PacketConn
	log  *slog.Logger
	// bufs holds *[]byte of sendBufLen: a whole batch of datagrams may be
	// queued at once (a keyframe to every viewer), so they are sized for
	// what WebRTC sends, not for the largest datagram.
	bufs sync.Pool
	out  batchSender

	mu      sync.Mutex
	pending []outgoing
	spare   []outgoing
	closed  bool
	// drained is made by the first writer to wait for room and closed
	// (then nil) when the sender takes the queue.
	drained chan struct{}
	waiting int           // writers waiting for room, for tests
	queued  atomic.Int64  // len(pending), read without the lock
	wake    chan struct{} // a datagram was queued on an empty queue
	done    chan struct{} // closed when the sender goroutine has sent its last
	stop    chan struct{}

	// Owned by the sender goroutine.
	trains []train
	iovs   [][]byte

	packets, trainsSent, calls, dropped atomic.Uint64
}

// batchSender puts a batch of trains on the wire.
type batchSender interface {
	// send sends every train (or drops it, counted, when the kernel
	// refuses it) and returns the system calls it took.
	send(ts []train) (calls int, dropped int)
	// gso says whether trains may hold more than one datagram.
	gso() bool
}

func newSender(sock net.PacketConn, log *slog.Logger) *sender {
	s := &sender{
		sock: sock, log: log,
		wake: make(chan struct{}, 1), done: make(chan struct{}), stop: make(chan struct{}),
	}
	s.bufs.New = func() any { b := make([]byte, 0, sendBufLen); return &b }
	s.out = newBatchSender(sock, log)
	go s.run()
	return s
}

// write queues a copy of b for to; it never blocks on the network, and
// waits at most maxQueueWait for room in the queue.
func (s *sender) write(b []byte, to netip.AddrPort) (int, error) {
	if s.queued.Load() >= maxQueued && isMedia(b) && !s.room() {
		s.dropped.Add(1)
		return len(b), nil // UDP: a datagram lost on the way
	}
	var buf *[]byte
	if len(b) <= sendBufLen {
		buf = s.bufs.Get().(*[]byte)
	} else {
		big := make([]byte, 0, len(b))
		buf = &big
	}
	*buf = append((*buf)[:0], b...)
	n := len(b)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.release(buf)
		return 0, net.ErrClosed
	}
	first := len(s.pending) == 0
	s.pending = append(s.pending, outgoing{to: to, buf: buf, n: n})
	s.queued.Store(int64(len(s.pending)))
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
	return len(b), nil
}

// isMedia tells SRTP and SRTCP from STUN and DTLS by the first byte (RFC
// 7983 section 7): only media waits for room in the queue. ICE checks,
// consent and handshakes are few and are queued at once, so a session's
// keep-alive never waits behind a keyframe's fan-out.
func isMedia(b []byte) bool { return len(b) > 0 && b[0] >= 128 && b[0] <= 191 }

// room waits until the queue is below maxQueued; false when it stayed full
// for maxQueueWait. A closed sender has room: write then fails as closed.
func (s *sender) room() bool {
	var timeout <-chan time.Time
	s.mu.Lock()
	for len(s.pending) >= maxQueued && !s.closed {
		if s.drained == nil {
			s.drained = make(chan struct{})
		}
		drained := s.drained
		s.waiting++
		s.mu.Unlock()
		if timeout == nil {
			t := time.NewTimer(maxQueueWait)
			defer t.Stop()
			timeout = t.C
		}
		var late bool
		select {
		case <-drained:
		case <-timeout:
			late = true
		}
		s.mu.Lock()
		s.waiting--
		if late {
			s.mu.Unlock()
			return false
		}
	}
	s.mu.Unlock()
	return true
}

func (s *sender) release(buf *[]byte) {
	if cap(*buf) == sendBufLen {
		s.bufs.Put(buf)
	}
}

// run sends what is queued until close, then what is left.
func (s *sender) run() {
	defer close(s.done)
	for {
		select {
		case <-s.wake:
		case <-s.stop:
			s.flush()
			return
		}
		s.flush()
	}
}

// flush sends everything queued now.
func (s *sender) flush() {
	s.mu.Lock()
	batch := s.pending
	s.pending = s.spare[:0]
	s.queued.Store(0)
	if s.drained != nil { // writers wait for room
		close(s.drained)
		s.drained = nil
	}
	s.mu.Unlock()
	if len(batch) == 0 {
		s.spare = batch
		return
	}
	// Group each destination's datagrams, keeping their order.
	slices.SortStableFunc(batch, func(a, b outgoing) int { return a.to.Compare(b.to) })
	s.trains, s.iovs = s.trains[:0], slices.Grow(s.iovs[:0], len(batch))
	for i := 0; i < len(batch); {
		seg := batch[i].n
		j, total := i+1, seg
		if s.out.gso() {
			for j < len(batch) && batch[j].to == batch[i].to && j-i < maxSegments &&
				batch[j-1].n == seg && batch[j].n <= seg && total+batch[j].n <= maxTrainBytes {
				total += batch[j].n
				j++
			}
		}
		start := len(s.iovs)
		for k := i; k < j; k++ {
			s.iovs = append(s.iovs, (*batch[k].buf)[:batch[k].n])
		}
		s.trains = append(s.trains, train{to: batch[i].to, segs: s.iovs[start:len(s.iovs):len(s.iovs)], seg: seg})
		i = j
	}
	calls, dropped := s.out.send(s.trains)
	s.calls.Add(uint64(calls))
	s.dropped.Add(uint64(dropped))
	s.packets.Add(uint64(len(batch)))
	s.trainsSent.Add(uint64(len(s.trains)))
	for i := range batch {
		s.release(batch[i].buf)
		batch[i] = outgoing{}
	}
	clear(s.iovs)
	for i := range s.trains {
		s.trains[i] = train{}
	}
	s.mu.Lock()
	s.spare = batch[:0]
	s.mu.Unlock()
}

// stats reads the totals.
func (s *sender) stats() SendStats {
	return SendStats{Packets: s.packets.Load(), Trains: s.trainsSent.Load(), Calls: s.calls.Load(), Dropped: s.dropped.Load()}
}

// close sends what is queued and stops; later writes fail. Idempotent.
func (s *sender) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.done
}

// writeOne is the portable path: one system call per datagram.
func writeOne(sock net.PacketConn, b []byte, to netip.AddrPort) error {
	if u, ok := sock.(*net.UDPConn); ok {
		_, err := u.WriteToUDPAddrPort(b, to)
		return err
	}
	_, err := sock.WriteTo(b, net.UDPAddrFromAddrPort(to))
	return err
}

// sendEach sends trains one datagram per call (no batching kernel API).
type sendEach struct {
	sock    net.PacketConn
	log     *slog.Logger
	lastLog time.Time
}

func (e *sendEach) send(ts []train) (calls, dropped int) {
	for _, t := range ts {
		for _, seg := range t.segs {
			calls++
			if err := writeOne(e.sock, seg, t.to); err != nil {
				dropped++
				e.logErr(err)
			}
		}
	}
	return calls, dropped
}

func (e *sendEach) gso() bool { return false }

func (e *sendEach) logErr(err error) {
	if errors.Is(err, net.ErrClosed) || time.Since(e.lastLog) < 10*time.Second {
		return
	}
	e.lastLog = time.Now()
	e.log.Debug("webrtc: udp send", "err", err)
}
