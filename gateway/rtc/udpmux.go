package rtc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
)

// udpMux is the ICE UDP mux every session shares (an ice.UDPMux): one
// socket, each packet handed to the ICE agent of the session it is for.
//
// It replaces pion's ice.UDPMuxDefault, which misroutes when a client's
// address is reused. UDPMuxDefault (ice/v4 v4.4.2) routes a packet by its
// source address whenever that address is mapped to a session and reads a
// STUN USERNAME only for an unmapped address (udp_mux.go:569-598), and every
// write to an address maps it to the writer (udp_muxed_conn.go:154 and 166,
// registerConnForAddress in udp_mux.go:480-495). So when a viewer vanishes
// (its socket closed without a DELETE) and a new client's socket gets the
// same port while the old session still lives (up to the disconnect
// timeout), the old session, still sending media there, keeps taking the
// address back: the new client's connectivity checks reach the old session,
// whose agent discards them (wrong username, agent.go:1848), so the new
// client gives up on the pair after maxBindingRequests (7) checks
// (agent.go:832) and stays "connecting" until its own ICE timeout; and if
// ICE did get through, its DTLS packets refresh the old session's consent
// instead of reaching its own.
//
// Here a STUN message that names a session (USERNAME "ours:theirs", RFC
// 8445 section 7.2.2) goes to that session, whatever its source, and maps
// its source address to it: only the peer that holds an address can send
// from it, and it just said which session it talks to. Other packets (DTLS,
// SRTP, STUN responses) go by source address. A write maps an address only
// when no session has it, so a session whose peer went away cannot take the
// address back from the session of the peer that now holds it; it goes on
// sending into the void until consent fails, and then it is gone. (A
// spoofed source address could move an address too, but only to a session
// whose ufrag the spoofer knows, its own, and the true peer's next consent
// check moves it back.)
type udpMux struct {
	sock            net.PacketConn
	udp             *net.UDPConn // sock when it is one: I/O without allocating addresses
	includeLoopback bool
	log             *slog.Logger
	readDone        chan struct{}
	bufs            sync.Pool // *[]byte of muxPacketSize
	out             *sender

	mu     sync.Mutex
	conns  [2]map[string]*muxConn // by local ufrag; [0] for IPv4 remotes, [1] for IPv6
	byAddr map[netip.AddrPort]*muxConn
	closed bool
}

const (
	// muxPacketSize is the largest datagram delivered (as pion's mux).
	muxPacketSize = 8192
	// muxQueueLen bounds the packets waiting for one session's agent
	// (seconds of a high-bitrate publisher); more are dropped. pion's
	// queue has no bound.
	muxQueueLen = 1024
)

var (
	errMuxAddress    = errors.New("webrtc: udp mux: not the mux's address")
	errMuxRemoteAddr = errors.New("webrtc: udp mux: not a UDP address")
)

var _ ice.UDPMux = (*udpMux)(nil)

// newUDPMux serves ICE on sock until Close. includeLoopback says whether
// loopback addresses are listen addresses (host candidates).
func newUDPMux(sock net.PacketConn, includeLoopback bool, log *slog.Logger) *udpMux {
	m := &udpMux{
		sock:            sock,
		includeLoopback: includeLoopback,
		log:             log,
		readDone:        make(chan struct{}),
		byAddr:          make(map[netip.AddrPort]*muxConn),
		conns:           [2]map[string]*muxConn{make(map[string]*muxConn), make(map[string]*muxConn)},
	}
	m.udp, _ = sock.(*net.UDPConn)
	m.bufs.New = func() any { b := make([]byte, muxPacketSize); return &b }
	m.out = newSender(sock, log)
	go m.read()
	return m
}

// GetListenAddresses is the socket's address or, for an unspecified one,
// the addresses of the interfaces that are up (as pion's mux).
func (m *udpMux) GetListenAddresses() []net.Addr {
	local, ok := m.sock.LocalAddr().(*net.UDPAddr)
	if !ok || !local.IP.IsUnspecified() {
		return []net.Addr{m.sock.LocalAddr()}
	}
	ifaces, err := net.Interfaces()
	if err != nil {
		m.log.Warn("webrtc: udp mux: list interfaces", "err", err)
		return []net.Addr{m.sock.LocalAddr()}
	}
	v6 := local.IP.To4() == nil // "[::]" takes both families, "0.0.0.0" IPv4 only
	var out []net.Addr
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || (ifc.Flags&net.FlagLoopback != 0 && !m.includeLoopback) {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			switch {
			case ip.IsLoopback() && !m.includeLoopback:
				continue
			case ip.Is6() && (!v6 || !usableIPv6(ip)):
				continue
			case ip.Is6() && ip.IsLinkLocalUnicast():
				ip = ip.WithZone(ifc.Name)
			}
			out = append(out, &net.UDPAddr{IP: ip.AsSlice(), Port: local.Port, Zone: ip.Zone()})
		}
	}
	if len(out) == 0 {
		return []net.Addr{m.sock.LocalAddr()}
	}
	return out
}

