package peer

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/transport/v4/deadline"
)

// dtlsQueueLen bounds the DTLS datagrams waiting for the handshake (a
// flight is a handful); more are dropped, and DTLS retransmits.
const dtlsQueueLen = 32

// datagramConn is the net.PacketConn pion/dtls runs on: datagrams the
// socket's read goroutine hands it (push), and writes to the session's
// current remote address through the shared socket.
type datagramConn struct {
	local net.Addr
	write func(b []byte) error

	in       chan []byte
	closed   chan struct{}
	once     sync.Once
	deadline *deadline.Deadline
	// from is the address reads report: pion/dtls checks nothing about it.
	from net.Addr
}

func newDatagramConn(local net.Addr, from netip.AddrPort, write func([]byte) error) *datagramConn {
	return &datagramConn{
		local: local, write: write, from: net.UDPAddrFromAddrPort(from),
		in: make(chan []byte, dtlsQueueLen), closed: make(chan struct{}), deadline: deadline.New(),
	}
}

// push hands over a copy of one DTLS datagram without blocking; false when
// the queue is full or the conn closed.
func (c *datagramConn) push(p []byte) bool {
	select {
	case <-c.closed:
		return false
	default:
	}
	select {
	case c.in <- append([]byte(nil), p...):
		return true
	default:
		return false
	}
}

func (c *datagramConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case p := <-c.in:
		return copy(b, p), c.from, nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	case <-c.deadline.Done():
		return 0, nil, timeoutError{}
	}
}

func (c *datagramConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	select {
	case <-c.closed:
		return 0, net.ErrClosed
	default:
	}
	if err := c.write(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (c *datagramConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return nil
}

func (c *datagramConn) LocalAddr() net.Addr { return c.local }

func (c *datagramConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *datagramConn) SetReadDeadline(t time.Time) error {
	c.deadline.Set(t)
	return nil
}

// SetWriteDeadline does nothing: writes are queued, never blocked.
func (c *datagramConn) SetWriteDeadline(time.Time) error { return nil }

// timeoutError is a read deadline passing (a net.Error that times out).
type timeoutError struct{}

func (timeoutError) Error() string   { return "peer: read deadline exceeded" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
