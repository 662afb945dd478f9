package rtc

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Passive ICE-TCP (RFC 6544) for peers whose network drops UDP: one TCP
// port; every connection carries RFC 4571 frames (a 2-byte length, then a
// packet: STUN, DTLS, SRTP, as on UDP). A connection's first frame must be
// a STUN Binding request whose USERNAME names a session routed here
// (Engine.Route), within tcpFirstFrameTimeout; the connection then belongs
// to that session, which answers on it. Anything else closes it: a
// half-open or silent connection costs a goroutine and a small buffer for
// a few seconds, and at most tcpMaxPending of them wait at once.
const (
	// tcpMaxFrame is the largest frame taken: what WebRTC sends fits the
	// MTU; RFC 4571 allows 65535, which would let a peer make us buffer that.
	tcpMaxFrame = 1600
	// tcpFirstFrameTimeout bounds the wait for a connection's first check.
	tcpFirstFrameTimeout = 5 * time.Second
	// tcpMaxPending bounds the connections waiting for their first check.
	tcpMaxPending = 1024
	// tcpQueueBytes bounds what waits to be written on one connection: a
	// peer that reads too slowly loses packets, and delays nobody else.
	tcpQueueBytes = 512 << 10
	// tcpWriteTimeout closes a connection whose peer stopped reading.
	tcpWriteTimeout = 5 * time.Second
)

var (
	errTCPFrameTooLarge = errors.New("ice-tcp: frame too large")
	errTCPFirstNotCheck = errors.New("ice-tcp: first frame is not a check for a session here")
	errTCPLinkClosed    = errors.New("ice-tcp: connection closed")
)

// TCPHandler is a DatagramHandler that also takes packets from ICE-TCP
// connections; it answers on link. Like HandleDatagram, it runs on the
// connection's read goroutine and must not block; p is only valid during
// the call.
type TCPHandler interface {
	HandleTCP(p []byte, link *TCPLink)
}

// readFrame reads one RFC 4571 frame into buf (which must hold
// tcpMaxFrame) and returns it.
func readFrame(r *bufio.Reader, buf []byte) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[:]))
	if n > tcpMaxFrame || n > len(buf) {
		return nil, fmt.Errorf("%w: %d bytes", errTCPFrameTooLarge, n)
	}
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// TCPLink is one ICE-TCP connection, once a session owns it: writes are
// framed and queued (bounded) for its writer goroutine.
type TCPLink struct {
	conn   net.Conn
	remote netip.AddrPort
	log    *slog.Logger

	mu sync.Mutex
	// pending holds the framed packets waiting for the writer, back to
	// back; the writer swaps it with its spare, so no packet allocates.
	pending []byte
	spare   []byte
	closed  bool
	dropped uint64
	wake    chan struct{}
	done    chan struct{}
}

