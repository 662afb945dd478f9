package stream

import (
	"testing"
	"time"
)

// rwStep is one input to a rewriter: either a new publisher session or a
// packet with the output numbering it must get.
type rwStep struct {
	newSession bool
	seq        uint16
	ts         uint32
	at         time.Duration // arrival, after the test's base time
	wantSeq    uint16
	wantTS     uint32
}

func TestRewriter(t *testing.T) {
	const video, audio = 90000, 48000
	ms := time.Millisecond
	tests := []struct {
		name  string
		rate  uint32
		steps []rwStep
	}{
		{
			name: "first session passes numbers through",
			rate: video,
			steps: []rwStep{
				{seq: 100, ts: 1000, at: 0, wantSeq: 100, wantTS: 1000},
				{seq: 101, ts: 4000, at: 33 * ms, wantSeq: 101, wantTS: 4000},
				{seq: 102, ts: 7000, at: 66 * ms, wantSeq: 102, wantTS: 7000},
			},
		},
		{
			name: "newSession before any packet changes nothing",
			rate: video,
			steps: []rwStep{
				{newSession: true},
				{seq: 7, ts: 70, at: 0, wantSeq: 7, wantTS: 70},
				{seq: 8, ts: 3070, at: 33 * ms, wantSeq: 8, wantTS: 3070},
			},
		},
		{
			name: "new session continues at last+1 and advances by the arrival gap",
			rate: video,
			steps: []rwStep{
				{seq: 100, ts: 1000, at: 0, wantSeq: 100, wantTS: 1000},
				{seq: 101, ts: 4000, at: 33 * ms, wantSeq: 101, wantTS: 4000},
				{newSession: true},
				// 1 s later at 90 kHz: 90000 ticks after the last output timestamp.
				{seq: 5000, ts: 777, at: 1033 * ms, wantSeq: 102, wantTS: 4000 + 90000},
				{seq: 5001, ts: 3777, at: 1066 * ms, wantSeq: 103, wantTS: 4000 + 90000 + 3000},
			},
		},
		{
			name: "audio clock rate",
			rate: audio,
			steps: []rwStep{
				{seq: 1, ts: 0, at: 0, wantSeq: 1, wantTS: 0},
				{newSession: true},
				{seq: 900, ts: 123456, at: 500 * ms, wantSeq: 2, wantTS: 24000},
			},
		},
		{
			name: "zero gap still advances one tick",
			rate: video,
			steps: []rwStep{
				{seq: 10, ts: 500, at: 10 * ms, wantSeq: 10, wantTS: 500},
				{newSession: true},
				{seq: 60000, ts: 9, at: 10 * ms, wantSeq: 11, wantTS: 501},
			},
		},
		{
			name: "arrival before the last packet still advances one tick",
			rate: video,
			steps: []rwStep{
				{seq: 10, ts: 500, at: 10 * ms, wantSeq: 10, wantTS: 500},
				{newSession: true},
				{seq: 60000, ts: 9, at: 5 * ms, wantSeq: 11, wantTS: 501},
			},
		},
		{
			name: "two newSession calls without packets continue once",
			rate: video,
			steps: []rwStep{
				{seq: 10, ts: 500, at: 0, wantSeq: 10, wantTS: 500},
				{newSession: true},
				{newSession: true},
				{seq: 42, ts: 42, at: 100 * ms, wantSeq: 11, wantTS: 500 + 9000},
				{seq: 43, ts: 3042, at: 133 * ms, wantSeq: 12, wantTS: 500 + 9000 + 3000},
			},
		},
		{
			name: "a reordered packet does not move the anchor",
			rate: video,
			steps: []rwStep{
				{seq: 100, ts: 0, at: 0, wantSeq: 100, wantTS: 0},
				{seq: 102, ts: 6000, at: 66 * ms, wantSeq: 102, wantTS: 6000},
				// 101 arrives late: passed through, but 102 stays the newest.
				{seq: 101, ts: 3000, at: 80 * ms, wantSeq: 101, wantTS: 3000},
				{newSession: true},
				// Continues from 102 (seq 103) and from 102's arrival (100 ms gap).
				{seq: 9, ts: 50, at: 166 * ms, wantSeq: 103, wantTS: 6000 + 9000},
			},
		},
		{
			name: "a duplicate does not move the anchor",
			rate: video,
			steps: []rwStep{
				{seq: 100, ts: 0, at: 0, wantSeq: 100, wantTS: 0},
				{seq: 100, ts: 0, at: 50 * ms, wantSeq: 100, wantTS: 0},
				{newSession: true},
				{seq: 1, ts: 1, at: 100 * ms, wantSeq: 101, wantTS: 9000},
			},
		},
		{
			name: "late packets of the new session are rewritten with its offset",
			rate: video,
			steps: []rwStep{
				{seq: 100, ts: 0, at: 0, wantSeq: 100, wantTS: 0},
				{newSession: true},
				{seq: 500, ts: 1000, at: 100 * ms, wantSeq: 101, wantTS: 9000},
				{seq: 502, ts: 4000, at: 133 * ms, wantSeq: 103, wantTS: 12000},
				{seq: 501, ts: 1000, at: 140 * ms, wantSeq: 102, wantTS: 9000},
				{newSession: true},
				// The anchor is 103 (newest), arrived at 133 ms.
				{seq: 7, ts: 7, at: 233 * ms, wantSeq: 104, wantTS: 12000 + 9000},
			},
		},
		{
			name: "sequence numbers wrap in the first session",
			rate: video,
			steps: []rwStep{
				{seq: 65534, ts: 0, at: 0, wantSeq: 65534, wantTS: 0},
				{seq: 65535, ts: 3000, at: 33 * ms, wantSeq: 65535, wantTS: 3000},
				{seq: 0, ts: 6000, at: 66 * ms, wantSeq: 0, wantTS: 6000},
				{seq: 1, ts: 9000, at: 100 * ms, wantSeq: 1, wantTS: 9000},
				{newSession: true},
				// 1 is the newest despite the wrap; 100 ms later.
				{seq: 40000, ts: 5, at: 200 * ms, wantSeq: 2, wantTS: 9000 + 9000},
			},
		},
		{
			name: "the output sequence wraps across a new session",
			rate: video,
			steps: []rwStep{
				{seq: 65535, ts: 10, at: 0, wantSeq: 65535, wantTS: 10},
				{newSession: true},
				{seq: 300, ts: 20, at: 100 * ms, wantSeq: 0, wantTS: 10 + 9000},
				{seq: 301, ts: 3020, at: 133 * ms, wantSeq: 1, wantTS: 10 + 9000 + 3000},
				{newSession: true},
				{seq: 9, ts: 9, at: 233 * ms, wantSeq: 2, wantTS: 10 + 9000 + 3000 + 9000},
			},
		},
		{
			name: "the output timestamp wraps across a new session",
			rate: audio,
			steps: []rwStep{
				{seq: 1, ts: 0xFFFFFF00, at: 0, wantSeq: 1, wantTS: 0xFFFFFF00},
				{newSession: true},
				// 10 ms at 48 kHz is 480 ticks: 0xFFFFFF00 + 480 wraps to 0xE0.
				{seq: 77, ts: 5, at: 10 * ms, wantSeq: 2, wantTS: 0xE0},
				{seq: 78, ts: 965, at: 30 * ms, wantSeq: 3, wantTS: 0xE0 + 960},
			},
		},
		{
			name: "input timestamps wrap within a session",
			rate: video,
			steps: []rwStep{
				{seq: 1, ts: 100, at: 0, wantSeq: 1, wantTS: 100},
				{newSession: true},
				{seq: 50, ts: 0xFFFFF000, at: 100 * ms, wantSeq: 2, wantTS: 9100},
				{seq: 51, ts: 0xFFFFF000 + 3000, at: 133 * ms, wantSeq: 3, wantTS: 12100},
				{seq: 52, ts: 1904, at: 166 * ms, wantSeq: 4, wantTS: 15100}, // 0xFFFFF000+6000 mod 2^32
			},
		},
	}
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := rewriter{clockRate: tc.rate}
			for i, s := range tc.steps {
				if s.newSession {
					r.newSession()
					continue
				}
				seq, ts := r.rewrite(s.seq, s.ts, base.Add(s.at))
				if seq != s.wantSeq || ts != s.wantTS {
					t.Fatalf("step %d: rewrite(seq %d, ts %d) = (%d, %d), want (%d, %d)",
						i, s.seq, s.ts, seq, ts, s.wantSeq, s.wantTS)
				}
			}
		})
	}
}
