package loadgen

import (
	"encoding/binary"
	"net"
	"testing"
)

// BenchmarkDrain is the marginal cost of a packet once batched: recvmmsg
// (a prefix of each datagram) and counting, 16 datagrams a drain.
func BenchmarkDrain(b *testing.B) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	if err := conn.SetReadBuffer(socketBuffer); err != nil {
		b.Fatal(err)
	}
	v := &Viewer{conn: conn, interval: defaultReadInterval, stop: make(chan struct{}), responder: newSTUNResponder("u", "p")}
	v.media.Store(&mediaMap{videoSSRC: []uint32{1}})
	if ok, err := v.detach(); !ok || err != nil {
		b.Fatalf("detach: %v %v", ok, err)
	}
	defer func() {
		if err := v.raw.close(); err != nil {
			b.Error(err)
		}
	}()
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Close()
	to := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := make([]byte, 1100)
	pkt[0], pkt[1] = 0x80, 102
	binary.BigEndian.PutUint32(pkt[8:], 1)
	seq := uint16(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += readBatch {
		b.StopTimer()
		for range readBatch {
			binary.BigEndian.PutUint16(pkt[2:], seq)
			seq++
			if _, err := tx.WriteToUDPAddrPort(pkt, to); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		if err := v.raw.drain(v); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if st := v.Stats(); st.Packets < uint64(b.N) || st.Bytes != st.Packets*uint64(len(pkt)) || st.Lost != 0 {
		b.Fatalf("stats %+v after %d packets", st, b.N)
	}
}