// usableIPv6 leaves out what RFC 8445 section 5.1.1.1 says must not be a
// candidate: IPv4-compatible and site-local addresses.
func usableIPv6(ip netip.Addr) bool {
	b := ip.As16()
	zeros := [12]byte{}
	return !bytes.Equal(b[:12], zeros[:]) && !(b[0] == 0xfe && b[1]&0xc0 == 0xc0)
}

// GetConn is the connection of the session whose local ufrag this is, for
// remotes of addr's family. Every call must be matched by a Close of what
// it returns; the connection ends with the last one.
func (m *udpMux) GetConn(ufrag string, addr net.Addr) (net.PacketConn, error) {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return nil, errMuxAddress
	}
	if local, ok := m.sock.LocalAddr().(*net.UDPAddr); ok && !local.IP.IsUnspecified() && ua.String() != local.String() {
		return nil, errMuxAddress
	}
	fam := 0
	if ua.IP.To4() == nil {
		fam = 1
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, io.ErrClosedPipe
	}
	c := m.conns[fam][ufrag]
	if c == nil {
		c = &muxConn{
			mux: m, ufrag: ufrag, fam: fam,
			addrs:  make(map[netip.AddrPort]struct{}),
			notify: make(chan struct{}, 1),
			done:   make(chan struct{}),
		}
		m.conns[fam][ufrag] = c
	}
	c.refs++
	return &muxHandle{c: c, closed: make(chan struct{})}, nil
}

// RemoveConnByUfrag stops routing to the session's connections; their
// holders still close them (as pion's mux).
func (m *udpMux) RemoveConnByUfrag(ufrag string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for fam := range m.conns {
		if c := m.conns[fam][ufrag]; c != nil {
			m.unlink(c)
		}
	}
}

