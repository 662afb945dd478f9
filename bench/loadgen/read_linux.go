package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// readBatch is how many datagrams one recvmmsg call takes, at most.
	readBatch = 16
	// readSlot is how much of each datagram is read once the first frame
	// is in by a viewer without UDP_GRO: enough for any STUN check and any
	// RTP header; the kernel says how long the datagram was (MSG_TRUNC),
	// and the rest need not be copied. With UDP_GRO a datagram may be a run
	// of packets, every one of whose headers counts: it is read whole.
	readSlot = 256
)

// enableGRO asks the kernel to hand UDP GSO trains to conn whole (UDP_GRO,
// Linux 5.0+). Without it the receiving kernel splits each train into
// datagrams, on loopback in the sender's system call: the benchmark would
// charge the gateway for work that viewers' machines do. False if the
// kernel refuses, which is no error: packets then come one by one.
func enableGRO(conn *net.UDPConn) bool {
	rc, err := conn.SyscallConn()
	if err != nil {
		return false
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1)
	}); err != nil {
		return false
	}
	return serr == nil
}

// groSegment is the segment size a UDP_GRO control message in oob gives
// (level SOL_UDP, an int), 0 if there is none: the datagram came alone.
// oob must be aligned as the kernel fills it (a buffer of its own, or at a
// multiple of oobSize).
func groSegment(oob []byte) int {
	for len(oob) >= unix.SizeofCmsghdr {
		h, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			return 0
		}
		if h.Level == unix.IPPROTO_UDP && h.Type == unix.UDP_GRO && len(data) >= 4 {
			return int(int32(binary.NativeEndian.Uint32(data)))
		}
		oob = rest
	}
	return 0
}

// rawSocket is the viewer's socket once out of Go's netpoller: a file
// descriptor read with recvmmsg by the reader goroutine, or the viewer's
// Drainer, under Viewer.sockMu. Go's netpoller would wake a thread for
// every datagram even while the reader sleeps (epoll is edge-triggered,
// each arrival is an edge); polling on a timer wakes the process once per
// interval instead.
type rawSocket struct {
	fd  int // -1 once closed
	sa4 syscall.SockaddrInet4
	sa6 syscall.SockaddrInet6
}

// mmsghdr is struct mmsghdr (recvmmsg(2)); Go pads it as C does.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
}

// batch is the memory recvmmsg reads into, reused: up to len(hdrs)
// datagrams of up to slot bytes each, their senders and control messages.
type batch struct {
	slot  int
	bufs  []byte // slot bytes per message
	ctrl  []byte // oobSize bytes per message
	names []syscall.RawSockaddrAny
	iovs  []syscall.Iovec
	hdrs  []mmsghdr
}

// newBatch lays out a batch of n messages of slot bytes, in buf if it is
// big enough.
func newBatch(n, slot int, buf []byte) *batch {
	if len(buf) < n*slot {
		buf = make([]byte, n*slot)
	}
	b := &batch{
		slot: slot, bufs: buf, ctrl: make([]byte, n*oobSize),
		names: make([]syscall.RawSockaddrAny, n), iovs: make([]syscall.Iovec, n), hdrs: make([]mmsghdr, n),
	}
	for i := range b.hdrs {
		b.iovs[i].Base = &buf[i*slot]
		b.iovs[i].SetLen(slot)
		h := &b.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&b.names[i]))
		h.Iov = &b.iovs[i]
		h.Iovlen = 1
		h.Control = &b.ctrl[i*oobSize]
	}
	return b
}

// ownBatch is the batch a viewer without a Drainer drains into: with
// UDP_GRO one whole datagram per call, in buf, the reader's own 64 KiB;
// without, readBatch prefixes.
func (v *Viewer) ownBatch(buf []byte) *batch {
	if v.gro {
		return newBatch(1, maxDatagram, buf)
	}
	return newBatch(readBatch, readSlot, nil)
}

// readBatched takes the socket out of Go's netpoller and hands it to the
// viewer's Drainer, or drains it itself on every tick of the read interval
// until the viewer is closed. buf is the reader's buffer, for reuse.
func (v *Viewer) readBatched(buf []byte) error {
	ok, err := v.detach()
	if err != nil || !ok {
		return err
	}
	if d := v.drainer; d != nil {
		d.add(v)
		return nil
	}
	b := v.ownBatch(buf)
	for v.drainWith(b) {
		// A plain sleep is the cheapest wake-up there is (no channel); Close
		// waits for it to end, an interval at most.
		time.Sleep(untilTick(v.interval))
		select {
		case <-v.stop:
			return nil
		default:
		}
	}
	return nil
}

// untilTick is the time to the next multiple of d on the clock. Viewers
// with the same interval wake together, so the process wakes once a tick
// for all of them rather than once per viewer: wake-ups of the process,
// not of goroutines, are what a sleeping reader costs.
func untilTick(d time.Duration) time.Duration {
	now := time.Now()
	return now.Truncate(d).Add(d).Sub(now)
}

