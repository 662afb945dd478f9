package demo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/packager"
	"github.com/frontrow-live/frontrow/testdata"
)

// newTestSource is NewSource on a fresh virtual clock (so two sources' runs
// send at the same instants), with the demuxed media changed by mutate.
func newTestSource(t *testing.T, data []byte, mutate func(*media)) *Source {
	t.Helper()
	src, err := NewSource(bytes.NewReader(data), WithClock(newVirtualClock()))
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	if mutate != nil {
		m := *src.m
		m.samples = slices.Clone(m.samples)
		mutate(&m)
		src.m, src.gops = &m, newGOPIndex(&m)
	}
	return src
}

// requestingSink records a run and calls RequestKeyframe requests[i] times
// right after video unit i-1 went out, i.e. before unit i (counted from the
// start of the run) is due.
type requestingSink struct {
	recordingSink
	src      *Source
	requests map[int]int
	units    int
}

func (s *requestingSink) WriteRTP(kind packager.Kind, pkt *rtp.Packet, arrival time.Time) error {
	err := s.recordingSink.WriteRTP(kind, pkt, arrival)
	if kind == packager.KindVideo && pkt.Marker {
		s.units++
		for range s.requests[s.units] {
			s.src.RequestKeyframe()
		}
	}
	return err
}

// runRequests plays src on its virtual clock for loops loops plus a little,
// requesting keyframes as requests says.
func runRequests(t *testing.T, src *Source, loops int, requests map[int]int) *recordingSink {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stopAt := src.cfg.clock.Now().Add(time.Duration(loops)*src.Duration() + 500*time.Millisecond)
	sink := &requestingSink{recordingSink: recordingSink{stopAt: stopAt, cancel: cancel}, src: src, requests: requests}
	if err := src.Run(ctx, sink); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	return &sink.recordingSink
}

// videoUnit is one access unit as sent: its NAL units, RTP timestamp, and
// its first packet's sequence number and send time.
type videoUnit struct {
	nalus   [][]byte
	ts      uint32
	seq     uint16
	arrival time.Time
}

func videoUnits(t *testing.T, pkts []sentPacket) []videoUnit {
	t.Helper()
	units, stamps := accessUnits(t, pkts)
	out := make([]videoUnit, 0, len(units))
	first := true
	for _, p := range pkts {
		if first {
			out = append(out, videoUnit{seq: p.pkt.SequenceNumber, arrival: p.arrival})
		}
		first = p.pkt.Marker
	}
	if !first { // an unfinished unit at the end
		out = out[:len(out)-1]
	}
	if len(out) != len(units) {
		t.Fatalf("%d units by marker, %d depacketized", len(out), len(units))
	}
	for i := range out {
		out[i].nalus, out[i].ts = units[i], stamps[i]
	}
	return out
}

func naluTypes(nalus [][]byte) []byte {
	types := make([]byte, len(nalus))
	for i, n := range nalus {
		types[i] = n[0] & 0x1F
	}
	return types
}

// startsWithIDR: SPS, PPS, then (SEI allowed) IDR slices.
func startsWithIDR(nalus [][]byte) bool {
	types := naluTypes(nalus)
	if len(types) < 3 || types[0] != naluTypeSPS || types[1] != 8 {
		return false
	}
	for _, ty := range types[2:] {
		if ty >= 1 && ty <= 5 { // the first slice
			return ty == naluTypeIDR
		}
	}
	return false
}

// fileFrames maps each video frame of the file, as a viewer must receive it,
// to its index, read independently of demux; frames must be unique.
func fileFrames(t *testing.T, data []byte) (index map[string]int, keyframe []bool) {
	t.Helper()
	video, _ := readFileTracks(t, data)
	index = map[string]int{}
	for i, u := range video.units {
		k := unitKey(u)
		if j, dup := index[k]; dup {
			t.Fatalf("file frames %d and %d are identical: cannot tell content apart", j, i)
		}
		index[k] = i
		keyframe = append(keyframe, startsWithIDR(u))
	}
	return index, keyframe
}

func unitKey(nalus [][]byte) string {
	var b []byte
	for _, n := range nalus {
		b = binary.BigEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
	}
	return string(b)
}

