package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"github.com/pion/rtp"
	"golang.org/x/sys/unix"
)

// gsoControl is a UDP_SEGMENT control message: send a buffer as a train
// of seg-byte datagrams, the last maybe shorter (as gateway/rtc does).
func gsoControl(seg int) []byte {
	b := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b[unix.CmsgLen(0):], uint16(seg))
	return b
}

// trainSender sends UDP GSO trains from a socket of its own.
type trainSender struct {
	conn *net.UDPConn
	buf  []byte
	oob  map[int][]byte // by segment size
}

func newTrainSender(t testing.TB) *trainSender {
	t.Helper()
	return &trainSender{conn: loopbackUDP(t), oob: map[int][]byte{}}
}

// send sends pkts to `to` as one train (all but the last the same size);
// errGSO if the kernel refuses GSO.
func (s *trainSender) send(to netip.AddrPort, pkts ...[]byte) error {
	s.buf = s.buf[:0]
	for _, p := range pkts {
		s.buf = append(s.buf, p...)
	}
	seg := len(pkts[0])
	oob, ok := s.oob[seg]
	if !ok {
		oob = gsoControl(seg)
		s.oob[seg] = oob
	}
	if len(pkts) == 1 {
		oob = nil
	}
	if _, _, err := s.conn.WriteMsgUDPAddrPort(s.buf, oob, to); err != nil {
		if errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOPROTOOPT) {
			return fmt.Errorf("%w: %w", errGSO, err)
		}
		return err
	}
	return nil
}

var errGSO = errors.New("the kernel refuses UDP GSO")

// groViewer is a viewer as Dial makes its socket (UDP_GRO on), with no
// session behind it; the test is skipped if the kernel lacks UDP_GRO.
func groViewer(t testing.TB, interval time.Duration) (*Viewer, netip.AddrPort) {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadBuffer(socketBuffer); err != nil {
		t.Fatal(err)
	}
	v := testViewer(conn, "my-password-0123456789ab")
	v.interval = interval
	if v.gro = enableGRO(conn); !v.gro {
		if err := conn.Close(); err != nil {
			t.Error(err)
		}
		t.Skip("the kernel refuses UDP_GRO")
	}
	return v, conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// waitReadable blocks until fd has a datagram waiting (the drain that
// follows is then not empty: the train is whole in the queue), for at most
// readableBound in all, signals included.
func waitReadable(t testing.TB, fd int) {
	t.Helper()
	const readableBound = 10 * time.Second
	deadline := time.Now().Add(readableBound)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			t.Fatalf("no datagram within %v", readableBound)
		}
		n, err := unix.Poll(pfd, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n != 1 {
			t.Fatalf("poll: %d, %v", n, err)
		}
		return
	}
}

