package stream

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/frontrow-live/frontrow/internal/race"
)

// A real baseline SPS (1920x1080, pic_order_cnt_type 2) and PPS, so
// mediacommon's DTS extractor accepts units built from them.
var (
	testSPS = []byte{0x67, 0x42, 0xc0, 0x28, 0xd9, 0x00, 0x78, 0x02, 0x27, 0xe5, 0x84, 0x00, 0x00, 0x03,
		0x00, 0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x60, 0xc9, 0x20}
	testPPS = []byte{0x68, 0xce, 0x3c, 0x80}
)

// nalu makes a NAL unit with the given header byte and size. The body never
// holds a zero byte, so pion's payloader sees no start code inside it.
func nalu(header byte, size int) []byte {
	b := make([]byte, size)
	b[0] = header
	for i := 1; i < size; i++ {
		b[i] = byte(i%251) + 1
	}
	return b
}

// NAL unit header bytes (nal_ref_idc 3 for reference pictures).
const (
	hdrIDR    = 0x65
	hdrNonIDR = 0x41
	hdrSEI    = 0x06
)

// h264Packets packetizes one access unit as a WebRTC sender does (RFC 6184
// packetization-mode 1: parameter sets in a STAP-A, large NAL units in
// FU-A), with the marker on the last packet when marker is set.
func h264Packets(seq *uint16, ts uint32, mtu uint16, marker bool, nalus ...[]byte) []*rtp.Packet {
	var pay codecs.H264Payloader
	var payloads [][]byte
	for _, n := range nalus {
		payloads = append(payloads, pay.Payload(mtu, n)...)
	}
	return rtpPackets(seq, ts, marker, payloads...)
}

func rtpPackets(seq *uint16, ts uint32, marker bool, payloads ...[]byte) []*rtp.Packet {
	out := make([]*rtp.Packet, len(payloads))
	for i, p := range payloads {
		out[i] = &rtp.Packet{
			Header: rtp.Header{
				Version: 2, PayloadType: 102, SSRC: 0x1234,
				SequenceNumber: *seq, Timestamp: ts, Marker: marker && i == len(payloads)-1,
			},
			Payload: p,
		}
		*seq++
	}
	return out
}

// fuA splits a NAL unit into exactly n FU-A payloads (RFC 6184 section 5.8).
func fuA(nal []byte, n int) [][]byte {
	body := nal[1:]
	out := make([][]byte, n)
	for i := range n {
		lo, hi := i*len(body)/n, (i+1)*len(body)/n
		fh := nal[0] & 0x1F
		if i == 0 {
			fh |= 0x80
		}
		if i == n-1 {
			fh |= 0x40
		}
		out[i] = append([]byte{nal[0]&0xE0 | 28, fh}, body[lo:hi]...)
	}
	return out
}

// auScript builds a packet sequence for the assembler and what it must
// produce; "at" indexes are positions in pkts.
type auScript struct {
	seq  uint16
	pkts []*rtp.Packet
	feed []int // push order; nil pushes every packet once, in order
	want []auResult
	lost []int
}

type auResult struct {
	at    int
	ts    uint32
	nalus [][]byte
	key   bool
}

// send appends one access unit and returns the index of its last packet.
func (s *auScript) send(ts uint32, marker bool, nalus ...[]byte) int {
	s.pkts = append(s.pkts, h264Packets(&s.seq, ts, 1200, marker, nalus...)...)
	return len(s.pkts) - 1
}

// sendPayloads appends ready-made RTP payloads of one timestamp.
func (s *auScript) sendPayloads(ts uint32, marker bool, payloads ...[]byte) int {
	s.pkts = append(s.pkts, rtpPackets(&s.seq, ts, marker, payloads...)...)
	return len(s.pkts) - 1
}

// unit expects an access unit to come out when packet at is pushed.
func (s *auScript) unit(at int, ts uint32, nalus ...[]byte) {
	key := false
	for _, n := range nalus {
		key = key || n[0]&0x1F == 5
	}
	s.want = append(s.want, auResult{at: at, ts: ts, nalus: nalus, key: key})
}

// without feeds every packet in order except the dropped ones.
func (s *auScript) without(drop ...int) {
	s.feed = nil
	for i := range s.pkts {
		skip := false
		for _, d := range drop {
			skip = skip || d == i
		}
		if !skip {
			s.feed = append(s.feed, i)
		}
	}
}

