package rtc

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/internal/race"
)

// batchEngine is an engine on loopback and a socket that receives what
// its batches send.
func batchEngine(t testing.TB) (*Engine, *net.UDPConn) {
	t.Helper()
	e, err := New(Config{UDPAddr: "127.0.0.1:0", Hosts: []string{"127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rx.Close() })
	return e, rx
}

// TestBatchTrains: a viewer's frame (equal packets, a shorter last) goes
// as one train, another viewer's after it as another, and every datagram
// arrives as it was written.
func TestBatchTrains(t *testing.T) {
	e, rx := batchEngine(t)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	other := netip.MustParseAddrPort("127.0.0.1:9") // discard
	b := e.NewBatch()
	sizes := []int{1100, 1100, 1100, 400}
	for i, n := range sizes {
		p := append(b.Buffer(), make([]byte, n)...)
		p[0] = byte(i)
		b.Add(to, p)
	}
	b.Add(other, append(b.Buffer(), 1, 2, 3))
	if got := len(b.runs); got != 2 {
		t.Fatalf("%d trains for one frame to one viewer and a packet to another, want 2", got)
	}
	before := e.SendStats()
	b.Flush()
	if s := e.SendStats(); s.Packets-before.Packets != 5 || s.Trains-before.Trains != 2 || s.Calls-before.Calls != 1 {
		t.Errorf("sent %+v after %+v: want 5 packets in 2 trains, one call", s, before)
	}
	_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	for i, n := range sizes {
		got, err := rx.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if got != n || buf[0] != byte(i) {
			t.Fatalf("datagram %d: %d bytes starting %d, want %d starting %d", i, got, buf[0], n, i)
		}
	}
}

// TestAllocsBatch: once its buffers have grown, adding a viewer's packets
// to a batch and sending it allocates nothing (make test runs this
// without -race).
func TestAllocsBatch(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts mean nothing under -race: make test runs this without it")
	}
	e, rx := batchEngine(t)
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()
	b := e.NewBatch()
	frame := func() {
		for _, n := range []int{1100, 1100, 500} {
			b.Add(to, b.Buffer()[:n])
		}
		b.Flush()
	}
	frame() // grow the slab
	if allocs := testing.AllocsPerRun(200, frame); allocs != 0 {
		t.Fatalf("%.1f allocations per frame sent, want 0", allocs)
	}
}
