package stream

import (
	"fmt"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/packager"
)

// nopViewer takes packets and does nothing, so the benchmark measures the
// stream's side of the fan-out only.
type nopViewer struct{ _ byte } // not zero-size: each viewer is a distinct pointer

func (*nopViewer) WritePacket(packager.Kind, *Packet) {}
func (*nopViewer) StreamEnded()                       {}

// BenchmarkForward measures Publisher.WriteRTP of H264 video (one GOP of
// 1 s at 30 fps, about 1.5 Mbit/s, looped with advancing sequence numbers
// and timestamps) fanned out to N viewers: rewrite, retransmission ring,
// fan-out and access-unit assembly for the HLS tier (no packager attached).
// One op is one RTP packet.
func BenchmarkForward(b *testing.B) {
	// Packetize one GOP once: an IDR access unit and 29 P frames.
	var seq uint16
	var gop []*rtp.Packet
	for i := range 30 {
		ts := uint32(i * 3000)
		if i == 0 {
			gop = append(gop, h264Packets(&seq, ts, 1200, true, testSPS, testPPS, nalu(hdrIDR, 30000))...)
		} else {
			gop = append(gop, h264Packets(&seq, ts, 1200, true, nalu(hdrNonIDR, 5500))...)
		}
	}
	const gopTicks = 30 * 3000
	for _, n := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("viewers=%d", n), func(b *testing.B) {
			r := NewRegistry(Config{GracePeriod: time.Hour, Logger: discardLogger})
			defer r.Close()
			p, err := r.Publish("bench", PublishRequest{Tracks: packager.Tracks{Video: &packager.VideoInfo{}}})
			if err != nil {
				b.Fatal(err)
			}
			for range n {
				if _, err := p.Stream().Subscribe(&nopViewer{}); err != nil {
					b.Fatal(err)
				}
			}
			now := time.Now()
			p.WriteSenderReport(packager.KindVideo, now, 0)
			pkts := make([]*rtp.Packet, len(gop))
			for i, g := range gop {
				c := *g
				pkts[i] = &c
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				k := i % len(pkts)
				pkt := pkts[k]
				pkt.SequenceNumber = uint16(i)
				pkt.Timestamp = gop[k].Timestamp + uint32(i/len(pkts))*gopTicks
				if err := p.WriteRTP(packager.KindVideo, pkt, now); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*n), "ns/viewer-packet")
		})
	}
}