// Close ends every connection and closes the socket.
func (m *udpMux) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	var conns []*muxConn
	for fam := range m.conns {
		for _, c := range m.conns[fam] {
			conns = append(conns, c)
			m.unlink(c)
		}
	}
	m.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	m.out.close() // sends what the sessions queued last (DTLS close alerts)
	err := m.sock.Close()
	<-m.readDone
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// read routes every datagram until the socket closes.
func (m *udpMux) read() {
	defer close(m.readDone)
	buf := make([]byte, muxPacketSize)
	for {
		var (
			n    int
			from netip.AddrPort
			err  error
		)
		if m.udp != nil {
			n, from, err = m.udp.ReadFromUDPAddrPort(buf)
		} else {
			var a net.Addr
			if n, a, err = m.sock.ReadFrom(buf); err == nil {
				if ua, ok := a.(*net.UDPAddr); ok {
					from = ua.AddrPort()
				}
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || m.isClosed() {
				return
			}
			if ne := net.Error(nil); !errors.As(err, &ne) || !ne.Timeout() {
				// E.g. an ICMP error reported on the socket: the
				// others' packets still come.
				m.log.Debug("webrtc: udp mux: read", "err", err)
			}
			continue
		}
		if from.IsValid() {
			m.route(buf[:n], from)
		}
	}
}

func (m *udpMux) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// route hands a datagram to its session: by the STUN USERNAME when it
// names one (which maps the source to that session), else by source.
func (m *udpMux) route(p []byte, from netip.AddrPort) {
	key := canonicalAddrPort(from)
	fam := 0
	if key.Addr().Is6() {
		fam = 1
	}
	m.mu.Lock()
	var c *muxConn
	if ufrag := stunUfrag(p); ufrag != nil {
		if c = m.conns[fam][string(ufrag)]; c != nil {
			m.assign(key, c)
		}
	}
	if c == nil {
		c = m.byAddr[key]
	}
	m.mu.Unlock()
	switch {
	case c == nil:
	case c.handler != nil:
		c.handler.HandleDatagram(p, from)
	default:
		c.push(m, p, from)
	}
}

// assign maps a remote address to c. m.mu is held.
func (m *udpMux) assign(key netip.AddrPort, c *muxConn) {
	old := m.byAddr[key]
	if old == c {
		return
	}
	if old != nil {
		old.mu.Lock()
		delete(old.addrs, key)
		old.mu.Unlock()
		m.log.Debug("webrtc: udp mux: remote address moved to another session", "addr", key, "from", old.ufrag, "to", c.ufrag)
	}
	m.byAddr[key] = c
	c.mu.Lock()
	c.addrs[key] = struct{}{}
	c.mu.Unlock()
}

// unlink stops routing to c. m.mu is held.
func (m *udpMux) unlink(c *muxConn) {
	if m.conns[c.fam][c.ufrag] == c {
		delete(m.conns[c.fam], c.ufrag)
	}
	c.mu.Lock()
	for a := range c.addrs {
		if m.byAddr[a] == c {
			delete(m.byAddr, a)
		}
	}
	clear(c.addrs)
	c.mu.Unlock()
}

// release is a handle's Close: the last one ends the connection.
func (m *udpMux) release(c *muxConn) {
	m.mu.Lock()
	c.refs--
	last := c.refs == 0
	if last {
		m.unlink(c)
	}
	m.mu.Unlock()
	if last {
		c.close()
	}
}

// wrote notes that c sends to an address: it becomes c's if it is no
// session's, so that the peer's answers (DTLS, STUN responses) reach c.
func (m *udpMux) wrote(c *muxConn, to netip.AddrPort) {
	key := canonicalAddrPort(to)
	c.mu.Lock()
	_, mine := c.addrs[key]
	c.mu.Unlock()
	if mine {
		return
	}
	m.mu.Lock()
	if m.byAddr[key] == nil && m.conns[c.fam][c.ufrag] == c {
		m.assign(key, c)
	}
	m.mu.Unlock()
}

// writeTo queues b for the socket's sender (udpsend.go): batched, never
// blocking on the network.
func (m *udpMux) writeTo(b []byte, to netip.AddrPort) (int, error) {
	return m.out.write(b, to)
}

// SendStats are the shared socket's send totals.
func (m *udpMux) SendStats() SendStats { return m.out.stats() }

// canonicalAddrPort is the form an address is mapped in: IPv4 unmapped
// from IPv6, zone kept only for link-local (as pion's mux).
func canonicalAddrPort(ap netip.AddrPort) netip.AddrPort {
	a := ap.Addr().Unmap()
	if !(a.Is6() && a.IsLinkLocalUnicast()) {
		a = a.WithZone("")
	}
	return netip.AddrPortFrom(a, ap.Port())
}

// stunUfrag is the first part of the USERNAME of a STUN message (RFC 8489
// section 14.3; ICE's is "receiver:sender"), nil if p is not a STUN
// message or has none.
func stunUfrag(p []byte) []byte {
	const (
		header      = 20
		magicCookie = 0x2112A442
		username    = 0x0006
	)
	if len(p) < header || p[0]&0xC0 != 0 || binary.BigEndian.Uint32(p[4:8]) != magicCookie {
		return nil
	}
	n := int(binary.BigEndian.Uint16(p[2:4]))
	if n%4 != 0 || header+n > len(p) {
		return nil
	}
	for attrs := p[header : header+n]; len(attrs) >= 4; {
		typ, l := binary.BigEndian.Uint16(attrs[0:2]), int(binary.BigEndian.Uint16(attrs[2:4]))
		if 4+l > len(attrs) {
			return nil
		}
		if typ == username {
			v := attrs[4 : 4+l]
			if i := bytes.IndexByte(v, ':'); i >= 0 {
				v = v[:i]
			}
			return v
		}
		attrs = attrs[min(len(attrs), 4+(l+3)&^3):]
	}
	return nil
}

// muxConn is one session's share of the mux: the packets for it, queued
// for its agent.
type muxConn struct {
	mux   *udpMux
	ufrag string
	fam   int
	refs  int // open handles; guarded by mux.mu
	// handler, when set, takes the session's datagrams on the mux's read
	// goroutine instead of the queue (Engine.Route).
	handler DatagramHandler

	mu      sync.Mutex
	addrs   map[netip.AddrPort]struct{} // remote addresses routed here; changed with mux.mu held too
	queue   []muxPacket
	head    int // queue[head:] waits
	closed  bool
	dropped uint64
	notify  chan struct{} // a packet was queued
	done    chan struct{} // closed with the connection
}

type muxPacket struct {
	buf  *[]byte
	from netip.AddrPort
}

func (c *muxConn) push(m *udpMux, p []byte, from netip.AddrPort) {
	buf := m.bufs.Get().(*[]byte)
	*buf = append((*buf)[:0], p...)
	c.mu.Lock()
	if c.closed || len(c.queue)-c.head >= muxQueueLen {
		if !c.closed {
			c.dropped++
		}
		c.mu.Unlock()
		m.bufs.Put(buf)
		return
	}
	if c.head > 0 && len(c.queue) == cap(c.queue) {
		n := copy(c.queue, c.queue[c.head:])
		clear(c.queue[n:])
		c.queue, c.head = c.queue[:n], 0
	}
	c.queue = append(c.queue, muxPacket{buf: buf, from: from})
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// pop takes the next packet, if any.
func (c *muxConn) pop() (muxPacket, bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.head == len(c.queue) {
		return muxPacket{}, false, c.closed
	}
	p := c.queue[c.head]
	c.queue[c.head] = muxPacket{}
	if c.head++; c.head == len(c.queue) {
		c.queue, c.head = c.queue[:0], 0
	}
	return p, true, false
}

func (c *muxConn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	if c.dropped > 0 {
		c.mux.log.Debug("webrtc: udp mux: session fell behind, packets dropped", "ufrag", c.ufrag, "dropped", c.dropped)
	}
	for _, p := range c.queue[c.head:] {
		c.mux.bufs.Put(p.buf)
	}
	c.queue, c.head = nil, 0
	close(c.done)
}

// muxHandle is what GetConn returns: a net.PacketConn (and
// ice.AddrPortReaderWriter) on a muxConn. Closing it ends its reads.
type muxHandle struct {
	c         *muxConn
	closeOnce sync.Once
	closed    chan struct{}
	deadline  atomic.Pointer[time.Time] // read deadline
}

var _ ice.AddrPortReaderWriter = (*muxHandle)(nil)

func (h *muxHandle) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	var timeout <-chan time.Time
	for {
		select {
		case <-h.closed:
			return 0, netip.AddrPort{}, net.ErrClosed
		default:
		}
		p, ok, ended := h.c.pop()
		if ok {
			n := copy(b, *p.buf)
			short := len(*p.buf) > len(b)
			h.c.mux.bufs.Put(p.buf)
			if short {
				return 0, netip.AddrPort{}, io.ErrShortBuffer
			}
			return n, p.from, nil
		}
		if ended {
			return 0, netip.AddrPort{}, io.EOF
		}
		if d := h.deadline.Load(); timeout == nil && d != nil && !d.IsZero() {
			wait := time.Until(*d)
			if wait <= 0 {
				return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(wait)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-h.c.notify:
		case <-h.c.done:
		case <-h.closed:
			return 0, netip.AddrPort{}, net.ErrClosed
		case <-timeout:
			return 0, netip.AddrPort{}, os.ErrDeadlineExceeded
		}
	}
}

func (h *muxHandle) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := h.ReadFromAddrPort(b)
	if err != nil {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), nil
}

func (h *muxHandle) WriteToAddrPort(b []byte, to netip.AddrPort) (int, error) {
	select {
	case <-h.closed:
		return 0, io.ErrClosedPipe
	default:
	}
	if !to.IsValid() {
		return 0, errMuxRemoteAddr
	}
	h.c.mux.wrote(h.c, to)
	return h.c.mux.writeTo(b, to)
}

func (h *muxHandle) WriteTo(b []byte, to net.Addr) (int, error) {
	ua, ok := to.(*net.UDPAddr)
	if !ok {
		return 0, errMuxRemoteAddr
	}
	return h.WriteToAddrPort(b, ua.AddrPort())
}

func (h *muxHandle) Close() error {
	h.closeOnce.Do(func() {
		close(h.closed)
		h.c.mux.release(h.c)
	})
	return nil
}

func (h *muxHandle) LocalAddr() net.Addr { return h.c.mux.sock.LocalAddr() }

func (h *muxHandle) SetDeadline(t time.Time) error { return h.SetReadDeadline(t) }

// SetReadDeadline applies to reads that start after it (as pion's mux).
func (h *muxHandle) SetReadDeadline(t time.Time) error {
	h.deadline.Store(&t)
	return nil
}

// SetWriteDeadline does nothing: the socket is shared (as pion's mux).
func (h *muxHandle) SetWriteDeadline(time.Time) error { return nil }
