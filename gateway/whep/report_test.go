package whep

import (
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/gateway/stream"
)

// t0 is the test's gateway wall clock origin.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// noCapture marks a packet whose capture time is unknown.
const noCapture = time.Duration(math.MinInt64)

// captured is a packet with output timestamp ts, captured at t0+at, with n
// payload octets.
func captured(ts uint32, at time.Duration, n int) *stream.Packet {
	p := &stream.Packet{Header: rtp.Header{Timestamp: ts}, Payload: make([]byte, n)}
	if at != noCapture {
		p.Capture = t0.Add(at)
	}
	return p
}

// repStep sends a packet, or (pkt nil) asks for the report due at t0+at.
type repStep struct {
	pkt    *stream.Packet
	resend bool
	at     time.Duration
	want   *rtcp.SenderReport // nil: none due
}

func sr(at time.Duration, rtpTS, packets, octets uint32) *rtcp.SenderReport {
	return &rtcp.SenderReport{SSRC: 0xcafe, NTPTime: ntpTime(t0.Add(at)), RTPTime: rtpTS, PacketCount: packets, OctetCount: octets}
}

// A viewer's track reports, from its first packet with a known capture time
// and then once a second, the RTP timestamp captured at the report's NTP
// time: the newest timestamp sent plus the time since its capture, through
// RTP timestamp wraps; with the packets and payload octets it sent.
func TestReporter(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		rate  uint32
		steps []repStep
	}{
		{
			name: "no report until a packet with a capture time is sent",
			rate: 48000,
			steps: []repStep{
				{at: 0},
				{pkt: captured(1000, noCapture, 10)},
				{at: 5 * ms},
				{pkt: captured(1960, 20*ms, 10)},
				{at: 30 * ms, want: sr(30*ms, 1960+480, 2, 20)},
			},
		},
		{
			name: "then once a second while packets are sent",
			rate: 90000,
			steps: []repStep{
				{pkt: captured(0, 0, 100)},
				{at: 2 * ms, want: sr(2*ms, 180, 1, 100)},
				{pkt: captured(3000, 33*ms, 100)},
				{at: 500 * ms},
				{at: 1001 * ms},
				{at: 1002 * ms, want: sr(1002*ms, 3000+87210, 2, 200)},
				{at: 1500 * ms},
				{at: 2002 * ms, want: sr(2002*ms, 3000+177210, 2, 200)},
			},
		},
		{
			name: "the RTP timestamp wraps",
			rate: 90000,
			steps: []repStep{
				{pkt: captured(math.MaxUint32-99, 0, 1)},
				{at: 10 * ms, want: sr(10*ms, 800, 1, 1)},
			},
		},
		{
			name: "media stamped ahead of the clock extrapolates back",
			rate: 48000,
			steps: []repStep{
				{pkt: captured(48000, 5*ms, 1)},
				{at: 0, want: sr(0, 48000-240, 1, 1)},
			},
		},
		{
			name: "a retransmission counts but keeps the newest mapping",
			rate: 90000,
			steps: []repStep{
				{pkt: captured(90000, time.Second, 50)},
				{pkt: captured(0, 0, 30), resend: true},
				{at: time.Second, want: sr(time.Second, 90000, 2, 80)},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var r reporter
			for i, s := range tc.steps {
				if s.pkt != nil {
					r.sent(0xcafe, s.pkt, s.resend)
					continue
				}
				got, ok := r.report(tc.rate, t0.Add(s.at))
				switch {
				case ok != (s.want != nil):
					t.Fatalf("step %d at %v: report due %v (%+v), want %v", i, s.at, ok, got, s.want != nil)
				case ok && !reflect.DeepEqual(got, *s.want):
					t.Fatalf("step %d at %v: report\n%+v, want\n%+v", i, s.at, got, *s.want)
				}
			}
		})
	}
}

func TestNTPTime(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want uint64
	}{
		{time.Unix(0, 0), ntpEpochOffset << 32},
		{time.Unix(1, 500_000_000), (ntpEpochOffset+1)<<32 | 1<<31},
		{time.Unix(0, 250_000_000).In(time.FixedZone("x", 3600)), ntpEpochOffset<<32 | 1<<30},
	} {
		if got := ntpTime(tc.t); got != tc.want {
			t.Errorf("ntpTime(%v) = %#x, want %#x", tc.t, got, tc.want)
		}
	}
}
