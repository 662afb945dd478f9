package rtc

import (
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr (sendmmsg(2)): Go pads it as C does.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// mmsgSender sends a batch with sendmmsg(2), each train one message, GSO
// trains with a UDP_SEGMENT control message (Linux 4.18+).
type mmsgSender struct {
	raw    syscall.RawConn
	inet6  bool // the socket is AF_INET6: IPv4 destinations go v4-mapped
	useGSO bool
	log    *slog.Logger
	each   *sendEach // after an unexpected failure, and for non-UDP sockets

	hdrs    []mmsghdr
	iovecs  []unix.Iovec
	names4  []unix.RawSockaddrInet4
	names6  []unix.RawSockaddrInet6
	control []byte
	lastLog time.Time

	// The sendmmsg call in progress: what write hands to raw.Write, bound
	// once so that a call allocates nothing.
	write   func(fd uintptr) bool
	pending []mmsghdr
	sent    int
	errno   syscall.Errno
}

// gsoControlLen is the room a UDP_SEGMENT control message takes.
func gsoControlLen() int { return unix.CmsgSpace(2) }

func newBatchSender(sock net.PacketConn, log *slog.Logger) batchSender {
	each := &sendEach{sock: sock, log: log}
	u, ok := sock.(*net.UDPConn)
	if !ok {
		return each
	}
	raw, err := u.SyscallConn()
	if err != nil {
		return each
	}
	_ = u.SetWriteBuffer(sendBufSize) // best effort: the kernel caps it
	domain := unix.AF_INET6
	var serr error
	if err := raw.Control(func(fd uintptr) {
		domain, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN)
	}); err != nil || serr != nil {
		return each
	}
	m := &mmsgSender{raw: raw, inet6: domain == unix.AF_INET6, useGSO: true, log: log, each: each}
	m.write = m.sendOnce
	return m
}

func (m *mmsgSender) gso() bool { return m.useGSO }

func (m *mmsgSender) send(ts []train) (calls, dropped int) {
	if len(ts) == 0 {
		return 0, 0
	}
	m.prepare(ts)
	// The iovecs point into the sender's buffers: drop them once sent, or
	// the largest batch ever sent would pin that many buffers for good.
	defer clear(m.iovecs)
	for off := 0; off < len(ts); {
		n, err := m.sendmmsg(m.hdrs[off:])
		calls++
		switch {
		case err == nil:
			off += n
		case m.useGSO && (errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)):
			// The kernel or the route refuses GSO: send the rest one by one
			// and never ask again.
			m.useGSO = false
			m.log.Info("webrtc: udp: GSO refused, sending datagrams one by one", "err", err)
			c, d := m.each.send(ts[off:])
			return calls + c, dropped + d
		default:
			// The first message failed (e.g. no route to that peer): drop
			// it, send the others.
			dropped += len(ts[off].segs)
			off++
			m.logErr(err)
		}
	}
	return calls, dropped
}

// prepare lays the trains out as mmsghdrs; the arrays are reused.
func (m *mmsgSender) prepare(ts []train) {
	segs := 0
	for _, t := range ts {
		segs += len(t.segs)
	}
	m.hdrs = grow(m.hdrs, len(ts))
	m.iovecs = grow(m.iovecs, segs)
	m.names4 = grow(m.names4, len(ts))
	m.names6 = grow(m.names6, len(ts))
	ctl := gsoControlLen()
	m.control = grow(m.control, len(ts)*ctl)
	iov := 0
	for i, t := range ts {
		h := &m.hdrs[i]
		*h = mmsghdr{}
		for _, seg := range t.segs {
			v := &m.iovecs[iov]
			v.Base = unsafe.SliceData(seg)
			v.SetLen(len(seg))
			iov++
		}
		h.hdr.Iov = &m.iovecs[iov-len(t.segs)]
		h.hdr.SetIovlen(len(t.segs))
		if m.inet6 {
			sa := &m.names6[i]
			*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: t.to.Addr().As16()}
			binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], t.to.Port())
			h.hdr.Name = (*byte)(unsafe.Pointer(sa))
			h.hdr.Namelen = unix.SizeofSockaddrInet6
		} else {
			sa := &m.names4[i]
			*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: t.to.Addr().Unmap().As4()}
			binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], t.to.Port())
			h.hdr.Name = (*byte)(unsafe.Pointer(sa))
			h.hdr.Namelen = unix.SizeofSockaddrInet4
		}
		if len(t.segs) > 1 {
			c := m.control[i*ctl : (i+1)*ctl]
			clear(c)
			cm := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
			cm.Level, cm.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
			cm.SetLen(unix.CmsgLen(2))
			*(*uint16)(unsafe.Pointer(&c[unix.CmsgLen(0)])) = uint16(t.seg)
			h.hdr.Control = &c[0]
			h.hdr.SetControllen(ctl)
		}
	}
}

// sendmmsg sends hdrs, waiting (in the poller) while the socket buffer is
// full; it returns how many messages went.
func (m *mmsgSender) sendmmsg(hdrs []mmsghdr) (int, error) {
	m.pending, m.sent, m.errno = hdrs, 0, 0
	err := m.raw.Write(m.write)
	n, errno := m.sent, m.errno
	m.pending = nil
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	if n <= 0 {
		return 0, unix.EIO
	}
	return n, nil
}

// sendOnce is one sendmmsg of m.pending; false asks the poller to wait
// until the socket takes more.
func (m *mmsgSender) sendOnce(fd uintptr) bool {
	r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&m.pending[0])), uintptr(len(m.pending)), 0, 0, 0)
	if e == unix.EAGAIN {
		return false
	}
	m.sent, m.errno = int(r), e
	return true
}

func (m *mmsgSender) logErr(err error) {
	if time.Since(m.lastLog) < 10*time.Second {
		return
	}
	m.lastLog = time.Now()
	m.log.Debug("webrtc: udp send", "err", err)
}

// grow returns s with length n, reusing its array when it is big enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}
