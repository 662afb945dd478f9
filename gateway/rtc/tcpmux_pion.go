package rtc

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v4/deadline"
)

// pionTCPQueue bounds the frames waiting for a publisher's ICE agent.
const pionTCPQueue = 1024

var errTCPNoLink = errors.New("ice-tcp: no connection to that address")

// pionTCPMux lets the publishers' pion ICE agents share the passive ICE-TCP
// port with the viewers' lean connections (an ice.TCPMux): an agent gets
// a packet conn per local ufrag, fed with the frames of every TCP
// connection whose first check named that ufrag.
type pionTCPMux struct{ m *tcpMux }

var _ ice.TCPMux = pionTCPMux{}

// LocalAddr is the listener's: pion advertises passive candidates only for
// the address the mux listens on.
func (p pionTCPMux) LocalAddr() net.Addr { return p.m.ln.Addr() }

// GetConnByUfrag is the agent's packet conn for ufrag, made at first ask.
func (p pionTCPMux) GetConnByUfrag(ufrag string, _ bool, _ net.IP) (net.PacketConn, error) {
	m := p.m
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx.Err() != nil {
		return nil, io.ErrClosedPipe
	}
	c := m.pion[ufrag]
	if c == nil {
		c = &tcpPacketConn{
			mux: m, ufrag: ufrag, links: map[netip.AddrPort]*TCPLink{},
			notify: make(chan struct{}, 1), done: make(chan struct{}), deadline: deadline.New(),
		}
		m.pion[ufrag] = c
	}
	return c, nil
}

// RemoveConnByUfrag ends the agent's packet conn and its connections.
func (p pionTCPMux) RemoveConnByUfrag(ufrag string) {
	p.m.mu.Lock()
	c := p.m.pion[ufrag]
	p.m.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

// Close does nothing: the engine closes the mux.
func (pionTCPMux) Close() error { return nil }

// tcpFrame is a frame waiting for the agent.
type tcpFrame struct {
	p    []byte
	from netip.AddrPort
}

// tcpPacketConn is one pion agent's view of the ICE-TCP port: frames in,
// each from its connection's remote address; writes to a remote address go
// on that connection.
type tcpPacketConn struct {
	mux   *tcpMux
	ufrag string

	mu       sync.Mutex
	links    map[netip.AddrPort]*TCPLink
	queue    []tcpFrame
	closed   bool
	notify   chan struct{}
	done     chan struct{}
	deadline *deadline.Deadline
}

// HandleTCP is TCPHandler: a frame from one of the agent's connections.
func (c *tcpPacketConn) HandleTCP(p []byte, link *TCPLink) {
	c.mu.Lock()
	if c.closed || len(c.queue) >= pionTCPQueue {
		c.mu.Unlock()
		return
	}
	c.links[link.Remote()] = link
	c.queue = append(c.queue, tcpFrame{p: append([]byte(nil), p...), from: link.Remote()})
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *tcpPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			f := c.queue[0]
			c.queue[0] = tcpFrame{}
			c.queue = c.queue[1:]
			c.mu.Unlock()
			if len(f.p) > len(b) {
				return 0, nil, io.ErrShortBuffer
			}
			return copy(b, f.p), net.TCPAddrFromAddrPort(f.from), nil
		}
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return 0, nil, io.EOF
		}
		select {
		case <-c.notify:
		case <-c.done:
		case <-c.deadline.Done():
			return 0, nil, os.ErrDeadlineExceeded
		}
	}
}

func (c *tcpPacketConn) WriteTo(b []byte, to net.Addr) (int, error) {
	ta, ok := to.(*net.TCPAddr)
	if !ok {
		return 0, errTCPNoLink
	}
	ap := ta.AddrPort()
	c.mu.Lock()
	link := c.links[netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())]
	c.mu.Unlock()
	if link == nil {
		return 0, errTCPNoLink
	}
	if err := link.Write(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Close ends the conn and the connections it holds. Idempotent.
func (c *tcpPacketConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	links := c.links
	c.links, c.queue = nil, nil
	close(c.done)
	c.mu.Unlock()
	for _, l := range links {
		l.Close()
	}
	c.mux.mu.Lock()
	if c.mux.pion[c.ufrag] == c {
		delete(c.mux.pion, c.ufrag)
	}
	c.mux.mu.Unlock()
	return nil
}

func (c *tcpPacketConn) LocalAddr() net.Addr { return c.mux.ln.Addr() }

func (c *tcpPacketConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *tcpPacketConn) SetReadDeadline(t time.Time) error {
	c.deadline.Set(t)
	return nil
}

func (c *tcpPacketConn) SetWriteDeadline(time.Time) error { return nil }
