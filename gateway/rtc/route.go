package rtc

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"time"
)

// DatagramHandler takes a session's datagrams as they are read: STUN that
// names the session's ufrag, and whatever then comes from the addresses
// those checks came from (DTLS, SRTCP). It runs on the socket's one read
// goroutine, so it must be quick and must not block; p is only valid during
// the call.
type DatagramHandler interface {
	HandleDatagram(p []byte, from netip.AddrPort)
}

var errRouteTaken = errors.New("webrtc: udp mux: ufrag already in use")

// Route sends the datagrams of the session whose local ICE ufrag this is to
// h, for remotes of either address family, until the returned func is
// called (idempotent). This is how sessions that are not pion
// PeerConnections (the lean viewer transport) share the one UDP port.
func (e *Engine) Route(ufrag string, h DatagramHandler) (unroute func(), err error) {
	m := e.mux
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, io.ErrClosedPipe
	}
	var cs [2]*muxConn
	for fam := range m.conns {
		if m.conns[fam][ufrag] != nil {
			return nil, errRouteTaken
		}
	}
	for fam := range m.conns {
		c := &muxConn{
			mux: m, ufrag: ufrag, fam: fam, refs: 1, handler: h,
			addrs: make(map[netip.AddrPort]struct{}), notify: make(chan struct{}, 1), done: make(chan struct{}),
		}
		m.conns[fam][ufrag] = c
		cs[fam] = c
	}
	return func() {
		for _, c := range cs {
			m.release(c)
		}
	}, nil
}

// WriteTo queues one datagram for the shared socket (batched with
// everything else sent; see udpsend.go). b is copied.
func (e *Engine) WriteTo(b []byte, to netip.AddrPort) error {
	_, err := e.mux.writeTo(b, to)
	return err
}

// Candidates are the host candidates sessions that are not pion's list in
// their answers: the configured hosts (Config.Hosts) on the UDP port, or
// else the addresses of the interfaces the socket listens on.
func (e *Engine) Candidates() []netip.AddrPort {
	port := uint16(0)
	if ua, ok := e.conn.LocalAddr().(*net.UDPAddr); ok {
		port = uint16(ua.Port)
	}
	var out []netip.AddrPort
	if len(e.hosts) > 0 {
		for _, h := range e.hosts {
			if ip, err := netip.ParseAddr(h); err == nil {
				out = append(out, netip.AddrPortFrom(ip.Unmap(), port))
			}
		}
		return out
	}
	for _, a := range e.mux.GetListenAddresses() {
		if ua, ok := a.(*net.UDPAddr); ok {
			ap := ua.AddrPort()
			out = append(out, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		}
	}
	return out
}

// DisconnectTimeout is Config.DisconnectTimeout (its default when zero):
// how long a session whose peer stopped answering lives on.
func (e *Engine) DisconnectTimeout() time.Duration { return e.disconnect }

// tcpHandler is the ICE-TCP handler of the session whose local ufrag this
// is (one routed with Engine.Route whose handler takes TCP), nil if none.
func (m *udpMux) tcpHandler(ufrag string) TCPHandler {
	m.mu.Lock()
	defer m.mu.Unlock()
	for fam := range m.conns {
		if c := m.conns[fam][ufrag]; c != nil {
			if h, ok := c.handler.(TCPHandler); ok {
				return h
			}
		}
	}
	return nil
}

// TCPCandidates are the passive ICE-TCP candidates, as Candidates are the
// UDP ones; none when ICE-TCP is off.
func (e *Engine) TCPCandidates() []netip.AddrPort {
	if e.tcp == nil {
		return nil
	}
	port := uint16(0)
	if ta, ok := e.tcp.ln.Addr().(*net.TCPAddr); ok {
		port = uint16(ta.Port)
	}
	var out []netip.AddrPort
	for _, a := range e.Candidates() {
		out = append(out, netip.AddrPortFrom(a.Addr(), port))
	}
	return out
}

// MuxRoutes counts the ICE UDP mux's routing entries, by session (local
// ufrag) and by remote address: leak tests check they go with the sessions.
func (e *Engine) MuxRoutes() (sessions, addrs int) {
	e.mux.mu.Lock()
	defer e.mux.mu.Unlock()
	return len(e.mux.conns[0]) + len(e.mux.conns[1]), len(e.mux.byAddr)
}