func TestAUAssembler(t *testing.T) {
	idr := nalu(hdrIDR, 600)
	idrBig := nalu(hdrIDR, 3000) // three FU-A packets at MTU 1200
	idr2 := nalu(hdrIDR, 300)
	p := nalu(hdrNonIDR, 400)
	pBig := nalu(hdrNonIDR, 2500)
	p2 := nalu(hdrNonIDR, 200)
	sei := nalu(hdrSEI, 30)
	tests := []struct {
		name   string
		script func(s *auScript)
		// bug, when set, names a known defect (see the test report): the
		// case states the correct behaviour and is skipped until it is fixed.
		bug string
	}{
		{
			name: "single NAL unit",
			script: func(s *auScript) {
				s.unit(s.send(1000, true, idr), 1000, idr)
			},
		},
		{
			name: "STAP-A with parameter sets, then IDR",
			script: func(s *auScript) {
				at := s.send(1000, true, testSPS, testPPS, idr)
				if at != 1 {
					panic("want a STAP-A and one single NAL packet")
				}
				s.unit(at, 1000, testSPS, testPPS, idr)
			},
		},
		{
			name: "FU-A reassembly",
			script: func(s *auScript) {
				at := s.send(1000, true, testSPS, testPPS, idrBig)
				if at != 3 {
					panic("want a STAP-A and three FU-A packets")
				}
				s.unit(at, 1000, testSPS, testPPS, idrBig)
			},
		},
		{
			name: "several slices and SEI in one unit",
			script: func(s *auScript) {
				s.unit(s.send(1000, true, sei, idr, idr2), 1000, sei, idr, idr2)
				s.unit(s.send(4000, true, pBig, p2), 4000, pBig, p2)
			},
		},
		{
			name: "the marker closes each unit",
			script: func(s *auScript) {
				s.unit(s.send(1000, true, idr), 1000, idr)
				s.unit(s.send(4000, true, p), 4000, p)
				s.unit(s.send(7000, true, pBig), 7000, pBig)
			},
		},
		{
			name: "a new timestamp closes a unit without marker",
			script: func(s *auScript) {
				s.send(1000, false, idrBig)
				next := s.send(4000, false, p)
				s.unit(next, 1000, idrBig)
				last := s.send(7000, true, pBig)
				s.unit(last-2, 4000, p) // the first FU-A packet of 7000 closes 4000
				s.unit(last, 7000, pBig)
			},
		},
		{
			name: "units before the first keyframe are dropped",
			script: func(s *auScript) {
				s.send(1000, true, p)
				s.send(4000, true, pBig)
				s.unit(s.send(7000, true, testSPS, testPPS, idr), 7000, testSPS, testPPS, idr)
				s.unit(s.send(10000, true, p2), 10000, p2)
			},
		},
		{
			name: "a gap inside a unit drops it and everything to the next IDR",
			script: func(s *auScript) {
				s.unit(s.send(0, true, idr), 0, idr)
				last := s.send(3000, true, pBig) // FU-A packets 1, 2, 3
				s.lost = []int{last}
				s.send(6000, true, p)
				s.send(9000, true, p2)
				s.unit(s.send(12000, true, idr2), 12000, idr2)
				s.unit(s.send(15000, true, p), 15000, p)
				s.without(last - 1)
			},
		},
		{
			name: "a whole lost unit breaks the next one",
			script: func(s *auScript) {
				s.unit(s.send(0, true, idr), 0, idr)
				gone := s.send(3000, true, p)
				s.lost = []int{s.send(6000, true, pBig)}
				s.send(9000, true, p2)
				s.unit(s.send(12000, true, idr2), 12000, idr2)
				s.without(gone)
			},
		},
		{
			name: "a lost marker packet breaks the unit it ends",
			script: func(s *auScript) {
				s.unit(s.send(0, true, idr), 0, idr)
				last := s.send(3000, true, pBig)
				next := s.send(6000, true, pBig) // its first packet reports the loss
				s.lost = []int{next - 2}
				s.unit(s.send(9000, true, idr2), 9000, idr2)
				s.without(last)
			},
		},
		{
			name: "a late packet is ignored; its unit is already gone",
			script: func(s *auScript) {
				last := s.send(0, true, idrBig) // packets 0, 1, 2
				s.lost = []int{last}
				s.unit(s.send(3000, true, idr2), 3000, idr2)
				s.feed = []int{0, 2, 1, 3}
			},
		},
		{
			name: "duplicates are ignored",
			script: func(s *auScript) {
				last := s.send(0, true, idrBig) // packets 0, 1, 2
				s.unit(last, 0, idrBig)
				next := s.send(3000, true, p)
				s.unit(next, 3000, p)
				s.feed = []int{0, 1, 1, 0, 2, 2, 3, 2, 3}
			},
		},
		{
			name: "sequence numbers wrap inside a unit",
			script: func(s *auScript) {
				s.seq = 65534
				s.unit(s.sendPayloads(9000, true, fuA(idrBig, 4)...), 9000, idrBig)
				s.unit(s.send(12000, true, p), 12000, p)
			},
		},
		{
			name: "a malformed payload breaks its unit",
			script: func(s *auScript) {
				s.unit(s.send(0, true, idr), 0, idr)
				// STAP-A announcing 255 bytes with one present.
				s.lost = []int{s.sendPayloads(3000, true, []byte{0x78, 0x00, 0xFF, 0x41})}
				s.send(6000, true, p)
				s.unit(s.send(9000, true, idr2), 9000, idr2)
			},
		},
		{
			name: "maxAUPackets packets make a unit",
			script: func(s *auScript) {
				big := nalu(hdrIDR, maxAUPackets*2+1)
				s.unit(s.sendPayloads(0, true, fuA(big, maxAUPackets)...), 0, big)
			},
		},
		{
			name: "one packet over maxAUPackets drops the unit",
			script: func(s *auScript) {
				s.unit(s.send(0, true, idr), 0, idr)
				big := nalu(hdrNonIDR, maxAUPackets*2+3)
				s.lost = []int{s.sendPayloads(3000, true, fuA(big, maxAUPackets+1)...)}
				s.send(6000, true, p)
				s.unit(s.send(9000, true, idr2), 9000, idr2)
			},
		},
		{
			name: "a unit closed by a new timestamp and a one-packet unit in the same push both come out",
			bug:  "push returns one unit; the one closed by the timestamp change is overwritten by the marked one",
			script: func(s *auScript) {
				s.send(0, false, idr)
				at := s.send(3000, true, p)
				s.unit(at, 0, idr)
				s.unit(at, 3000, p)
			},
		},
		{
			name: "a gap at a timestamp change also breaks the new unit",
			bug:  "a gap is charged to the unit under assembly only; the lost packet may have started the new one",
			script: func(s *auScript) {
				s.unit(s.send(0, true, idr), 0, idr)
				s.send(3000, false, p) // no marker: the receiver cannot tell whose packet is lost
				lostSlice := s.send(6000, false, idr)
				at := s.send(6000, true, idr2) // second slice of the IDR
				s.lost = []int{at}
				s.without(lostSlice)
				// The IDR with its first slice missing must not come out.
			},
		},
		{
			name: "padding-only packets carry no media and break nothing",
			bug:  "an empty payload fails depacketization and marks the unit broken",
			script: func(s *auScript) {
				s.unit(s.send(0, true, idr), 0, idr)
				s.sendPayloads(0, false, []byte{}) // RFC 3550 section 5.1 padding, payload stripped
				s.unit(s.send(3000, true, p), 3000, p)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &auScript{seq: 1000}
			tc.script(s)
			feed := s.feed
			if feed == nil {
				for i := range s.pkts {
					feed = append(feed, i)
				}
			}
			a := newAUAssembler()
			var got []auResult
			var lost []int
			for _, i := range feed {
				done, l := a.push(s.pkts[i])
				for _, au := range done {
					// NALUs are valid until the next push: keep copies.
					got = append(got, auResult{at: i, ts: au.ts, nalus: cloneNALUs(au.nalus), key: au.keyframe})
				}
				if l {
					lost = append(lost, i)
				}
			}
			if g, w := fmt.Sprint(lost), fmt.Sprint(s.lost); g != w {
				t.Errorf("lost reported at packets %s, want %s", g, w)
			}
			if len(got) != len(s.want) {
				t.Fatalf("got %d units %s, want %d %s", len(got), describe(got), len(s.want), describe(s.want))
			}
			for i := range got {
				g, w := got[i], s.want[i]
				if g.at != w.at || g.ts != w.ts || g.key != w.key || !equalNALUs(g.nalus, w.nalus) {
					t.Errorf("unit %d = %s, want %s", i, describe(got[i:i+1]), describe(s.want[i:i+1]))
				}
			}
		})
	}
}

