//go:build !linux

package loadgen

import (
	"net"
	"net/netip"
	"time"
)

// rawSocket and batch are Linux's (read_linux.go); elsewhere the socket
// stays v.conn and each packet is read as it arrives.
type (
	rawSocket struct{}
	batch     struct{}
)

func (rawSocket) close() error { return nil }

// enableGRO: UDP_GRO is Linux's.
func enableGRO(*net.UDPConn) bool { return false }

// groSegment: without UDP_GRO every datagram came alone.
func groSegment([]byte) int { return 0 }

// readBatched reads each packet as it arrives: the batched drain needs
// Linux's recvmmsg.
func (v *Viewer) readBatched(buf []byte) error {
	for {
		n, from, err := v.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if v.closing.Load() {
				return nil
			}
			return err
		}
		v.handle(buf[:n], n, from)
		v.keepConsent(time.Now())
	}
}

// writeTo sends a datagram from the viewer's socket.
func (v *Viewer) writeTo(p []byte, to netip.AddrPort) error {
	_, err := v.conn.WriteToUDPAddrPort(p, to)
	return err
}
