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
	"github.com/pion/rtp/codecs"

	"github.com/frontrow-live/frontrow/packager"
	"github.com/frontrow-live/frontrow/testdata"
)

type sentPacket struct {
	kind    packager.Kind
	pkt     *rtp.Packet
	arrival time.Time
}

type senderReport struct {
	kind    packager.Kind
	ntp     time.Time
	rtpTime uint32
}

// recordingSink keeps everything Run writes and cancels the run once the
// clock passes stopAt.
type recordingSink struct {
	stopAt  time.Time
	cancel  context.CancelFunc
	packets []sentPacket
	reports []senderReport
}

func (s *recordingSink) WriteRTP(kind packager.Kind, pkt *rtp.Packet, arrival time.Time) error {
	s.packets = append(s.packets, sentPacket{kind, pkt, arrival})
	if !arrival.Before(s.stopAt) {
		s.cancel()
	}
	return nil
}

func (s *recordingSink) WriteSenderReport(kind packager.Kind, ntp time.Time, rtpTime uint32) {
	s.reports = append(s.reports, senderReport{kind, ntp, rtpTime})
}

func (s *recordingSink) track(kind packager.Kind) []sentPacket {
	var out []sentPacket
	for _, p := range s.packets {
		if p.kind == kind {
			out = append(out, p)
		}
	}
	return out
}

// runVirtual plays src on a virtual clock for loops loops plus a little.
func runVirtual(t *testing.T, data []byte, loops int, opts ...Option) (*Source, *recordingSink, time.Time) {
	t.Helper()
	clock := newVirtualClock()
	src, err := NewSource(bytes.NewReader(data), append([]Option{WithClock(clock)}, opts...)...)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	epoch := clock.Now()
	sink := &recordingSink{stopAt: epoch.Add(time.Duration(loops)*src.Duration() + 500*time.Millisecond), cancel: cancel}
	if err := src.Run(ctx, sink); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	return src, sink, epoch
}

// accessUnits depacketizes a track's packets (RFC 6184) into access units,
// split at marker bits, each a list of NAL units.
func accessUnits(t *testing.T, pkts []sentPacket) (units [][][]byte, timestamps []uint32) {
	t.Helper()
	depack := &codecs.H264Packet{IsAVC: true}
	var au []byte
	for _, p := range pkts {
		out, err := depack.Unmarshal(p.pkt.Payload)
		if err != nil {
			t.Fatalf("depacketize seq %d: %v", p.pkt.SequenceNumber, err)
		}
		au = append(au, out...)
		if !p.pkt.Marker {
			continue
		}
		var nalus [][]byte
		for b := au; len(b) > 0; {
			n := binary.BigEndian.Uint32(b)
			nalus = append(nalus, b[4:4+n])
			b = b[4+n:]
		}
		units = append(units, nalus)
		timestamps = append(timestamps, p.pkt.Timestamp)
		au = nil
	}
	return units, timestamps
}

func TestRunRoundTrip(t *testing.T) {
	const loops = 2
	tests := []struct {
		name string
		data []byte
		mtu  int
	}{
		{"demo", testdata.DemoMP4, defaultMTU},
		{"demo small mtu", testdata.DemoMP4, 300},
		{"bframes", testdata.BFramesMP4, defaultMTU},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, sink, _ := runVirtual(t, tc.data, loops, WithMTU(tc.mtu))
			fileVideo, fileAudio := readFileTracks(t, tc.data)

			for _, kind := range []packager.Kind{packager.KindVideo, packager.KindAudio} {
				pkts := sink.track(kind)
				checkHeaders(t, kind, pkts, tc.mtu)
			}

			units, stamps := accessUnits(t, sink.track(packager.KindVideo))
			checkUnits(t, "video", fileVideo, units, stamps, VideoClockRate, loops)

			var audio [][][]byte
			var audioStamps []uint32
			for _, p := range sink.track(packager.KindAudio) {
				audio = append(audio, [][]byte{p.pkt.Payload})
				audioStamps = append(audioStamps, p.pkt.Timestamp)
			}
			checkUnits(t, "audio", fileAudio, audio, audioStamps, AudioClockRate, loops)
		})
	}
}

// checkHeaders: one SSRC and payload type per track, no sequence gaps, H264
// payloads within the MTU (an Opus frame cannot be split).
func checkHeaders(t *testing.T, kind packager.Kind, pkts []sentPacket, mtu int) {
	t.Helper()
	wantPT := map[packager.Kind]uint8{packager.KindVideo: PayloadTypeH264, packager.KindAudio: PayloadTypeOpus}[kind]
	for i, p := range pkts {
		h := p.pkt.Header
		if h.Version != 2 || h.PayloadType != wantPT || h.SSRC != pkts[0].pkt.SSRC {
			t.Fatalf("%v packet %d: header %+v, want version 2, PT %d, SSRC %d", kind, i, h, wantPT, pkts[0].pkt.SSRC)
		}
		if i > 0 && h.SequenceNumber != pkts[i-1].pkt.SequenceNumber+1 {
			t.Fatalf("%v packet %d: seq %d after %d", kind, i, h.SequenceNumber, pkts[i-1].pkt.SequenceNumber)
		}
		if kind == packager.KindVideo && len(p.pkt.Payload) > mtu {
			t.Fatalf("%v packet %d: payload %d bytes > mtu %d", kind, i, len(p.pkt.Payload), mtu)
		}
		if kind == packager.KindAudio && h.Marker != (i == 0) {
			t.Fatalf("audio packet %d: marker %v, want it only on the first", i, h.Marker)
		}
	}
}

