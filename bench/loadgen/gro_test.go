package loadgen

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
)

// Test packets: video is SSRC 1 (payload type 102), audio SSRC 2 (111).
const (
	videoSSRC = 1
	audioSSRC = 2
)

// rtpPacket is an SRTP-looking packet of size bytes: a cleartext RTP
// header, then filler where payload and tag would be.
func rtpPacket(ssrc uint32, seq uint16, size int) []byte {
	p := make([]byte, size)
	p[0], p[1] = 0x80, 102
	if ssrc == audioSSRC {
		p[1] = 111
	}
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[8:], ssrc)
	for i := 12; i < size; i++ {
		p[i] = byte(i)
	}
	return p
}

// rtcpPacket is an SRTCP-looking sender report of size bytes.
func rtcpPacket(size int) []byte {
	p := make([]byte, size)
	p[0], p[1] = 0x80, 200
	return p
}

// loopbackUDP is a socket on 127.0.0.1, closed when the test ends.
func loopbackUDP(t testing.TB) *net.UDPConn {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Error(err)
		}
	})
	return conn
}

// testViewer is a viewer with no session behind it, reading conn (not
// started) and knowing videoSSRC and audioSSRC from its answer.
func testViewer(conn *net.UDPConn, pwd string) *Viewer {
	v := &Viewer{
		conn: conn, firstFrameCh: make(chan struct{}), stop: make(chan struct{}),
		checked: make(chan struct{}, 1), responder: newSTUNResponder("mine", pwd),
	}
	v.stunIn.Raw = make([]byte, 0, stunBufSize)
	v.media.Store(&mediaMap{videoSSRC: []uint32{videoSSRC}, audioSSRC: []uint32{audioSSRC}, videoPT: []uint8{102}, audioPT: []uint8{111}})
	return v
}

// TestHandleDatagram: a UDP GRO datagram is cut into its segments, each
// counted and classified as if it had come alone: sizes, kinds, loss
// across and within trains, RTCP, a consent check answered.
func TestHandleDatagram(t *testing.T) {
	const pwd = "my-password-0123456789ab"
	stunCheck := check(t, "mine:theirs", pwd).Raw
	n := len(stunCheck)
	// datagram is one read: the packets, all but the last seg bytes long
	// (seg 0: a datagram that came alone); read, if set, is how much of it
	// the socket read gave (a prefix).
	type datagram struct {
		pkts [][]byte
		seg  int
		read int
	}
	train := func(pkts ...[]byte) datagram { return datagram{pkts: pkts, seg: len(pkts[0])} }
	for _, c := range []struct {
		name     string
		in       []datagram
		want     Stats
		answered uint64
	}{
		{"equal segments", []datagram{train(rtpPacket(1, 10, 1000), rtpPacket(1, 11, 1000), rtpPacket(1, 12, 1000), rtpPacket(1, 13, 1000))},
			Stats{Packets: 4, Bytes: 4000, Video: 4, Trains: 1}, 0},
		{"shorter last", []datagram{train(rtpPacket(1, 10, 1000), rtpPacket(1, 11, 1000), rtpPacket(1, 12, 301))},
			Stats{Packets: 3, Bytes: 2301, Video: 3, Trains: 1}, 0},
		{"video and audio in one train", []datagram{train(rtpPacket(1, 7, 200), rtpPacket(2, 50, 200), rtpPacket(1, 8, 200), rtpPacket(2, 51, 120))},
			Stats{Packets: 4, Bytes: 720, Video: 2, Audio: 2, Trains: 1}, 0},
		{"lost inside a train", []datagram{train(rtpPacket(1, 10, 500), rtpPacket(1, 11, 500), rtpPacket(1, 13, 500), rtpPacket(1, 14, 500))},
			Stats{Packets: 4, Bytes: 2000, Video: 4, Lost: 1, Trains: 1}, 0},
		{"lost between trains", []datagram{
			train(rtpPacket(1, 65534, 500), rtpPacket(1, 65535, 500)),
			{pkts: [][]byte{rtpPacket(2, 3, 90)}},
			train(rtpPacket(1, 1, 500), rtpPacket(1, 2, 500), rtpPacket(1, 3, 40)),
		}, Stats{Packets: 6, Bytes: 2130, Video: 5, Audio: 1, Lost: 1, Trains: 2}, 0},
		{"RTCP in a train", []datagram{train(rtcpPacket(80), rtpPacket(2, 1, 80), rtcpPacket(80))},
			Stats{Packets: 1, Bytes: 80, Audio: 1, RTCP: 2, Trains: 1}, 0},
		{"consent check in a train", []datagram{train(stunCheck, rtpPacket(1, 1, n), rtpPacket(1, 2, 30))},
			Stats{Packets: 2, Bytes: uint64(n + 30), Video: 2, Trains: 1}, 1},
		{"one segment", []datagram{{pkts: [][]byte{rtpPacket(1, 1, 700)}, seg: 700}},
			Stats{Packets: 1, Bytes: 700, Video: 1}, 0},
		{"alone, a prefix read", []datagram{{pkts: [][]byte{rtpPacket(1, 1, 1100)}, read: 256}},
			Stats{Packets: 1, Bytes: 1100, Video: 1}, 0},
		{"train cut short", []datagram{{pkts: [][]byte{rtpPacket(1, 1, 1000), rtpPacket(1, 2, 1000), rtpPacket(1, 3, 1000)}, seg: 1000, read: 1500}},
			Stats{Packets: 2, Bytes: 2000, Video: 2, Trains: 1}, 0}, // the second from its header, the third unseen
	} {
		t.Run(c.name, func(t *testing.T) {
			conn, peer := loopbackUDP(t), loopbackUDP(t)
			from := peer.LocalAddr().(*net.UDPAddr).AddrPort()
			v := testViewer(conn, pwd)
			for _, d := range c.in {
				var buf []byte
				for i, p := range d.pkts {
					if d.seg > 0 && i < len(d.pkts)-1 && len(p) != d.seg {
						t.Fatalf("bad test: packet %d is %d bytes in a train of %d", i, len(p), d.seg)
					}
					buf = append(buf, p...)
				}
				size := len(buf)
				if d.read > 0 {
					buf = buf[:d.read]
				}
				v.handleDatagram(buf, size, d.seg, from)
			}
			if got := v.Stats(); got != c.want {
				t.Errorf("stats %+v, want %+v", got, c.want)
			}
			if got := v.answered.Load(); got != c.answered {
				t.Fatalf("%d checks answered, want %d", got, c.answered)
			}
			if c.answered > 0 {
				resp := make([]byte, 1500)
				if _, _, err := peer.ReadFromUDPAddrPort(resp); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
