package stream

import (
	"testing"
	"time"
)

// clockStep drives a trackClock: an SR (sr set) or a wallTime query.
type clockStep struct {
	sr      bool
	ntp     time.Duration // SR: publisher NTP time, after ntpBase
	rtp     uint32        // SR: RTP timestamp; query: sample timestamp
	arrival time.Duration // after gwBase
	wantOK  bool
	want    time.Duration // query: wall time after gwBase
}

// The publisher's NTP clock and the gateway's clock disagree by hours, as
// they do in practice; only their offset at the first SR matters.
var (
	ntpBase = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	gwBase  = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
)

func TestTrackClock(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name  string
		rate  uint32
		steps []clockStep
	}{
		{
			name: "waits for an SR, then falls back to arrival after syncFallback",
			rate: videoClockRate,
			steps: []clockStep{
				{rtp: 1000, arrival: 0, wantOK: false},
				{rtp: 4000, arrival: syncFallback - ms, wantOK: false},
				// Anchored at this sample's arrival.
				{rtp: 7000, arrival: syncFallback, wantOK: true, want: syncFallback},
				// From now on the RTP clock rules, not arrival jitter.
				{rtp: 7000 + 90000, arrival: syncFallback + 5*time.Second, wantOK: true, want: syncFallback + time.Second},
				{rtp: 7000 + 9000, arrival: syncFallback + 6*time.Second, wantOK: true, want: syncFallback + 100*ms},
			},
		},
		{
			name: "the first SR anchors at once",
			rate: videoClockRate,
			steps: []clockStep{
				{sr: true, ntp: 0, rtp: 50000, arrival: 100 * ms},
				// SR arrival maps ntp 0 to gateway +100 ms.
				{rtp: 50000 + 9000, arrival: 500 * ms, wantOK: true, want: 200 * ms},
				{rtp: 50000 + 90000, arrival: 3 * time.Second, wantOK: true, want: 1100 * ms},
			},
		},
		{
			name: "an SR that arrives while waiting anchors the track",
			rate: audioClockRate,
			steps: []clockStep{
				{rtp: 100, arrival: 0, wantOK: false},
				{sr: true, ntp: 10 * ms, rtp: 580, arrival: 40 * ms},
				{rtp: 580 + 960, arrival: 60 * ms, wantOK: true, want: 60 * ms},
			},
		},
		{
			name: "an SR received after the first arrival still beats the fallback",
			rate: videoClockRate,
			steps: []clockStep{
				{rtp: 0, arrival: 0, wantOK: false},
				{sr: true, ntp: 0, rtp: 0, arrival: 3 * time.Second},
				{rtp: 9000, arrival: 3 * time.Second, wantOK: true, want: 3*time.Second + 100*ms},
			},
		},
		{
			name: "later SRs do not move the anchor",
			rate: videoClockRate,
			steps: []clockStep{
				{sr: true, ntp: 0, rtp: 0, arrival: 0},
				{rtp: 90000, arrival: time.Second, wantOK: true, want: time.Second},
				{sr: true, ntp: 0, rtp: 0, arrival: 5 * time.Second},
				{rtp: 180000, arrival: 2 * time.Second, wantOK: true, want: 2 * time.Second},
			},
		},
		{
			name: "the newest pending SR is the one used",
			rate: videoClockRate,
			steps: []clockStep{
				{sr: true, ntp: 0, rtp: 0, arrival: 0},
				{sr: true, ntp: time.Second, rtp: 90000 + 900, arrival: 2 * time.Second},
				// Offset from the second SR: ntp+1s -> gw+2s.
				{rtp: 90900, arrival: 2 * time.Second, wantOK: true, want: 2 * time.Second},
			},
		},
		{
			name: "RTP timestamps wrap across 2^32",
			rate: videoClockRate,
			steps: []clockStep{
				{sr: true, ntp: 0, rtp: 0xFFFFFF00, arrival: 0},
				// 0x100 is 512 ticks after 0xFFFFFF00.
				{rtp: 0x100, arrival: 0, wantOK: true, want: 512 * time.Second / 90000},
			},
		},
		{
			name: "an earlier sample (B-frame) maps before the anchor without moving it",
			rate: videoClockRate,
			steps: []clockStep{
				{sr: true, ntp: 0, rtp: 90000, arrival: 0},
				{rtp: 90000 + 9000, arrival: 0, wantOK: true, want: 100 * ms},
				{rtp: 90000 + 4500, arrival: 0, wantOK: true, want: 50 * ms},
				{rtp: 90000 + 6300, arrival: 0, wantOK: true, want: 70 * ms},
				{rtp: 90000 + 12600, arrival: 0, wantOK: true, want: 140 * ms},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := trackClock{rate: tc.rate, session: &sessionClock{}}
			for i, s := range tc.steps {
				if s.sr {
					c.senderReport(ntpBase.Add(s.ntp), s.rtp, gwBase.Add(s.arrival))
					continue
				}
				got, ok := c.wallTime(s.rtp, gwBase.Add(s.arrival))
				if ok != s.wantOK {
					t.Fatalf("step %d: wallTime(%d) ok = %v, want %v", i, s.rtp, ok, s.wantOK)
				}
				if ok && !got.Equal(gwBase.Add(s.want)) {
					t.Fatalf("step %d: wallTime(%d) = gw%+v, want gw%+v", i, s.rtp, got.Sub(gwBase), s.want)
				}
			}
		})
	}
}