// checkRewound checks a run against the same source's run without requests
// (base) and returns which file frame each video unit of got carries:
//   - audio is byte for byte the same, sent at the same instants with the
//     same sequence numbers, timestamps and markers;
//   - video units go out at the same instants; each one's RTP timestamp is
//     the scheduled DTS plus its content's own PTS-DTS offset, so without
//     B-frames exactly the timestamp it has without requests;
//   - sequence numbers have no gap, and the first rewound unit starts at the
//     sequence number it has without requests;
//   - every unit is a file frame; the first is an IDR, and every other unit
//     either is the frame after the previous unit's (wrapping at the file's
//     end) or an IDR with SPS and PPS in front: every P frame follows its
//     GOP's IDR and frames in order.
func checkRewound(t *testing.T, data []byte, src *Source, base, got *recordingSink) []int {
	t.Helper()
	for _, kind := range []packager.Kind{packager.KindVideo, packager.KindAudio} {
		checkHeaders(t, kind, got.track(kind), defaultMTU)
	}

	baseAudio, gotAudio := base.track(packager.KindAudio), got.track(packager.KindAudio)
	if len(gotAudio) != len(baseAudio) || len(gotAudio) == 0 {
		t.Fatalf("%d audio packets, %d without requests", len(gotAudio), len(baseAudio))
	}
	for i, g := range gotAudio {
		b := baseAudio[i]
		if !bytes.Equal(g.pkt.Payload, b.pkt.Payload) || g.pkt.Marker != b.pkt.Marker || !g.arrival.Equal(b.arrival) ||
			g.pkt.SequenceNumber-gotAudio[0].pkt.SequenceNumber != b.pkt.SequenceNumber-baseAudio[0].pkt.SequenceNumber ||
			g.pkt.Timestamp-gotAudio[0].pkt.Timestamp != b.pkt.Timestamp-baseAudio[0].pkt.Timestamp {
			t.Fatalf("audio packet %d differs from the run without requests", i)
		}
	}

	baseVideo, gotVideo := videoUnits(t, base.track(packager.KindVideo)), videoUnits(t, got.track(packager.KindVideo))
	if len(gotVideo) != len(baseVideo) || len(gotVideo) == 0 {
		t.Fatalf("%d video units, %d without requests", len(gotVideo), len(baseVideo))
	}
	index, keyframe := fileFrames(t, data)
	var sched []Sample
	for _, s := range src.Samples() {
		if s.Kind == packager.KindVideo {
			sched = append(sched, s)
		}
	}
	n := len(sched)
	bframes := false
	for _, s := range sched {
		bframes = bframes || s.PTS != s.DTS
	}
	content := make([]int, len(gotVideo))
	rewound := false
	for i, u := range gotVideo {
		b := baseVideo[i]
		c, ok := index[unitKey(u.nalus)]
		if !ok {
			t.Fatalf("video unit %d (NAL types %v) is no frame of the file", i, naluTypes(u.nalus))
		}
		content[i] = c
		switch {
		case i == 0 && !keyframe[c]:
			t.Fatalf("video unit 0 is frame %d, not an IDR", c)
		case i > 0 && c != (content[i-1]+1)%n && !(keyframe[c] && startsWithIDR(u.nalus)):
			t.Fatalf("video unit %d is frame %d after frame %d: neither the next frame nor an IDR with SPS and PPS", i, c, content[i-1])
		}
		if !u.arrival.Equal(b.arrival) {
			t.Fatalf("video unit %d sent at %v, %v without requests", i, u.arrival, b.arrival)
		}
		loop, k := i/n, i%n
		cto := sched[c].PTS - sched[c].DTS
		want := durationToTicks(time.Duration(loop)*src.Duration()+sched[k].DTS+cto, VideoClockRate) - durationToTicks(sched[0].PTS, VideoClockRate)
		if d := u.ts - gotVideo[0].ts; int64(d) != want&0xFFFFFFFF {
			t.Fatalf("video unit %d (frame %d at slot %d): timestamp +%d, want +%d", i, c, k, d, want)
		}
		if !bframes && u.ts-gotVideo[0].ts != b.ts-baseVideo[0].ts {
			t.Fatalf("video unit %d: timestamp +%d, +%d without requests", i, u.ts-gotVideo[0].ts, b.ts-baseVideo[0].ts)
		}
		if !rewound && c != i%n {
			rewound = true
			if u.seq-gotVideo[0].seq != b.seq-baseVideo[0].seq {
				t.Fatalf("first rewound video unit %d: sequence number +%d, +%d without requests", i, u.seq-gotVideo[0].seq, b.seq-baseVideo[0].seq)
			}
		}
	}
	return content
}