// TestGROTrain sends real UDP GSO trains to a viewer's socket with UDP_GRO
// on: each arrives as one datagram and is read as the packets it carries,
// each counted as if it had come alone, however the viewer reads: before
// its first frame (decrypting, each datagram as it arrives), draining its
// socket itself, or through a Drainer. (That reading allocates nothing is
// TestAllocsGROTrain.)
func TestGROTrain(t *testing.T) {
	// Two trains: six video packets, the last shorter; then video, audio,
	// video with one sequence number missing in between.
	trains := func(base uint16) [][][]byte {
		return [][][]byte{
			{rtpPacket(1, base, 1000), rtpPacket(1, base+1, 1000), rtpPacket(1, base+2, 1000),
				rtpPacket(1, base+3, 1000), rtpPacket(1, base+4, 1000), rtpPacket(1, base+5, 300)},
			{rtpPacket(1, base+6, 400), rtpPacket(2, base, 400), rtpPacket(1, base+8, 400)},
		}
	}
	want := Stats{Packets: 9, Bytes: 6500, Video: 8, Audio: 1, Lost: 1, Trains: 2}
	sub := func(a, b Stats) Stats {
		return Stats{Packets: a.Packets - b.Packets, Bytes: a.Bytes - b.Bytes, Video: a.Video - b.Video,
			Audio: a.Audio - b.Audio, Lost: a.Lost - b.Lost, Trains: a.Trains - b.Trains}
	}

	t.Run("before the first frame", func(t *testing.T) {
		v, to := groViewer(t, -1)
		tx := newTrainSender(t)
		enc, dec := srtpPair(t)
		v.ff = newFirstFrame()
		v.keys.Store(dec)
		v.start = time.Now()
		v.wg.Add(1)
		go v.read()
		defer func() {
			if err := v.Close(); err != nil {
				t.Error(err)
			}
		}()
		// A keyframe in one train: the IDR in three FU-A fragments of the
		// same size, the last with the marker bit.
		var kf [][]byte
		for i, fu := range []byte{0x85, 0x05, 0x45} {
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 102, SequenceNumber: uint16(100 + i),
				Timestamp: 9000, SSRC: videoSSRC, Marker: i == 2}, Payload: append([]byte{0x7c, fu}, make([]byte, 300)...)}
			raw, err := pkt.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			ct, err := enc.EncryptRTP(nil, raw, nil)
			if err != nil {
				t.Fatal(err)
			}
			kf = append(kf, ct)
		}
		if err := tx.send(to, kf...); errors.Is(err, errGSO) {
			t.Skip(err)
		} else if err != nil {
			t.Fatal(err)
		}
		select {
		case <-v.FirstFrame():
		case <-time.After(10 * time.Second):
			t.Fatalf("no first frame: %+v", v.Stats())
		}
		st := v.Stats()
		if st.FirstFrame <= 0 || st.DecryptErrors != 0 || st.Packets != 3 || st.Video != 3 || st.Trains != 1 {
			t.Fatalf("after the keyframe train: %+v", st)
		}
		// Then packet by packet (a negative interval): the same counts.
		for _, tr := range trains(103) {
			if err := tx.send(to, tr...); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 10*time.Second, "the trains counted", func() bool { return v.Stats().Packets >= st.Packets+want.Packets })
		if got := sub(v.Stats(), st); got != want {
			t.Errorf("stats %+v, want %+v", got, want)
		}
	})

	t.Run("own drain", func(t *testing.T) {
		v, to := groViewer(t, time.Millisecond)
		tx := newTrainSender(t)
		if ok, err := v.detach(); !ok || err != nil {
			t.Fatalf("detach: %v %v", ok, err)
		}
		defer func() {
			if err := v.Close(); err != nil {
				t.Error(err)
			}
		}()
		b := v.ownBatch(nil)
		for _, tr := range trains(0) {
			if err := tx.send(to, tr...); errors.Is(err, errGSO) {
				t.Skip(err)
			} else if err != nil {
				t.Fatal(err)
			}
			waitReadable(t, v.raw.fd)
			if !v.drainWith(b) {
				t.Fatal("socket closed")
			}
		}
		if got := v.Stats(); got != want {
			t.Errorf("stats %+v, want %+v", got, want)
		}
	})

	t.Run("drainer", func(t *testing.T) {
		v, to := groViewer(t, time.Millisecond)
		d := NewDrainer(time.Millisecond)
		v.drainer = d
		tx := newTrainSender(t)
		v.wg.Add(1)
		go v.read() // no first frame to wait for: hands the socket over at once
		for _, tr := range trains(0) {
			if err := tx.send(to, tr...); errors.Is(err, errGSO) {
				t.Skip(err)
			} else if err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, 10*time.Second, "the trains counted", func() bool { return v.Stats().Packets >= want.Packets })
		if got := v.Stats(); got != want {
			t.Errorf("stats %+v, want %+v", got, want)
		}
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "the drainer's goroutine gone with its last viewer", func() bool {
			d.mu.Lock()
			defer d.mu.Unlock()
			return !d.running && len(d.viewers) == 0
		})
	})
}