func newTCPLink(conn net.Conn, remote netip.AddrPort, log *slog.Logger) *TCPLink {
	return &TCPLink{conn: conn, remote: remote, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// Remote is the peer's address (its TCP source).
func (l *TCPLink) Remote() netip.AddrPort { return l.remote }

// Write queues one packet, framed; it never blocks. A full queue drops the
// packet (counted): a peer that cannot keep up loses media, as on UDP.
func (l *TCPLink) Write(p []byte) error {
	if len(p) > 0xffff {
		return fmt.Errorf("ice-tcp: packet of %d bytes", len(p))
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return errTCPLinkClosed
	}
	if len(l.pending)+len(p)+2 > tcpQueueBytes {
		l.dropped++
		l.mu.Unlock()
		return nil
	}
	l.pending = binary.BigEndian.AppendUint16(l.pending, uint16(len(p)))
	l.pending = append(l.pending, p...)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return nil
}

// writeLoop writes what is queued until the link closes.
func (l *TCPLink) writeLoop() {
	for {
		select {
		case <-l.wake:
		case <-l.done:
			return
		}
		l.mu.Lock()
		out := l.pending
		l.pending, l.spare = l.spare[:0], nil
		l.mu.Unlock()
		if len(out) == 0 {
			l.mu.Lock()
			l.spare = out
			l.mu.Unlock()
			continue
		}
		_ = l.conn.SetWriteDeadline(time.Now().Add(tcpWriteTimeout))
		_, err := l.conn.Write(out)
		l.mu.Lock()
		l.spare = out[:0]
		l.mu.Unlock()
		if err != nil {
			l.log.Debug("ice-tcp: write", "remote", l.remote, "err", err)
			l.Close()
			return
		}
	}
}

// Close ends the connection. Idempotent.
func (l *TCPLink) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.closed = true
	l.pending, l.spare = nil, nil
	close(l.done)
	_ = l.conn.Close()
}

// Done is closed when the link is.
func (l *TCPLink) Done() <-chan struct{} { return l.done }

// tcpMux accepts passive ICE-TCP connections and hands each to the session
// its first check names.
type tcpMux struct {
	ln     net.Listener
	lookup func(ufrag string) TCPHandler
	log    *slog.Logger
	// firstFrame bounds the wait for a connection's first check.
	firstFrame time.Duration

	ctx     context.Context
	cancel  context.CancelFunc
	pending chan struct{} // a token per connection waiting for its first check
	wg      sync.WaitGroup

	mu    sync.Mutex
	links map[*TCPLink]struct{}
	pion  map[string]*tcpPacketConn // the publishers' agents' conns, by local ufrag (pionTCPMux)
}

// newTCPMux serves ICE-TCP on ln; firstFrame is tcpFirstFrameTimeout but
// in tests.
func newTCPMux(ln net.Listener, lookup func(string) TCPHandler, firstFrame time.Duration, log *slog.Logger) *tcpMux {
	m := &tcpMux{
		ln: ln, lookup: lookup, log: log, firstFrame: firstFrame,
		pending: make(chan struct{}, tcpMaxPending), links: map[*TCPLink]struct{}{}, pion: map[string]*tcpPacketConn{},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.wg.Add(1)
	go m.accept()
	return m
}

func (m *tcpMux) accept() {
	defer m.wg.Done()
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if m.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			m.log.Debug("ice-tcp: accept", "err", err)
			select { // e.g. out of descriptors: breathe
			case <-time.After(50 * time.Millisecond):
			case <-m.ctx.Done():
				return
			}
			continue
		}
		select {
		case m.pending <- struct{}{}:
		default:
			m.log.Debug("ice-tcp: too many connections waiting for a check", "remote", c.RemoteAddr())
			_ = c.Close()
			continue
		}
		m.wg.Add(1)
		go m.serve(c)
	}
}

// serve reads one connection: its first check picks the session, then
// every frame goes to that session until either side closes.
func (m *tcpMux) serve(c net.Conn) {
	defer m.wg.Done()
	released := false
	release := func() {
		if !released {
			released = true
			<-m.pending
		}
	}
	defer release()
	remote := netip.AddrPort{}
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		remote = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	stop := context.AfterFunc(m.ctx, func() { _ = c.Close() })
	defer stop()
	r := bufio.NewReaderSize(c, 2048)
	buf := make([]byte, tcpMaxFrame)
	_ = c.SetReadDeadline(time.Now().Add(m.firstFrame))
	p, err := readFrame(r, buf)
	var h TCPHandler
	if err == nil {
		if ufrag := stunUfrag(p); ufrag != nil {
			h = m.handler(string(ufrag))
		}
		if h == nil {
			err = errTCPFirstNotCheck
		}
	}
	if err != nil {
		m.log.Debug("ice-tcp: connection refused", "remote", remote, "err", err)
		release() // before the close: whoever sees it closed sees the slot free
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	release()
	link := newTCPLink(c, remote, m.log)
	m.mu.Lock()
	m.links[link] = struct{}{}
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		link.writeLoop()
	}()
	defer func() {
		link.Close()
		m.mu.Lock()
		delete(m.links, link)
		m.mu.Unlock()
	}()
	for {
		h.HandleTCP(p, link)
		if p, err = readFrame(r, buf); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				m.log.Debug("ice-tcp: read", "remote", remote, "err", err)
			}
			return
		}
	}
}

// handler is the session a first check names: a lean connection's, else a
// publisher's pion agent's.
func (m *tcpMux) handler(ufrag string) TCPHandler {
	if h := m.lookup(ufrag); h != nil {
		return h
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.pion[ufrag]; c != nil {
		return c
	}
	return nil
}

// close stops accepting, closes every connection and waits for their
// goroutines.
func (m *tcpMux) close() error {
	m.cancel()
	err := m.ln.Close()
	m.mu.Lock()
	for l := range m.links {
		l.Close()
	}
	pion := make([]*tcpPacketConn, 0, len(m.pion))
	for _, c := range m.pion {
		pion = append(pion, c)
	}
	m.mu.Unlock()
	for _, c := range pion {
		_ = c.Close()
	}
	m.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