// detach swaps v.conn for a duplicate of its descriptor that Go's
// netpoller does not watch; false if the viewer is closing.
func (v *Viewer) detach() (bool, error) {
	rc, err := v.conn.SyscallConn()
	if err != nil {
		return false, fmt.Errorf("raw socket: %w", err)
	}
	v.sockMu.Lock()
	defer v.sockMu.Unlock()
	if v.closing.Load() {
		return false, nil
	}
	fd, derr := -1, error(nil)
	err = rc.Control(func(s uintptr) {
		r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, s, syscall.F_DUPFD_CLOEXEC, 0)
		if errno != 0 {
			derr = errno
			return
		}
		fd = int(r)
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return false, fmt.Errorf("dup socket: %w", err)
	}
	if err := v.conn.Close(); err != nil {
		return false, errors.Join(fmt.Errorf("leave netpoller: %w", err), syscall.Close(fd))
	}
	v.detached = true
	v.raw.fd = fd
	return true, nil
}

// drainWith reads and handles every datagram waiting on the detached
// socket, into b; false once the socket is closed: by Close, or here after
// a read error, which is kept for Close.
func (v *Viewer) drainWith(b *batch) bool {
	v.sockMu.Lock()
	defer v.sockMu.Unlock()
	if v.raw.fd < 0 {
		return false
	}
	if err := b.drain(v); err != nil {
		v.noteErr(errors.Join(fmt.Errorf("loadgen: read: recvmmsg: %w", err), v.raw.close()))
		return false
	}
	v.keepConsent(time.Now())
	return true
}

// drain reads and handles every datagram waiting on v's socket, a batch
// per call.
func (b *batch) drain(v *Viewer) error {
	for {
		for i := range b.hdrs {
			h := &b.hdrs[i].hdr
			h.Namelen = syscall.SizeofSockaddrAny
			h.SetControllen(oobSize)
		}
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVMMSG, uintptr(v.raw.fd),
			uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(len(b.hdrs)), syscall.MSG_DONTWAIT|syscall.MSG_TRUNC, 0, 0)
		switch errno {
		case 0:
		case syscall.EAGAIN:
			return nil
		case syscall.EINTR:
			continue
		default:
			return errno
		}
		for i := range int(n) {
			from, ok := addrPort(&b.names[i])
			if !ok {
				continue
			}
			size := int(b.hdrs[i].n) // the datagram's, maybe more than was read
			ctrl := b.ctrl[i*oobSize:][:min(int(b.hdrs[i].hdr.Controllen), oobSize)]
			v.handleDatagram(b.bufs[i*b.slot:][:min(size, b.slot)], size, groSegment(ctrl), from)
		}
		if int(n) < len(b.hdrs) {
			return nil // drained: spare the call that would say EAGAIN
		}
	}
}

// add starts draining v's detached socket, and the goroutine if it is off.
func (d *Drainer) add(v *Viewer) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.viewers = append(d.viewers, v)
	if !d.running {
		d.running = true
		go d.run()
	}
}

// run drains every viewer on each tick, one after the other into one
// batch, and drops those whose socket is closed; it ends with the last.
func (d *Drainer) run() {
	if d.batch == nil {
		d.batch = newBatch(readBatch, maxDatagram, nil)
	}
	for {
		d.mu.Lock()
		d.pass = append(d.pass[:0], d.viewers...)
		d.mu.Unlock()
		d.gone = d.gone[:0]
		for _, v := range d.pass {
			if !v.drainWith(d.batch) {
				d.gone = append(d.gone, v)
			}
		}
		clear(d.pass)
		d.mu.Lock()
		if len(d.gone) > 0 {
			d.viewers = slices.DeleteFunc(d.viewers, func(v *Viewer) bool { return slices.Contains(d.gone, v) })
			clear(d.gone)
		}
		if len(d.viewers) == 0 {
			d.running = false
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		time.Sleep(untilTick(d.interval))
	}
}

// close closes the descriptor, once.
func (r *rawSocket) close() error {
	if r.fd < 0 {
		return nil
	}
	fd := r.fd
	r.fd = -1
	if err := syscall.Close(fd); err != nil {
		return fmt.Errorf("close socket: %w", err)
	}
	return nil
}

// writeTo sends a datagram from the viewer's socket, wherever it is (once
// detached, with sockMu held: by the goroutine that drains it).
func (v *Viewer) writeTo(p []byte, to netip.AddrPort) error {
	if !v.detached {
		_, err := v.conn.WriteToUDPAddrPort(p, to)
		return err
	}
	r := &v.raw
	a := to.Addr().Unmap()
	if a.Is4() {
		r.sa4.Port, r.sa4.Addr = int(to.Port()), a.As4()
		return syscall.Sendto(r.fd, p, 0, &r.sa4)
	}
	r.sa6.Port, r.sa6.Addr = int(to.Port()), a.As16()
	return syscall.Sendto(r.fd, p, 0, &r.sa6)
}

// addrPort reads a sockaddr_in or sockaddr_in6 (port in network order).
func addrPort(rsa *syscall.RawSockaddrAny) (netip.AddrPort, bool) {
	switch rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(p[0])<<8|uint16(p[1])), true
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&sa.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1])), true
	}
	return netip.AddrPort{}, false
}