func equalNALUs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func describe(us []auResult) string {
	var b bytes.Buffer
	for _, u := range us {
		fmt.Fprintf(&b, "[at %d ts %d key %v nalus", u.at, u.ts, u.key)
		for _, n := range u.nalus {
			fmt.Fprintf(&b, " %d:%dB", n[0]&0x1F, len(n))
		}
		b.WriteString("]")
	}
	return b.String()
}

func TestStartsKeyframe(t *testing.T) {
	stapA := func(nalus ...[]byte) []byte {
		b := []byte{0x78}
		for _, n := range nalus {
			b = append(b, byte(len(n)>>8), byte(len(n)))
			b = append(b, n...)
		}
		return b
	}
	tests := []struct {
		name    string
		payload []byte
		want    bool
	}{
		{"empty", nil, false},
		{"single IDR", nalu(hdrIDR, 50), true},
		{"single SPS", testSPS, true},
		{"single PPS", testPPS, true},
		{"single non-IDR", nalu(hdrNonIDR, 50), false},
		{"single SEI", nalu(hdrSEI, 10), false},
		{"one-byte IDR header", []byte{hdrIDR}, true},
		{"STAP-A with SPS and PPS", stapA(testSPS, testPPS), true},
		{"STAP-A with SEI then SPS", stapA(nalu(hdrSEI, 8), testSPS), true},
		{"STAP-A with SEI and non-IDR", stapA(nalu(hdrSEI, 8), nalu(hdrNonIDR, 9)), false},
		{"STAP-A header only", []byte{0x78}, false},
		{"STAP-A with a length and no unit", []byte{0x78, 0x00, 0x01}, false},
		{"STAP-A with one byte unit", []byte{0x78, 0x00, 0x01, 0x67}, true},
		{"STAP-A length past the end", []byte{0x78, 0x00, 0x09, 0x67, 0x42}, false},
		{"STAP-A huge length", []byte{0x78, 0xFF, 0xFF, 0x67}, false},
		{"STAP-A zero length", []byte{0x78, 0x00, 0x00, 0x67, 0x42}, false},
		{"STAP-A second length past the end", append(stapA(nalu(hdrSEI, 4)), 0x00, 0x30, 0x67), false},
		{"STAP-A odd trailing byte", append(stapA(nalu(hdrNonIDR, 4)), 0x00), false},
		{"FU-A start of IDR", fuA(nalu(hdrIDR, 100), 3)[0], true},
		{"FU-A middle of IDR", fuA(nalu(hdrIDR, 100), 3)[1], false},
		{"FU-A end of IDR", fuA(nalu(hdrIDR, 100), 3)[2], false},
		{"FU-A start of non-IDR", fuA(nalu(hdrNonIDR, 100), 3)[0], false},
		{"FU-A indicator only", []byte{0x7C}, false},
		{"pion payloader's first packet of a keyframe", h264Packets(new(uint16), 0, 1200, true, testSPS, testPPS, nalu(hdrIDR, 3000))[0].Payload, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := startsKeyframe(tc.payload); got != tc.want {
				t.Errorf("startsKeyframe(% x) = %v, want %v", tc.payload, got, tc.want)
			}
		})
	}
}