// checkUnits: loop after loop, the units are the file's, in order, with RTP
// timestamps at the file's presentation times plus one file duration per loop.
func checkUnits(t *testing.T, what string, file *fileTrack, units [][][]byte, stamps []uint32, clockRate int64, loops int) {
	t.Helper()
	n := len(file.units)
	if len(units) < loops*n {
		t.Fatalf("%s: got %d units, want at least %d (%d loops of %d)", what, len(units), loops*n, loops, n)
	}
	for i := range loops * n {
		loop, k := i/n, i%n
		if !slices.EqualFunc(units[i], file.units[k], bytes.Equal) {
			t.Fatalf("%s: unit %d (loop %d sample %d) differs from the file (%d parts, file %d)", what, i, loop, k+1, len(units[i]), len(file.units[k]))
		}
		ticks := int64(loop)*file.loopTicks + file.decode[k] - file.decode[0]
		want := ticks * clockRate / int64(file.timescale)
		if got := int64(int32(stamps[i] - stamps[0])); got != want {
			t.Fatalf("%s: unit %d (loop %d sample %d): timestamp +%d, want +%d", what, i, loop, k+1, got, want)
		}
	}
}

func TestRunTimestampsIncreaseAcrossLoops(t *testing.T) {
	src, sink, _ := runVirtual(t, testdata.DemoMP4, 2)
	tests := []struct {
		kind packager.Kind
		step uint32 // one frame at the RTP clock
	}{
		{packager.KindVideo, VideoClockRate / 30},
		{packager.KindAudio, AudioClockRate / 50},
	}
	for _, tc := range tests {
		t.Run(tc.kind.String(), func(t *testing.T) {
			var last uint32
			units := 0
			for i, p := range sink.track(tc.kind) {
				ts := p.pkt.Timestamp
				if i > 0 && ts != last && ts-last != tc.step {
					t.Fatalf("packet %d: timestamp %d after %d, want +%d", i, ts, last, tc.step)
				}
				if i == 0 || ts != last {
					units++
				}
				last = ts
			}
			perLoop := 0
			for _, s := range src.Samples() {
				if s.Kind == tc.kind {
					perLoop++
				}
			}
			if units <= 2*perLoop {
				t.Fatalf("%d units, want more than 2 loops of %d", units, perLoop)
			}
		})
	}
}

func TestRunSenderReportsSyncTracks(t *testing.T) {
	src, sink, epoch := runVirtual(t, testdata.DemoMP4, 2, WithReportInterval(time.Second))
	clockRate := map[packager.Kind]int64{packager.KindVideo: VideoClockRate, packager.KindAudio: AudioClockRate}

	if len(sink.reports) < 2 || sink.reports[0].ntp != epoch || sink.reports[1].ntp != epoch {
		t.Fatalf("first reports %+v, want one per track at the start %v", sink.reports[:min(2, len(sink.reports))], epoch)
	}
	first := map[packager.Kind]senderReport{}
	for i, r := range sink.reports {
		if want := epoch.Add(time.Duration(i/2) * time.Second); r.ntp != want {
			t.Fatalf("report %d at %v, want %v (both tracks every second)", i, r.ntp, want)
		}
		f, ok := first[r.kind]
		if !ok {
			first[r.kind] = r
			continue
		}
		// Every report restates the same mapping: rtp advances with the wall clock.
		want := durationToTicks(r.ntp.Sub(f.ntp), uint32(clockRate[r.kind]))
		if got := int64(int32(r.rtpTime - f.rtpTime)); got != want {
			t.Fatalf("report %d (%v): rtp +%d over %v, want +%d", i, r.kind, got, r.ntp.Sub(f.ntp), want)
		}
	}
	if len(first) != 2 {
		t.Fatalf("reports for %d tracks, want 2", len(first))
	}

	// Mapped through its own track's report, every packet lands on the wall
	// clock at its presentation time: video and audio agree (lip sync), and
	// nothing is sent before it is due.
	samples := src.Samples()
	pts := map[packager.Kind][]time.Duration{}
	for _, s := range samples {
		pts[s.Kind] = append(pts[s.Kind], s.PTS)
	}
	for _, kind := range []packager.Kind{packager.KindVideo, packager.KindAudio} {
		sr := first[kind]
		unit := -1
		var last uint32
		for _, p := range sink.track(kind) {
			if unit < 0 || p.pkt.Timestamp != last {
				unit++
				last = p.pkt.Timestamp
			}
			n := len(pts[kind])
			wantAt := epoch.Add(time.Duration(unit/n)*src.Duration() + pts[kind][unit%n])
			ticks := int64(int32(p.pkt.Timestamp - sr.rtpTime))
			at := sr.ntp.Add(time.Duration(ticks * int64(time.Second) / clockRate[kind]))
			if d := at.Sub(wantAt).Abs(); d > time.Second/time.Duration(clockRate[kind]) {
				t.Fatalf("%v unit %d maps to %v, want %v", kind, unit, at, wantAt)
			}
			if p.arrival.Before(at.Add(-time.Millisecond)) && !p.arrival.Equal(epoch) {
				t.Fatalf("%v unit %d sent at %v before its time %v", kind, unit, p.arrival, at)
			}
		}
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	src, err := NewSource(bytes.NewReader(testdata.DemoMP4)) // wall clock
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sink := &signalSink{first: make(chan struct{})}
	errc := make(chan error, 1)
	go func() { errc <- src.Run(ctx, sink) }()

	select {
	case <-sink.first:
	case err := <-errc:
		t.Fatalf("Run returned before the first packet: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no packet within 5 s")
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Run did not return within 1 s of cancel")
	}
}

// signalSink closes first on the first packet; Run writes from one goroutine.
type signalSink struct {
	first chan struct{}
	seen  bool
}

func (s *signalSink) WriteRTP(packager.Kind, *rtp.Packet, time.Time) error {
	if !s.seen {
		s.seen = true
		close(s.first)
	}
	return nil
}

func (s *signalSink) WriteSenderReport(packager.Kind, time.Time, uint32) {}

func TestRunStopsOnSinkError(t *testing.T) {
	boom := errors.New("publisher replaced")
	src, err := NewSource(bytes.NewReader(testdata.DemoMP4), WithClock(newVirtualClock()))
	if err != nil {
		t.Fatal(err)
	}
	err = src.Run(t.Context(), failingSink{boom})
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want it to wrap %v", err, boom)
	}
}