// TestAllocsGROTrain: a viewer draining its socket itself reads and counts
// UDP GSO trains (UDP_GRO on) without allocating.
func TestAllocsGROTrain(t *testing.T) {
	skipAllocsUnderRace(t)
	v, to := groViewer(t, time.Millisecond)
	tx := newTrainSender(t)
	if ok, err := v.detach(); !ok || err != nil {
		t.Fatalf("detach: %v %v", ok, err)
	}
	defer func() {
		if err := v.Close(); err != nil {
			t.Error(err)
		}
	}()
	b := v.ownBatch(nil)
	seq := uint16(9)
	tr := [][]byte{rtpPacket(1, 0, 1000), rtpPacket(1, 0, 1000), rtpPacket(1, 0, 1000), rtpPacket(1, 0, 500)}
	next := func() {
		for _, p := range tr {
			binary.BigEndian.PutUint16(p[2:], seq)
			seq++
		}
	}
	next()
	if err := tx.send(to, tr...); errors.Is(err, errGSO) {
		t.Skip(err)
	} else if err != nil {
		t.Fatal(err)
	}
	waitReadable(t, v.raw.fd)
	v.drainWith(b)
	before := v.Stats()
	allocs := testing.AllocsPerRun(100, func() {
		next()
		if err := tx.send(to, tr...); err != nil {
			t.Fatal(err)
		}
		waitReadable(t, v.raw.fd)
		v.drainWith(b)
	})
	if allocs != 0 {
		t.Errorf("%.2f allocations per train", allocs)
	}
	st := v.Stats()
	if got, trains := st.Packets-before.Packets, st.Trains-before.Trains; got != 4*101 || trains != 101 || st.Lost != 0 {
		t.Errorf("AllocsPerRun's 101 trains of 4: %d packets in %d trains, %d lost", got, trains, st.Lost)
	}
}

// BenchmarkDrain is the marginal cost of a packet once batched: recvmmsg
// and counting, 16 packets a drain: sent one by one and read as prefixes
// (no UDP_GRO), or read whole one per call (UDP_GRO, a viewer's own
// drain), or by a Drainer's batch; or sent as trains of 4 (UDP_GRO).
func BenchmarkDrain(b *testing.B) {
	for _, c := range []struct {
		name         string
		gro, drainer bool
		train        int
	}{
		{"prefix", false, false, 1},
		{"gro-own", true, false, 1},
		{"gro-drainer", true, true, 1},
		{"gro-own-trains", true, false, 4},
		{"gro-drainer-trains", true, true, 4},
	} {
		b.Run(c.name, func(b *testing.B) { benchDrain(b, c.gro, c.drainer, c.train) })
	}
}

func benchDrain(b *testing.B, gro, drainer bool, train int) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	if err := conn.SetReadBuffer(socketBuffer); err != nil {
		b.Fatal(err)
	}
	v := testViewer(conn, "p")
	v.interval = defaultReadInterval
	if gro {
		if v.gro = enableGRO(conn); !v.gro {
			b.Skip("the kernel refuses UDP_GRO")
		}
	}
	if ok, err := v.detach(); !ok || err != nil {
		b.Fatalf("detach: %v %v", ok, err)
	}
	defer func() {
		if err := v.Close(); err != nil {
			b.Error(err)
		}
	}()
	batch := v.ownBatch(nil)
	if drainer {
		batch = newBatch(readBatch, maxDatagram, nil)
	}
	tx := newTrainSender(b)
	to := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	pkts := make([][]byte, train)
	for i := range pkts {
		pkts[i] = rtpPacket(videoSSRC, 0, 1100)
	}
	seq := uint16(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += readBatch {
		b.StopTimer()
		for range readBatch / train {
			for _, p := range pkts {
				binary.BigEndian.PutUint16(p[2:], seq)
				seq++
			}
			if err := tx.send(to, pkts...); errors.Is(err, errGSO) {
				b.Skip(err)
			} else if err != nil {
				b.Fatal(err)
			}
		}
		waitReadable(b, v.raw.fd)
		b.StartTimer()
		if !v.drainWith(batch) {
			b.Fatal("socket closed")
		}
	}
	b.StopTimer()
	if st := v.Stats(); st.Packets < uint64(b.N) || st.Bytes != st.Packets*1100 || st.Lost != 0 {
		b.Fatalf("stats %+v after %d packets", st, b.N)
	}
}
