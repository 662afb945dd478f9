//go:build !linux

package loadgen

import "net/netip"

// rawSocket is Linux's (read_linux.go); elsewhere the socket stays v.conn.
type rawSocket struct{}

// readBatched reads each packet as it arrives: the batched drain needs
// Linux's recvmmsg.
func (v *Viewer) readBatched() error {
	buf := make([]byte, readBufSize)
	for {
		n, from, err := v.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if v.closing.Load() {
				return nil
			}
			return err
		}
		v.handle(buf[:n], n, from)
	}
}

// writeTo sends a datagram from the viewer's socket.
func (v *Viewer) writeTo(p []byte, to netip.AddrPort) error {
	_, err := v.conn.WriteToUDPAddrPort(p, to)
	return err
}
