package peer

import (
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/frontrow-live/frontrow/internal/race"
)

// sealingConn is a Conn as it is once DTLS is up, with fixed SRTP keys:
// what a send worker seals each viewer's packets with.
func sealingConn(tb testing.TB) *Conn {
	tb.Helper()
	key, salt := make([]byte, 16), make([]byte, 12)
	out, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		tb.Fatal(err)
	}
	c := &Conn{}
	c.out.Store(out)
	return c
}

// BenchmarkSealRTP is the per-viewer, per-packet work of the send path:
// the viewer's header and a shared payload written into the worker's
// buffer and SRTP-sealed there (AES-128-GCM, as Chromium negotiates).
func BenchmarkSealRTP(b *testing.B) {
	c := sealingConn(b)
	payload := make([]byte, 1100)
	buf := make([]byte, 0, maxPacket+srtpOverhead)
	h := rtp.Header{Version: 2, PayloadType: 109, SSRC: 1234, Timestamp: 90000}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.SequenceNumber = uint16(i)
		if _, ok, err := c.SealRTP(buf, &h, payload, i%2); err != nil || !ok {
			b.Fatal(err)
		}
	}
}

// TestAllocsSealRTP: sealing a packet for a viewer allocates nothing (the
// send path's per-viewer, per-packet part; make test runs it without
// -race).
func TestAllocsSealRTP(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts mean nothing under -race: make test runs this without it")
	}
	c := sealingConn(t)
	payload := make([]byte, 1100)
	buf := make([]byte, 0, maxPacket+srtpOverhead)
	h := rtp.Header{Version: 2, PayloadType: 109, SSRC: 1234, Timestamp: 90000}
	seq := uint16(0)
	allocs := testing.AllocsPerRun(1000, func() {
		seq++
		h.SequenceNumber = seq
		if _, ok, err := c.SealRTP(buf, &h, payload, 1); err != nil || !ok {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per sealed packet, want 0", allocs)
	}
}
