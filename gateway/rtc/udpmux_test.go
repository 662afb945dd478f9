package rtc

import (
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"
)

// stunRequest is a STUN Binding request as an ICE agent sends it: PRIORITY,
// then USERNAME (padded to 4 bytes), then ICE-CONTROLLING.
func stunRequest(username string) []byte {
	attr := func(typ uint16, v []byte) []byte {
		b := binary.BigEndian.AppendUint16(nil, typ)
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	var body []byte
	body = append(body, attr(0x0024, []byte{0, 0, 0, 1})...)
	body = append(body, attr(0x0006, []byte(username))...)
	body = append(body, attr(0x802A, make([]byte, 8))...)
	msg := binary.BigEndian.AppendUint16(nil, 0x0001) // Binding request
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(body)))
	msg = binary.BigEndian.AppendUint32(msg, 0x2112A442)
	msg = append(msg, "transaction1"...)
	return append(msg, body...)
}

func TestSTUNUfrag(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    []byte
		want string
	}{
		{"request", stunRequest("gwUfrag:clientUfrag"), "gwUfrag"},
		{"odd length, no colon", stunRequest("abcde"), "abcde"},
		{"not STUN (DTLS)", append([]byte{22, 0xfe, 0xfd}, make([]byte, 30)...), ""},
		{"short", stunRequest("a:b")[:19], ""},
		{"length past the end", stunRequest("a:b")[:30], ""},
		{"bad cookie", func() []byte { p := stunRequest("a:b"); p[4] = 0; return p }(), ""},
	} {
		if got := string(stunUfrag(tc.p)); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	// No attribute walk may run past the message.
	p := stunRequest("gw:client")
	for i := 20; i < len(p); i++ {
		q := append([]byte(nil), p...)
		q[i] = 0xff
		_ = stunUfrag(q)
	}
}

// TestUDPMuxAddressReuse is a client port reused while the session of the
// port's previous owner lives on: the new session must get the packets
// from it, though the old one goes on writing there (pion's
// ice.UDPMuxDefault hands them to the old one).
func TestUDPMuxAddressReuse(t *testing.T) {
	sock, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newUDPMux(sock, true, slog.New(slog.NewTextHandler(io.Discard, nil)))
	defer m.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	local, peerAddr := sock.LocalAddr(), peer.LocalAddr()

	send := func(p string) {
		t.Helper()
		if _, err := peer.WriteTo([]byte(p), local); err != nil {
			t.Fatal(err)
		}
	}
	write := func(c net.PacketConn) {
		t.Helper()
		if _, err := c.WriteTo([]byte("media"), peerAddr); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		_ = peer.SetReadDeadline(time.Now().Add(time.Second))
		if _, _, err := peer.ReadFrom(buf); err != nil {
			t.Fatalf("peer did not get the write: %v", err)
		}
	}
	expect := func(c net.PacketConn, want string) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 1500)
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("want %q: %v", want, err)
		}
		if string(buf[:n]) != want || from.String() != peerAddr.String() {
			t.Fatalf("got %q from %v, want %q from %v", buf[:n], from, want, peerAddr)
		}
	}
	expectNone := func(c net.PacketConn) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		buf := make([]byte, 1500)
		if n, _, err := c.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("got %q (err %v), want nothing", buf[:n], err)
		}
	}

	// Session A talks to the peer: the address is A's.
	a, err := m.GetConn("ufragA", local)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	write(a)
	send("dtls for A")
	expect(a, "dtls for A")

	// The peer's socket now belongs to a new client, of session B. B's
	// checks to it do not take the address from A...
	b, err := m.GetConn("ufragB", local)
	if err != nil {
		t.Fatal(err)
	}
	write(b)
	send("still A's")
	expect(a, "still A's")
	expectNone(b)
	// ...the client's check naming B does, though A goes on writing there.
	check := string(stunRequest("ufragB:client"))
	send(check)
	expect(b, check)
	write(a)
	send("dtls for B")
	expect(b, "dtls for B")
	expectNone(a)

	// Once B is gone the address is free again; a write takes it.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	send("nobody's")
	expectNone(a)
	write(a)
	send("A's again")
	expect(a, "A's again")

	// A removed: nothing reaches it, not even a check naming it.
	m.RemoveConnByUfrag("ufragA")
	send(string(stunRequest("ufragA:client")))
	send("after removal")
	expectNone(a)
	if _, err := m.GetConn("ufragC", &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1}); err == nil {
		t.Error("GetConn for another address than the socket's: no error")
	}
}

// TestUDPMuxClose: closing a handle ends its reads, closing the mux ends
// every connection and the socket.
func TestUDPMuxClose(t *testing.T) {
	sock, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newUDPMux(sock, true, slog.New(slog.NewTextHandler(io.Discard, nil)))
	c1, err := m.GetConn("u", sock.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	c2, err := m.GetConn("u", sock.LocalAddr()) // a second candidate on the same connection
	if err != nil {
		t.Fatal(err)
	}
	read := func(c net.PacketConn) chan error {
		done := make(chan error, 1)
		go func() { _, _, err := c.ReadFrom(make([]byte, 1500)); done <- err }()
		return done
	}
	r1, r2 := read(c1), read(c2)
	_ = c1.Close()
	if err := <-r1; !errors.Is(err, net.ErrClosed) {
		t.Errorf("read on a closed handle: %v", err)
	}
	if len(m.conns[0]) != 1 {
		t.Error("connection gone while a handle is open")
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-r2; !errors.Is(err, io.EOF) {
		t.Errorf("read after the mux closed: %v", err)
	}
	if _, err := m.GetConn("v", sock.LocalAddr()); err == nil {
		t.Error("GetConn after Close: no error")
	}
}

// TestUDPMuxListenAddresses: an unspecified socket offers the interfaces'
// addresses, loopback only when asked.
func TestUDPMuxListenAddresses(t *testing.T) {
	sock, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	port := sock.LocalAddr().(*net.UDPAddr).Port
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := newUDPMux(sock, false, quiet)
	defer m.Close()
	for _, a := range m.GetListenAddresses() {
		ua := a.(*net.UDPAddr)
		if ua.IP.IsLoopback() || ua.IP.To4() == nil || ua.Port != port {
			t.Errorf("listen address %v: want IPv4, not loopback, port %d", ua, port)
		}
	}
	m.includeLoopback = true
	found := false
	for _, a := range m.GetListenAddresses() {
		found = found || a.(*net.UDPAddr).IP.Equal(net.IPv4(127, 0, 0, 1))
	}
	if !found {
		t.Errorf("no 127.0.0.1 with loopback included: %v", m.GetListenAddresses())
	}
}