// The anchor follows the newest sample, so a track keeps mapping correctly
// however many times its RTP clock wraps (each step is under 2^31 ticks).
func TestTrackClockAnchorAdvancesAcrossWraps(t *testing.T) {
	c := trackClock{rate: videoClockRate, session: &sessionClock{}}
	c.senderReport(ntpBase, 0xF0000000, gwBase)
	const step = 1 << 30 // ticks; 8 steps go twice round the RTP clock
	stepDur := time.Duration(int64(step) * int64(time.Second) / videoClockRate)
	ts := uint32(0xF0000000)
	for i := 1; i <= 8; i++ {
		ts += step
		got, ok := c.wallTime(ts, gwBase)
		if !ok {
			t.Fatalf("step %d: not synced", i)
		}
		if want := gwBase.Add(time.Duration(i) * stepDur); !got.Equal(want) {
			t.Fatalf("step %d: wallTime = gw%+v, want gw%+v", i, got.Sub(gwBase), want.Sub(gwBase))
		}
	}
}

// Both tracks of a session map through the offset fixed by the first SR
// either of them used, so the A/V alignment the publisher's SRs describe
// survives even when the SRs reach the gateway with different delays
// (RFC 3550 section 6.4.1).
func TestSessionClockKeepsAVAlignment(t *testing.T) {
	ms := time.Millisecond
	for _, videoFirst := range []bool{true, false} {
		name := "audio anchors first"
		if videoFirst {
			name = "video anchors first"
		}
		t.Run(name, func(t *testing.T) {
			var sess sessionClock
			video := trackClock{rate: videoClockRate, session: &sess}
			audio := trackClock{rate: audioClockRate, session: &sess}
			// The video SR says RTP 1000 was captured at ntp+0 and reaches
			// the gateway at gw+0; the audio SR says RTP 7000 was captured at
			// ntp+40ms but is delayed 250 ms on the way.
			video.senderReport(ntpBase, 1000, gwBase)
			audio.senderReport(ntpBase.Add(40*ms), 7000, gwBase.Add(290*ms))
			// Both samples were captured at ntp+100ms.
			vTS, aTS := uint32(1000+9000), uint32(7000+2880)
			var vWall, aWall time.Time
			var vOK, aOK bool
			if videoFirst {
				vWall, vOK = video.wallTime(vTS, gwBase.Add(time.Second))
				aWall, aOK = audio.wallTime(aTS, gwBase.Add(time.Second))
			} else {
				aWall, aOK = audio.wallTime(aTS, gwBase.Add(time.Second))
				vWall, vOK = video.wallTime(vTS, gwBase.Add(time.Second))
			}
			if !vOK || !aOK {
				t.Fatalf("not synced: video %v audio %v", vOK, aOK)
			}
			if !vWall.Equal(aWall) {
				t.Fatalf("video at gw%+v, audio at gw%+v: samples captured together must map together",
					vWall.Sub(gwBase), aWall.Sub(gwBase))
			}
			// The offset is the first anchoring track's SR delay.
			want := gwBase.Add(100 * ms)
			if !videoFirst {
				want = gwBase.Add(250*ms + 100*ms)
			}
			if !vWall.Equal(want) {
				t.Fatalf("wall = gw%+v, want gw%+v", vWall.Sub(gwBase), want.Sub(gwBase))
			}
		})
	}
}

func TestSessionClockOffsetFixedAtFirstReport(t *testing.T) {
	var s sessionClock
	if got := s.offsetFor(ntpBase, gwBase); got != gwBase.Sub(ntpBase) {
		t.Fatalf("first offset = %v, want %v", got, gwBase.Sub(ntpBase))
	}
	if got := s.offsetFor(ntpBase, gwBase.Add(time.Hour)); got != gwBase.Sub(ntpBase) {
		t.Fatalf("second offset = %v, want the first one, %v", got, gwBase.Sub(ntpBase))
	}
}
