package rtmp

import (
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/packager"
)

const (
	v = packager.KindVideo
	a = packager.KindAudio
)

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// step is one unit given to a timeline: its kind, its FLV DTS and its
// arrival (ms after the stream's epoch), and what must come out.
type step struct {
	kind    packager.Kind
	src     int64 // ms on the encoder's clock
	arrival int64 // ms after epoch
	out     int64 // ms on the stream clock; ignored when ev drops the unit
	ev      timelineEvent
}

func TestTimelineMap(t *testing.T) {
	const hour = 3600 * 1000
	const wrap = 1 << 32 // FLV timestamps are 32-bit milliseconds
	tests := []struct {
		name  string
		steps []step
	}{
		{"anchored at the first unit's arrival, then the encoder's clock rules", []step{
			{v, 5000, 100, 100, timelineOK},
			{a, 5010, 112, 110, timelineOK},
			{v, 5033, 180, 133, timelineOK}, // arrived late: keeps its own time
			{a, 5031, 140, 131, timelineOK},
			{v, 5067, 150, 167, timelineOK}, // arrived early (a burst): idem
		}},
		{"audio stamped before the anchor on a new stream is dropped, not negative", []step{
			{v, 1000, 10, 10, timelineOK},
			{a, 980, 11, 0, timelineBeforeEpoch},
			{a, 1001, 12, 11, timelineOK},
		}},
		{"a repeated DTS is dropped", []step{
			{v, 0, 100, 100, timelineOK},
			{v, 0, 133, 0, timelineDuplicate},
			{v, 33, 134, 133, timelineOK},
		}},
		{"encoder clock restarts: re-anchored where the stream stands, both tracks follow", []step{
			{v, 10000, 1000, 1000, timelineOK},
			{a, 10020, 1020, 1020, timelineOK},
			{v, 10033, 1033, 1033, timelineOK},
			{v, 0, 1066, 1066, timelineBackward},
			{a, 20, 1090, 1086, timelineOK},
			{v, 33, 1100, 1099, timelineOK},
		}},
		{"a jump of an hour ahead: re-anchored, the other track's same jump follows", []step{
			{v, 0, 500, 500, timelineOK},
			{a, 10, 510, 510, timelineOK},
			{v, 33 + hour, 533, 533, timelineForward},
			{a, 31 + hour, 531, 531, timelineOK},
			{v, 67 + hour, 566, 567, timelineOK},
		}},
		{"a pause the wall clock saw too is not a jump", []step{
			{v, 0, 0, 0, timelineOK},
			{v, 5000, 5010, 5000, timelineOK},
			{v, 5033, 5040, 5033, timelineOK},
		}},
		{"a jump a little past the wall clock is kept; past maxJump it is not", []step{
			{v, 0, 0, 0, timelineOK},
			{v, 2900, 33, 2900, timelineOK},
			{v, 6000, 66, 2933, timelineForward},
		}},
		{"32-bit timestamp wrap: re-anchored, still rising", []step{
			{v, wrap - 66, 200, 200, timelineOK},
			{v, wrap - 33, 233, 233, timelineOK},
			{v, 0, 266, 266, timelineBackward},
			{v, 33, 300, 299, timelineOK},
		}},
		{"only one track jumps: each unit re-anchors, every track keeps rising", []step{
			{v, 0, 0, 0, timelineOK},
			{a, 0, 0, 0, timelineOK},
			{v, 33 + hour, 33, 33, timelineForward},
			{a, 21, 34, 34, timelineBackward},
			{v, 67 + hour, 67, 67, timelineForward},
			{a, 42, 68, 68, timelineBackward},
		}},
		{"a track starting far from the session's clock is re-anchored", []step{
			{v, 0, 100, 100, timelineOK},
			{a, hour, 110, 110, timelineForward},
			{a, hour + 21, 131, 131, timelineOK},
			{v, 33, 133, 133, timelineBackward}, // its clock is now the odd one
		}},
		{"a step back within a track never yields a DTS at or before the last", []step{
			{v, 1000, 1000, 1000, timelineOK},
			{v, 1033, 1001, 1033, timelineOK}, // ahead of the wall clock by 32 ms
			{v, 1020, 1002, 1034, timelineBackward},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := newTimeline(epoch)
			for i, s := range tt.steps {
				out, ev := tl.Map(s.kind, ms(s.src), epoch.Add(ms(s.arrival)))
				if ev != s.ev {
					t.Fatalf("step %d (%s src %d ms): event %q, want %q", i, s.kind, s.src, ev, s.ev)
				}
				if !ev.dropped() && out != ms(s.out) {
					t.Fatalf("step %d (%s src %d ms): DTS %v, want %v", i, s.kind, s.src, out, ms(s.out))
				}
			}
		})
	}
}

func TestFrameClock(t *testing.T) {
	// AAC at 48 kHz: 1024 samples = 21.333 ms, stamped 0, 21, 43, 64 ms.
	c := frameClock{rate: 48000, frame: 1024}
	frames := func(n int64) time.Duration { return time.Duration(n*1024) * time.Second / 48000 }
	for i, tc := range []struct {
		src  time.Duration
		want time.Duration
	}{
		{ms(1000), ms(1000)},
		{ms(1021), ms(1000) + frames(1)},
		{ms(1043), ms(1000) + frames(2)},
		{ms(1064), ms(1000) + frames(3)},
		{ms(1200), ms(1200)}, // frames lost: start counting again
		{ms(1221), ms(1200) + frames(1)},
		{ms(1221), ms(1221)}, // a repeat is no frame: passed on (the timeline drops it)
	} {
		if got := c.exact(tc.src); got != tc.want {
			t.Errorf("frame %d: exact(%v) = %v, want %v", i, tc.src, got, tc.want)
		}
	}
	// Variable frame lengths (Opus) pass through.
	o := frameClock{rate: 48000}
	if got := o.exact(ms(1021)); got != ms(1021) {
		t.Errorf("Opus: %v, want the FLV time", got)
	}
}
