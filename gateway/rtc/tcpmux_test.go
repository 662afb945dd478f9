package rtc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/frontrow-live/frontrow/internal/race"
)

func frame(p []byte) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(len(p))), p...)
}

func TestReadFrame(t *testing.T) {
	big := make([]byte, tcpMaxFrame+1)
	for _, tc := range []struct {
		name string
		in   []byte
		want []byte
		err  error
	}{
		{"one frame", frame([]byte("hello")), []byte("hello"), nil},
		{"empty frame", frame(nil), []byte{}, nil},
		{"too large", frame(big), nil, errTCPFrameTooLarge},
		{"truncated body", frame([]byte("hello"))[:5], nil, io.ErrUnexpectedEOF},
		{"truncated length", []byte{0}, nil, io.ErrUnexpectedEOF},
		{"nothing", nil, nil, io.EOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readFrame(bufio.NewReader(bytes.NewReader(tc.in)), make([]byte, tcpMaxFrame))
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err == nil && !bytes.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzReadFrame(f *testing.F) {
	f.Add(frame([]byte("hello")))
	f.Add([]byte{0xff, 0xff, 1, 2})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReader(bytes.NewReader(in))
		buf := make([]byte, tcpMaxFrame)
		for i := 0; i < len(in)+1; i++ { // each frame takes at least 2 bytes
			p, err := readFrame(r, buf)
			if err != nil {
				return
			}
			if len(p) > tcpMaxFrame {
				t.Fatalf("frame of %d bytes", len(p))
			}
		}
		t.Fatal("more frames than bytes")
	})
}

// tcpEcho is a TCPHandler that echoes what it gets on the link.
type tcpEcho struct {
	mu  sync.Mutex
	got [][]byte
}

func (e *tcpEcho) HandleTCP(p []byte, link *TCPLink) {
	e.mu.Lock()
	e.got = append(e.got, append([]byte(nil), p...))
	e.mu.Unlock()
	_ = link.Write(p)
}

func checkFrom(t *testing.T, ufrag string) []byte {
	t.Helper()
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(ufrag+":peer"), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

// TestTCPMux: a connection whose first frame is a check for a session
// here belongs to that session (its frames reach it, its writes come back
// framed); one that starts with anything else, names no session, or sends
// nothing within the first-frame timeout is closed; connections that
// never send do not pile up past tcpMaxPending.
func TestTCPMux(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	echo := &tcpEcho{}
	m := newTCPMux(ln, func(u string) TCPHandler {
		if u == "known" {
			return echo
		}
		return nil
	}, 300*time.Millisecond, slog.New(slog.DiscardHandler))
	defer m.close()
	dial := func(t *testing.T) net.Conn {
		t.Helper()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		return c
	}
	closedByServer := func(c net.Conn) bool {
		_, err := c.Read(make([]byte, 1))
		return errors.Is(err, io.EOF)
	}
	t.Run("session", func(t *testing.T) {
		c := dial(t)
		check := checkFrom(t, "known")
		if _, err := c.Write(append(frame(check), frame([]byte{0x80, 0x60, 1, 2})...)); err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		buf := make([]byte, tcpMaxFrame)
		for i, want := range [][]byte{check, {0x80, 0x60, 1, 2}} {
			got, err := readFrame(r, buf)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("echo %d: %x, %v; want %x", i, got, err, want)
			}
		}
	})
	for _, tc := range []struct {
		name  string
		first []byte
	}{
		{"not STUN", frame([]byte{0x16, 0xfe, 0xfd, 0, 0})},
		{"unknown session", frame(checkFrom(t, "nobody"))},
		{"frame too large", []byte{0xff, 0xff}},
		{"silent", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t)
			if len(tc.first) > 0 {
				if _, err := c.Write(tc.first); err != nil {
					t.Fatal(err)
				}
			}
			if !closedByServer(c) {
				t.Fatal("connection not closed by the gateway")
			}
		})
	}
	// Many half-open connections: each closed at the first-frame timeout,
	// none left waiting.
	var conns []net.Conn
	for range 50 {
		conns = append(conns, dial(t))
	}
	for i, c := range conns {
		if !closedByServer(c) {
			t.Fatalf("half-open connection %d not closed", i)
		}
	}
	// A refused connection gives its slot back before it is closed.
	if n := len(m.pending); n != 0 {
		t.Fatalf("%d connections still counted as waiting", n)
	}
}

// TestAllocsTCPLinkWrite: queuing a packet for an ICE-TCP viewer frames it
// into the link's buffer without allocating (make test runs this without
// -race).
func TestAllocsTCPLinkWrite(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts mean nothing under -race: make test runs this without it")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	l := newTCPLink(a, netip.AddrPort{}, slog.New(slog.DiscardHandler))
	p := make([]byte, 1100)
	_ = l.Write(p) // grow the buffer once
	allocs := testing.AllocsPerRun(200, func() {
		l.mu.Lock()
		l.pending = l.pending[:0] // as the writer leaves it
		l.mu.Unlock()
		if err := l.Write(p); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per packet queued, want 0", allocs)
	}
	if got := len(l.pending); got != 2+len(p) || int(binary.BigEndian.Uint16(l.pending)) != len(p) {
		t.Fatalf("queued %d bytes framed as %d, want %d framed as %d", got, binary.BigEndian.Uint16(l.pending), 2+len(p), len(p))
	}
}