func TestRequestKeyframe(t *testing.T) {
	// The demo file: 120 frames, IDRs at 0, 30, 60, 90. bframes: 60 frames,
	// IDRs at 0 and 30.
	tests := []struct {
		name     string
		data     []byte
		loops    int
		requests map[int]int // before video unit i (from the run's start), this many requests
		want     map[int]int // video unit -> the file frame it carries
	}{
		{
			name: "mid GOP rewinds to the GOP's IDR and plays on", data: testdata.DemoMP4, loops: 1,
			requests: map[int]int{40: 1},
			want:     map[int]int{39: 39, 40: 30, 41: 31, 42: 32, 69: 59, 70: 60, 119: 109},
		},
		{
			name: "keyframe due anyway", data: testdata.DemoMP4, loops: 1,
			requests: map[int]int{60: 1},
			want:     map[int]int{59: 59, 60: 60, 61: 61, 119: 119},
		},
		{
			name: "two requests before a frame are one rewind", data: testdata.DemoMP4, loops: 1,
			requests: map[int]int{45: 2},
			want:     map[int]int{44: 44, 45: 30, 46: 31, 47: 32},
		},
		{
			name: "a request after the rewind is answered again", data: testdata.DemoMP4, loops: 1,
			requests: map[int]int{45: 1, 46: 1},
			want:     map[int]int{45: 30, 46: 30, 47: 31},
		},
		{
			name: "shifted content loops over the file's end", data: testdata.DemoMP4, loops: 3,
			requests: map[int]int{100: 1, 135: 1},
			want: map[int]int{
				100: 90, 119: 109, 120: 110, 129: 119, 130: 0, // shift 10 across the loop
				135: 0, 136: 1, // shift 15
				239: 104, 240: 105, 254: 119, 255: 0, 300: 45,
			},
		},
		{
			name: "first GOP", data: testdata.DemoMP4, loops: 1,
			requests: map[int]int{1: 1, 29: 1},
			want:     map[int]int{1: 0, 2: 1, 29: 0, 30: 1, 31: 2, 60: 31, 119: 90},
		},
		{
			name: "B-frames mid GOP", data: testdata.BFramesMP4, loops: 2,
			requests: map[int]int{40: 1},
			want:     map[int]int{39: 39, 40: 30, 41: 31, 42: 32, 59: 49, 60: 50, 69: 59, 70: 0, 100: 30},
		},
		{
			name: "B-frames twice in one GOP", data: testdata.BFramesMP4, loops: 2,
			requests: map[int]int{5: 1, 12: 3},
			want:     map[int]int{4: 4, 5: 0, 11: 6, 12: 0, 13: 1, 59: 47, 60: 48, 71: 59, 72: 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := runRequests(t, newTestSource(t, tc.data, nil), tc.loops, nil)
			src := newTestSource(t, tc.data, nil)
			got := runRequests(t, src, tc.loops, tc.requests)
			content := checkRewound(t, tc.data, src, base, got)
			for i, want := range tc.want {
				if i >= len(content) {
					t.Fatalf("only %d video units, want unit %d", len(content), i)
				}
				if content[i] != want {
					t.Errorf("video unit %d is file frame %d, want %d", i, content[i], want)
				}
			}
		})
	}
}

// TestRequestKeyframeDueIsNoOp: a request when a keyframe is due anyway sends
// exactly what a run without it sends.
func TestRequestKeyframeDueIsNoOp(t *testing.T) {
	base := runRequests(t, newTestSource(t, testdata.DemoMP4, nil), 1, nil)
	got := runRequests(t, newTestSource(t, testdata.DemoMP4, nil), 1, map[int]int{30: 1, 60: 2})
	gotVideo, baseVideo := got.track(packager.KindVideo), base.track(packager.KindVideo)
	if len(gotVideo) != len(baseVideo) {
		t.Fatalf("%d video packets, %d without requests", len(gotVideo), len(baseVideo))
	}
	for i, p := range gotVideo {
		b := baseVideo[i]
		if !bytes.Equal(p.pkt.Payload, b.pkt.Payload) || p.pkt.Marker != b.pkt.Marker || !p.arrival.Equal(b.arrival) ||
			p.pkt.Timestamp-gotVideo[0].pkt.Timestamp != b.pkt.Timestamp-baseVideo[0].pkt.Timestamp {
			t.Fatalf("video packet %d differs from the run without requests", i)
		}
	}
}

