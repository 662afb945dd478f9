package rtc

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"
)

// testSender is a sender on a loopback socket and two receivers.
func testSender(t *testing.T) (*sender, []*net.UDPConn) {
	t.Helper()
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var rcv []*net.UDPConn
	for range 2 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		rcv = append(rcv, c)
	}
	s := newSender(sock, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { s.close(); sock.Close() })
	return s, rcv
}

// idleSender is a sender on a loopback socket without its goroutine (the
// test flushes), and two receivers.
func idleSender(t *testing.T) (*sender, []*net.UDPConn) {
	t.Helper()
	_, rcv := testSender(t)
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sock.Close() })
	s := &sender{sock: sock, out: newBatchSender(sock, slog.New(slog.DiscardHandler))}
	s.bufs.New = func() any { b := make([]byte, 0, sendBufLen); return &b }
	return s, rcv
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

// readAll reads n datagrams (2 s at most).
func readAll(t *testing.T, c *net.UDPConn, n int) [][]byte {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	buf := make([]byte, 70000)
	for range n {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("read %d of %d: %v", len(out), n, err)
		}
		out = append(out, bytes.Clone(buf[:k]))
	}
	return out
}

func packet(id, size int) []byte {
	b := bytes.Repeat([]byte{byte(id)}, size)
	b[0] = byte(id)
	return b
}

// Datagrams reach each destination whole, in the order written, whatever
// their sizes (GSO trains of equal sizes, shorter last, singles), even when
// a datagram is larger than the pooled buffers.
func TestSenderDeliversInOrder(t *testing.T) {
	s, rcv := testSender(t)
	sizes := []int{1200, 1200, 1200, 700, 1200, 150, 150, 1200, 30, 1200, 1200, 1200, 1200, 1200, 1199, 4000, 1200}
	for i, n := range sizes {
		for r, c := range rcv {
			if _, err := s.write(packet(i*2+r, n), addrOf(c)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for r, c := range rcv {
		got := readAll(t, c, len(sizes))
		for i, n := range sizes {
			if want := packet(i*2+r, n); !bytes.Equal(got[i], want) {
				t.Fatalf("receiver %d datagram %d: %d bytes starting %d, want %d bytes starting %d", r, i, len(got[i]), got[i][0], n, want[0])
			}
		}
	}
}

// A queued burst to one destination goes as GSO trains in few calls.
func TestSenderBatches(t *testing.T) {
	s, rcv := idleSender(t) // the test queues, then flushes once
	for i := range 40 {
		buf := s.bufs.Get().(*[]byte)
		*buf = append((*buf)[:0], packet(i, 1000)...)
		s.pending = append(s.pending, outgoing{to: addrOf(rcv[i%2]), buf: buf, n: 1000})
	}
	s.flush()
	for r, c := range rcv {
		for k, got := range readAll(t, c, 20) {
			if want := packet(2*k+r, 1000); !bytes.Equal(got, want) {
				t.Fatalf("receiver %d datagram %d starts %d, want %d", r, k, got[0], want[0])
			}
		}
	}
	st := s.stats()
	if st.Packets != 40 || st.Dropped != 0 || st.Calls != 1 {
		t.Errorf("stats %+v: want 40 packets in one call, none dropped", st)
	}
	if s.out.gso() && st.Trains != 2 {
		t.Errorf("with GSO, 2 destinations x 20 equal datagrams should be 2 trains: %+v", st)
	}
	// Nothing the sender keeps for the next batch still points at the
	// buffers it sent (they went back to the pool, which the GC may empty).
	if n := heldBuffers(s); n != 0 {
		t.Errorf("%d references to sent buffers kept after the flush", n)
	}
}

// heldBuffers counts the references to datagram buffers that the sender and
// its batch sender keep between batches.
func heldBuffers(s *sender) int {
	n := batchHeld(s.out)
	for _, o := range s.spare[:cap(s.spare)] {
		if o.buf != nil {
			n++
		}
	}
	for _, v := range s.iovs[:cap(s.iovs)] {
		if v != nil {
			n++
		}
	}
	return n
}

// A full queue makes writers wait for the sender goroutine's next batch,
// not copy more; one that stays full drops the datagram after maxQueueWait.
func TestSenderQueueBound(t *testing.T) {
	s, rcv := idleSender(t) // the test flushes
	to := addrOf(rcv[0])
	media := func(i int) []byte { // an RTP version 2 header first (RFC 7983)
		b := packet(i, 100)
		b[0] = 0x80
		return b
	}
	for i := range maxQueued {
		if _, err := s.write(media(i), to); err != nil {
			t.Fatal(err)
		}
	}

	// Full, nobody drains: dropped after the wait, not queued.
	start := time.Now()
	if _, err := s.write(media(1), to); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited < maxQueueWait || s.dropped.Load() != 1 || len(s.pending) != maxQueued {
		t.Fatalf("full queue: returned after %v, %d dropped, %d queued; want >= %v, 1, %d",
			waited, s.dropped.Load(), len(s.pending), maxQueueWait, maxQueued)
	}

	// STUN and DTLS never wait: a session's keep-alive goes out at once.
	for _, ctl := range [][]byte{{0x00, 0x01, 0, 0}, {22, 0xfe, 0xfd}} {
		start := time.Now()
		if _, err := s.write(ctl, to); err != nil {
			t.Fatal(err)
		}
		if s.dropped.Load() != 1 || time.Since(start) >= maxQueueWait {
			t.Fatalf("control datagram %x: %d dropped, took %v; want queued at once", ctl[0], s.dropped.Load(), time.Since(start))
		}
	}
	s.flush()
	for i := range maxQueued {
		if _, err := s.write(media(i), to); err != nil {
			t.Fatal(err)
		}
	}

	// Full, then drained: the waiting writer queues its datagram.
	done := make(chan error, 1)
	go func() {
		_, err := s.write(media(2), to)
		done <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		waiting := s.waiting
		s.mu.Unlock()
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never waited for room")
		}
		time.Sleep(time.Millisecond) // polling a condition, bounded by the deadline
	}
	s.flush()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the waiting writer did not return after the flush")
	}
	if s.dropped.Load() != 1 || len(s.pending) != 1 || s.queued.Load() != 1 {
		t.Errorf("after the flush: %d dropped, %d queued (counter %d); want 1, 1, 1", s.dropped.Load(), len(s.pending), s.queued.Load())
	}

	// A second batch taken before a woken writer has run: nothing to wake.
	s.mu.Lock()
	s.waiting = 1
	s.mu.Unlock()
	s.flush()
}

func TestSenderClosed(t *testing.T) {
	s, rcv := testSender(t)
	s.close()
	s.close() // idempotent
	if _, err := s.write([]byte("x"), addrOf(rcv[0])); err == nil {
		t.Error("write after close succeeded")
	}
}

func BenchmarkSender(b *testing.B) {
	sock, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sock.Close()
	// Destinations that drop what they get: a closed port answers ICMP,
	// so use open sockets that are never read.
	var to []netip.AddrPort
	for range 50 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		to = append(to, addrOf(c))
	}
	s := newSender(sock, slog.New(slog.DiscardHandler))
	defer s.close()
	pkt := make([]byte, 1200)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for i := 0; b.Loop(); i++ {
		// A frame of 5 packets per destination, destination by destination
		// as the fan-out writes them.
		if _, err := s.write(pkt, to[(i/5)%len(to)]); err != nil {
			b.Fatal(err)
		}
	}
}