// FuzzStartsKeyframe: RTP payloads come from the network; no input panics,
// and only the NAL unit types that can begin a keyframe answer true.
func FuzzStartsKeyframe(f *testing.F) {
	f.Add([]byte{0x78, 0x00, 0x02, 0x67, 0x42})
	f.Add([]byte{0x7C, 0x85, 0x01})
	f.Add([]byte{0x65})
	f.Fuzz(func(t *testing.T, payload []byte) {
		if !startsKeyframe(payload) {
			return
		}
		switch payload[0] & 0x1F {
		case 5, 7, 8, 24, 28:
		default:
			t.Fatalf("startsKeyframe(% x) = true for NAL type %d", payload, payload[0]&0x1F)
		}
	})
}

// FuzzAUAssembler: packets from the network, in any order and shape. No
// input panics, and whatever comes out is a well-formed unit: NAL units that
// are not empty, and a first unit that is a keyframe.
func FuzzAUAssembler(f *testing.F) {
	var seed []byte
	var seq uint16
	for _, pkt := range h264Packets(&seq, 0, 100, true, testSPS, testPPS, nalu(hdrIDR, 250)) {
		ctl := byte(1)
		if pkt.Marker {
			ctl |= 0x80
		}
		seed = append(seed, ctl, byte(len(pkt.Payload)))
		seed = append(seed, pkt.Payload...)
	}
	f.Add(seed)
	f.Add([]byte{0x81, 3, 0x78, 0x00, 0x09, 0x01, 2, 0x7C, 0x85})
	f.Fuzz(func(t *testing.T, data []byte) {
		a := newAUAssembler()
		var seq uint16
		var ts uint32
		first := true
		// Each packet: a control byte (bit 7 marker, bit 6 new timestamp,
		// bits 0-2 the sequence step: 1 in order, 0 a duplicate, more a
		// gap), a length byte and the payload.
		for len(data) >= 2 {
			ctl, n := data[0], int(data[1])
			data = data[2:]
			n = min(n, len(data))
			payload := data[:n]
			data = data[n:]
			seq += uint16(ctl & 0x07)
			newTS, marker := ctl&0x40 != 0, ctl&0x80 != 0
			if newTS {
				ts += 3000
			}
			done, _ := a.push(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: marker}, Payload: payload})
			for _, au := range done {
				if first && !au.keyframe {
					t.Fatal("the first unit out is not a keyframe")
				}
				first = false
				for _, n := range au.nalus {
					if len(n) == 0 {
						t.Fatal("empty NAL unit in a unit")
					}
				}
			}
		}
	})
}

