package loadgen

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"
	"unsafe"
)

// readBatch is how many datagrams one recvmmsg call takes.
const readBatch = 16

// readSlot is how much of each datagram is read once the first frame is
// in: enough for any STUN check and any RTP header; the kernel says how
// long the datagram was (MSG_TRUNC), and the rest need not be copied.
const readSlot = 256

// rawSocket is the viewer's socket once out of Go's netpoller: a file
// descriptor of the reader goroutine's, read with recvmmsg into reused
// memory. Go's netpoller would wake a thread for every datagram even while
// the reader sleeps (epoll is edge-triggered, each arrival is an edge);
// polling on a timer wakes the viewer once per interval instead.
type rawSocket struct {
	fd    int
	bufs  *[readBatch][readSlot]byte
	names [readBatch]syscall.RawSockaddrAny
	iovs  [readBatch]syscall.Iovec
	hdrs  [readBatch]mmsghdr
	sa4   syscall.SockaddrInet4
	sa6   syscall.SockaddrInet6
}

// mmsghdr is struct mmsghdr (recvmmsg(2)); Go pads it as C does.
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
}

// readBatched takes the socket out of Go's netpoller and then, on every
// tick of the read interval, drains it, until the viewer is closed.
func (v *Viewer) readBatched() error {
	ok, err := v.detach()
	if err != nil || !ok {
		return err
	}
	r := &v.raw
	for {
		if err := r.drain(v); err != nil {
			return errors.Join(fmt.Errorf("recvmmsg: %w", err), r.close())
		}
		// A plain sleep is the cheapest wake-up there is (no channel); Close
		// waits for it to end, an interval at most.
		time.Sleep(untilTick(v.interval))
		select {
		case <-v.stop:
			return r.close()
		default:
		}
	}
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
	r := &v.raw
	r.fd = fd
	r.bufs = new([readBatch][readSlot]byte)
	for i := range r.hdrs {
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(readSlot)
		r.hdrs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
		r.hdrs[i].hdr.Iov = &r.iovs[i]
		r.hdrs[i].hdr.Iovlen = 1
	}
	return true, nil
}

// drain reads and handles every datagram waiting, readBatch per call.
func (r *rawSocket) drain(v *Viewer) error {
	for {
		for i := range r.hdrs {
			r.hdrs[i].hdr.Namelen = syscall.SizeofSockaddrAny
		}
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVMMSG, uintptr(r.fd),
			uintptr(unsafe.Pointer(&r.hdrs[0])), readBatch, syscall.MSG_DONTWAIT|syscall.MSG_TRUNC, 0, 0)
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
			if from, ok := addrPort(&r.names[i]); ok {
				size := int(r.hdrs[i].n) // the datagram's, maybe more than was read
				v.handle(r.bufs[i][:min(size, readSlot)], size, from)
			}
		}
		if n < readBatch {
			return nil // drained: spare the call that would say EAGAIN
		}
	}
}

func (r *rawSocket) close() error {
	if err := syscall.Close(r.fd); err != nil {
		return fmt.Errorf("close socket: %w", err)
	}
	return nil
}

// writeTo sends a datagram from the viewer's socket, wherever it is.
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