// TestRequestKeyframeFallback: a file whose video frames do not all last the
// same (or that has no IDR) cannot rewind without disturbing the timeline, so
// requests change nothing.
func TestRequestKeyframeFallback(t *testing.T) {
	videoIndex := func(m *media, nth int) int {
		for i, s := range m.samples {
			if s.Kind == packager.KindVideo {
				if nth == 0 {
					return i
				}
				nth--
			}
		}
		panic("no such video sample")
	}
	tests := []struct {
		name   string
		mutate func(*media)
	}{
		{"one frame longer", func(m *media) { m.samples[videoIndex(m, 50)].DTS += 5 * time.Millisecond }},
		{"loop longer than the video", func(m *media) { m.loop += 100 * time.Millisecond }},
		{"no IDR", func(m *media) {
			for i := range m.samples {
				if m.samples[i].Kind == packager.KindVideo {
					m.samples[i].NALUs = slices.DeleteFunc(slices.Clone(m.samples[i].NALUs), func(n []byte) bool { return n[0]&0x1F == naluTypeIDR })
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newTestSource(t, testdata.DemoMP4, tc.mutate)
			if src.gops != nil {
				t.Fatal("the source answers keyframe requests")
			}
			base := runRequests(t, newTestSource(t, testdata.DemoMP4, tc.mutate), 1, nil)
			got := runRequests(t, src, 1, map[int]int{40: 1, 75: 1})
			g, b := got.track(packager.KindVideo), base.track(packager.KindVideo)
			if len(g) != len(b) {
				t.Fatalf("%d video packets, %d without requests", len(g), len(b))
			}
			for i := range g {
				if !bytes.Equal(g[i].pkt.Payload, b[i].pkt.Payload) {
					t.Fatalf("video packet %d differs from the run without requests", i)
				}
			}
		})
	}
}

func TestGOPIndex(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		back map[int]int // frame -> frames back to its GOP's IDR
	}{
		{"demo", testdata.DemoMP4, map[int]int{0: 0, 1: 1, 29: 29, 30: 0, 45: 15, 119: 29}},
		{"bframes", testdata.BFramesMP4, map[int]int{0: 0, 29: 29, 30: 0, 59: 29}},
		{"bench", testdata.BenchMP4, map[int]int{0: 0, 29: 29, 30: 0, 59: 29}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := newTestSource(t, tc.data, nil)
			if src.gops == nil {
				t.Fatal("testdata file cannot answer keyframe requests: its frame durations differ")
			}
			for i, want := range tc.back {
				if got := src.gops.back[i]; got != want {
					t.Errorf("frame %d: %d frames back to its IDR, want %d", i, got, want)
				}
			}
		})
	}

	// Frames before the file's first IDR belong to the GOP the loop wraps
	// from: the file's last.
	m := &media{loop: 4 * time.Second}
	for i := range 6 {
		nal := []byte{1}
		if i == 2 {
			nal = []byte{naluTypeIDR}
		}
		m.samples = append(m.samples, Sample{Kind: packager.KindVideo, DTS: time.Duration(i) * 4 * time.Second / 6, NALUs: [][]byte{nal}})
	}
	gops := newGOPIndex(m)
	if gops == nil || !slices.Equal(gops.back, []int{4, 5, 0, 1, 2, 3}) {
		t.Fatalf("back = %v, want [4 5 0 1 2 3]", gops)
	}
}

// TestRequestKeyframeEveryRun: each Run playing the source answers the same
// request at its own next frame.
func TestRequestKeyframeEveryRun(t *testing.T) {
	src := newTestSource(t, testdata.DemoMP4, nil)
	a, b := newRewinder(src), newRewinder(src)
	video := src.gops.frames
	for k := range 40 {
		a.content(k, video[k])
		b.content(k, video[k])
	}
	src.RequestKeyframe()
	if got := a.content(40, video[40]); got != video[30] {
		t.Errorf("first run sends frame %v, want the IDR at 30", got.DTS)
	}
	if got := b.content(40, video[40]); got != video[30] {
		t.Errorf("second run sends frame %v, want the IDR at 30", got.DTS)
	}
	if got := newRewinder(src).content(41, video[41]); got != video[41] {
		t.Errorf("a run started after the request rewinds too")
	}
}

// TestRequestKeyframeConcurrent: requests from other goroutines while a Run
// plays (the race detector watches) leave a valid stream.
func TestRequestKeyframeConcurrent(t *testing.T) {
	base := runRequests(t, newTestSource(t, testdata.DemoMP4, nil), 2, nil)
	src := newTestSource(t, testdata.DemoMP4, nil)
	done := make(chan struct{})
	requested := make(chan int)
	go func() {
		n := 0
		defer func() { requested <- n }()
		for {
			select {
			case <-done:
				return
			default:
				src.RequestKeyframe()
				n++
			}
		}
	}()
	got := runRequests(t, src, 2, nil)
	close(done)
	t.Logf("%d requests during the run", <-requested)
	checkRewound(t, testdata.DemoMP4, src, base, got)
}