func cloneNALUs(nalus [][]byte) [][]byte {
	out := make([][]byte, len(nalus))
	for i, n := range nalus {
		out[i] = bytes.Clone(n)
	}
	return out
}

// A unit's NAL units stay valid through the next push, even when that push
// completes two more units (the assembler's buffers go by turns).
func TestAUAssemblerBuffersByTurns(t *testing.T) {
	a := newAUAssembler()
	var seq uint16
	unit := func(ts uint32, fill byte, marker bool) []*accessUnit {
		t.Helper()
		p := &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, Marker: marker},
			Payload: append([]byte{0x65}, bytes.Repeat([]byte{fill}, 50)...)} // IDR slice
		seq++
		done, _ := a.push(p)
		return done
	}
	first := unit(0, 1, true)
	if len(first) != 1 {
		t.Fatalf("first push: %d units", len(first))
	}
	kept := first[0].nalus[0]
	for i := range 20 {
		done := unit(uint32(3000*(i+1)), byte(i+2), true)
		if len(done) != 1 || done[0].nalus[0][1] != byte(i+2) {
			t.Fatalf("unit %d: %v", i, done)
		}
		if i == 0 && kept[1] != 1 {
			t.Fatalf("the previous unit's bytes changed during the next push")
		}
	}
}

// TestAllocsAUAssembler: in the steady state (its buffers grown by the
// first units) the assembler completes a unit without allocating.
func TestAllocsAUAssembler(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are not the program's under -race; make test runs this without it")
	}
	a := newAUAssembler()
	p := &rtp.Packet{Header: rtp.Header{Marker: true}, Payload: append([]byte{0x65}, bytes.Repeat([]byte{7}, 50)...)}
	var seq uint16
	push := func() {
		p.SequenceNumber, p.Timestamp = seq, 3000*uint32(seq)
		seq++
		if done, _ := a.push(p); len(done) != 1 {
			t.Fatalf("unit %d: %d units out, want 1", seq-1, len(done))
		}
	}
	for range 20 {
		push()
	}
	if allocs := testing.AllocsPerRun(100, push); allocs != 0 {
		t.Errorf("%v allocations per unit in the steady state, want 0", allocs)
	}
	if seq != 20+101 { // AllocsPerRun's warm-up run, then 100
		t.Errorf("%d units pushed, want %d", seq, 20+101)
	}
}