type failingSink struct{ err error }

func (s failingSink) WriteRTP(packager.Kind, *rtp.Packet, time.Time) error { return s.err }
func (failingSink) WriteSenderReport(packager.Kind, time.Time, uint32)     {}

// stallingClock is a virtual clock that loses stall once, at stallAt, as a
// suspended machine would.
type stallingClock struct {
	virtualClock
	stallAt time.Time
	stall   time.Duration
}

func (c *stallingClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := c.virtualClock.Sleep(ctx, d); err != nil {
		return err
	}
	if c.stall > 0 && !c.now.Before(c.stallAt) {
		c.now = c.now.Add(c.stall)
		c.stall = 0
	}
	return nil
}

func TestRunSkipsAheadWhenFarBehind(t *testing.T) {
	const stall = 10 * time.Second
	clock := &stallingClock{virtualClock: *newVirtualClock(), stall: stall}
	epoch := clock.Now()
	clock.stallAt = epoch.Add(1500 * time.Millisecond)
	src, err := NewSource(bytes.NewReader(testdata.DemoMP4), WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	sink := &recordingSink{stopAt: epoch.Add(stall + 3*time.Second), cancel: cancel}
	if err := src.Run(ctx, sink); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}

	video := sink.track(packager.KindVideo)
	gaps := 0
	perInstant := map[time.Time]map[uint32]bool{}
	for i, p := range video {
		if perInstant[p.arrival] == nil {
			perInstant[p.arrival] = map[uint32]bool{}
		}
		perInstant[p.arrival][p.pkt.Timestamp] = true
		if len(perInstant[p.arrival]) > 1 {
			t.Fatalf("packet %d: several frames sent at %v: the backlog went out in a burst", i, p.arrival)
		}
		if i > 0 && p.pkt.Timestamp != video[i-1].pkt.Timestamp {
			if step := p.pkt.Timestamp - video[i-1].pkt.Timestamp; step != VideoClockRate/30 {
				gaps++
				if lo, hi := uint32(stall.Seconds()*VideoClockRate), uint32((stall.Seconds()+0.1)*VideoClockRate); step < lo || step > hi {
					t.Fatalf("packet %d: timestamp step %d, want one frame or the ~%v stall", i, step, stall)
				}
			}
		}
	}
	if gaps != 1 {
		t.Fatalf("%d timestamp gaps, want exactly 1 (the stall)", gaps)
	}

	// Sender reports keep mapping every packet to the time it was sent, but
	// for the one frame that was due when the stall hit: it goes out late.
	var last senderReport
	r := 0
	late := map[uint32]bool{}
	for _, p := range video {
		for r < len(sink.reports) && !sink.reports[r].ntp.After(p.arrival) {
			if sink.reports[r].kind == packager.KindVideo {
				last = sink.reports[r]
			}
			r++
		}
		ticks := int64(int32(p.pkt.Timestamp - last.rtpTime))
		at := last.ntp.Add(time.Duration(ticks * int64(time.Second) / VideoClockRate))
		if d := at.Sub(p.arrival).Abs(); d > time.Millisecond {
			late[p.pkt.Timestamp] = true
			if at.After(p.arrival) || len(late) > 1 {
				t.Fatalf("packet at %v maps to %v through the report at %v", p.arrival, at, last.ntp)
			}
		}
	}
}
