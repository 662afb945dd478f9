package stream

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/gateway/demo"
	"github.com/frontrow-live/frontrow/packager"
	"github.com/frontrow-live/frontrow/testdata"
)

// newTestPublisher publishes video and audio on a registry whose stream
// epoch is epoch, with a recording sink. The audio bridge is off: these
// tests follow the publisher's own units (bridge_test.go has the bridge).
func newTestPublisher(t *testing.T, epoch time.Time, tracks packager.Tracks) (*Publisher, *recordingSink) {
	t.Helper()
	return newTestPublisherWith(t, epoch, tracks, Config{NoAudioBridge: true})
}

// newTestPublisherWith is newTestPublisher on a registry configured by cfg
// (its sink, logger, clock and grace period are the test's).
func newTestPublisherWith(t *testing.T, epoch time.Time, tracks packager.Tracks, cfg Config) (*Publisher, *recordingSink) {
	t.Helper()
	var made sinks
	cfg.GracePeriod, cfg.NewSink, cfg.Logger = time.Hour, made.newSink, discardLogger
	cfg.Now = func() time.Time { return epoch }
	r := NewRegistry(cfg)
	t.Cleanup(r.Close)
	p, err := r.Publish("live", PublishRequest{Tracks: tracks, Protocol: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Stream().Epoch().Equal(epoch) {
		t.Fatalf("stream epoch %v, want the registry clock's %v", p.Stream().Epoch(), epoch)
	}
	return p, made.last()
}

func writeAll(t *testing.T, p *Publisher, kind packager.Kind, pkts []*rtp.Packet, arrival time.Time) {
	t.Helper()
	for _, pkt := range pkts {
		if err := p.WriteRTP(kind, pkt, arrival); err != nil {
			t.Fatalf("WriteRTP: %v", err)
		}
	}
}

// Without sender reports, each track waits syncFallback and then takes its
// clock from arrival; arrival times are injected, so PTS is exact.
func TestPublisherUnitsWithoutSenderReports(t *testing.T) {
	epoch := gwBase
	p, sink := newTestPublisher(t, epoch, videoAudio())
	var seq uint16 = 500
	key := [][]byte{testSPS, testPPS, nalu(hdrIDR, 2500)}
	inter := nalu(hdrNonIDR, 700)

	// Before syncFallback: nothing reaches the packager.
	writeAll(t, p, packager.KindVideo, h264Packets(&seq, 1000, 1200, true, key...), epoch.Add(time.Second))
	// After it: anchored at this unit's arrival.
	writeAll(t, p, packager.KindVideo, h264Packets(&seq, 1000+90000, 1200, true, key...), epoch.Add(3*time.Second))
	// Then the RTP clock rules, whatever the arrival jitter.
	writeAll(t, p, packager.KindVideo, h264Packets(&seq, 1000+90000+9000, 1200, true, inter), epoch.Add(10*time.Second))

	var aseq uint16 = 7
	audio := func(ts uint32, at time.Duration) {
		pkt := &rtp.Packet{Header: rtp.Header{SequenceNumber: aseq, Timestamp: ts}, Payload: []byte{0xfc, 1, 2}}
		aseq++
		if err := p.WriteRTP(packager.KindAudio, pkt, epoch.Add(at)); err != nil {
			t.Fatal(err)
		}
	}
	audio(48000, 500*time.Millisecond)
	audio(48000+96000, 2500*time.Millisecond)
	audio(48000+96000+960, 9*time.Second)

	video := sink.unitsOf(packager.KindVideo)
	wantVideo := []struct {
		pts   time.Duration
		key   bool
		nalus [][]byte
	}{
		{3 * time.Second, true, key},
		{3*time.Second + 100*time.Millisecond, false, [][]byte{inter}},
	}
	if len(video) != len(wantVideo) {
		t.Fatalf("%d video units, want %d", len(video), len(wantVideo))
	}
	for i, w := range wantVideo {
		u := video[i]
		if u.PTS != w.pts || u.DTS != w.pts || u.Keyframe != w.key || !equalNALUs(u.NALUs, w.nalus) {
			t.Errorf("video unit %d: pts %v dts %v key %v, %d nalus; want pts=dts=%v key %v, %d nalus",
				i, u.PTS, u.DTS, u.Keyframe, len(u.NALUs), w.pts, w.key, len(w.nalus))
		}
	}
	if !video[1].Arrival.Equal(epoch.Add(10 * time.Second)) {
		t.Errorf("video unit arrival %v, want the packet's", video[1].Arrival)
	}
	audioUnits := sink.unitsOf(packager.KindAudio)
	wantAudio := []time.Duration{2500 * time.Millisecond, 2520 * time.Millisecond}
	if len(audioUnits) != len(wantAudio) {
		t.Fatalf("%d audio units, want %d", len(audioUnits), len(wantAudio))
	}
	for i, w := range wantAudio {
		u := audioUnits[i]
		if u.PTS != w || u.DTS != w || !u.Keyframe || !bytes.Equal(u.Payload, []byte{0xfc, 1, 2}) {
			t.Errorf("audio unit %d: pts %v dts %v key %v payload % x; want pts=dts=%v, a keyframe with the packet's payload",
				i, u.PTS, u.DTS, u.Keyframe, u.Payload, w)
		}
	}
	if p.Stream().BFrames() {
		t.Error("BFrames set for a stream without B-frames")
	}
}

// With sender reports, both tracks map through one offset: units captured
// together get the same PTS, on the stream clock since the epoch.
func TestPublisherUnitsFromSenderReports(t *testing.T) {
	epoch := time.Now()
	p, sink := newTestPublisher(t, epoch, videoAudio())
	ntp := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	const vRTP, aRTP = 3_000_000_000, 12345

	before := time.Now()
	p.WriteSenderReport(packager.KindVideo, ntp, vRTP)
	p.WriteSenderReport(packager.KindAudio, ntp.Add(40*time.Millisecond), aRTP)
	after := time.Now()

	// Video and audio captured at ntp+100ms; a P frame 100 ms later.
	var seq uint16 = 65530 // wraps inside the keyframe
	writeAll(t, p, packager.KindVideo, h264Packets(&seq, vRTP+9000, 1200, true, testSPS, testPPS, nalu(hdrIDR, 9000)), time.Now())
	writeAll(t, p, packager.KindVideo, h264Packets(&seq, vRTP+18000, 1200, true, nalu(hdrNonIDR, 800)), time.Now())
	if err := p.WriteRTP(packager.KindAudio, &rtp.Packet{
		Header: rtp.Header{SequenceNumber: 1, Timestamp: aRTP + 2880}, Payload: []byte{0xfc},
	}, time.Now()); err != nil {
		t.Fatal(err)
	}

	video, audio := sink.unitsOf(packager.KindVideo), sink.unitsOf(packager.KindAudio)
	if len(video) != 2 || len(audio) != 1 {
		t.Fatalf("%d video and %d audio units, want 2 and 1", len(video), len(audio))
	}
	if video[0].PTS != audio[0].PTS {
		t.Fatalf("video PTS %v, audio PTS %v: the SRs say they were captured together", video[0].PTS, audio[0].PTS)
	}
	// The SR maps to when it reached the gateway, which the test brackets.
	lo, hi := before.Sub(epoch)+100*time.Millisecond, after.Sub(epoch)+100*time.Millisecond
	if video[0].PTS < lo || video[0].PTS > hi {
		t.Fatalf("video PTS %v outside [%v, %v]", video[0].PTS, lo, hi)
	}
	if d := video[1].PTS - video[0].PTS; d != 100*time.Millisecond {
		t.Fatalf("P frame %v after the keyframe, want 100ms", d)
	}
	if !video[0].Keyframe || video[1].Keyframe {
		t.Fatalf("keyframe flags %v %v, want true false", video[0].Keyframe, video[1].Keyframe)
	}
	for _, u := range video {
		if u.DTS != u.PTS {
			t.Fatalf("DTS %v != PTS %v without B-frames", u.DTS, u.PTS)
		}
	}
}

// Units whose capture time falls before the stream epoch are dropped, not
// given a negative time.
func TestPublisherDropsUnitsBeforeEpoch(t *testing.T) {
	epoch := gwBase
	p, sink := newTestPublisher(t, epoch, packager.Tracks{Video: &packager.VideoInfo{}})
	var seq uint16
	key := [][]byte{testSPS, testPPS, nalu(hdrIDR, 100)}
	writeAll(t, p, packager.KindVideo, h264Packets(&seq, 0, 1200, true, key...), epoch.Add(-5*time.Second))
	// Anchored at epoch-2s: PTS -2s, dropped.
	writeAll(t, p, packager.KindVideo, h264Packets(&seq, 270000, 1200, true, key...), epoch.Add(-2*time.Second))
	// 3 s of RTP clock later: PTS 1s.
	writeAll(t, p, packager.KindVideo, h264Packets(&seq, 540000, 1200, true, key...), epoch.Add(time.Second))
	video := sink.unitsOf(packager.KindVideo)
	if len(video) != 1 || video[0].PTS != time.Second {
		t.Fatalf("units %+v, want one at PTS 1s", video)
	}
}

func TestPublisherWriteErrors(t *testing.T) {
	p, _ := newTestPublisher(t, time.Now(), packager.Tracks{Audio: &packager.AudioInfo{Codec: packager.CodecOpus}})
	if err := p.WriteRTP(packager.KindVideo, &rtp.Packet{Payload: []byte{0x65}}, time.Now()); err == nil {
		t.Fatal("WriteRTP of video to an audio-only publisher succeeded")
	}
	// Sender reports for a track it does not have are ignored.
	p.WriteSenderReport(packager.KindVideo, time.Now(), 0)
	p.Close()
	p.Close()
	if err := p.WriteRTP(packager.KindAudio, &rtp.Packet{Payload: []byte{1}}, time.Now()); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteRTP after Close = %v, want ErrClosed", err)
	}
}

// virtualClock lets demo.Source play a file as fast as the publisher takes it.
type virtualClock struct{ now time.Time }

func (c *virtualClock) Now() time.Time { return c.now }

func (c *virtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}

// playFile publishes an MP4 through demo.Source (RTP and sender reports, as
// a WHIP publisher sends them) until the sink has videoUnits video units.
// The stream began age before the file starts playing.
func playFile(t *testing.T, file []byte, videoUnits int, age time.Duration) (*Publisher, *recordingSink, []demo.Sample) {
	t.Helper()
	return playFileWith(t, file, videoUnits, age, Config{NoAudioBridge: true})
}

// playFileWith is playFile on a registry configured by cfg.
func playFileWith(t *testing.T, file []byte, videoUnits int, age time.Duration, cfg Config) (*Publisher, *recordingSink, []demo.Sample) {
	t.Helper()
	clock := &virtualClock{now: time.Now()}
	src, err := demo.NewSource(bytes.NewReader(file), demo.WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	p, sink := newTestPublisherWith(t, clock.now.Add(-age), src.Tracks(), cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	sink.onUnit = func(u packager.Unit) {
		if u.Kind == packager.KindVideo {
			if n++; n == videoUnits {
				cancel()
			}
		}
	}
	if err := src.Run(ctx, p); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	return p, sink, src.Samples()
}

// The B-frames file through the whole ingest path: the stream learns it has
// B-frames, decode times come out monotonic and before presentation times,
// and PTS keeps the file's presentation timeline for both tracks.
func TestPublisherBFrames(t *testing.T) {
	// A stream 30 hours old: its clock is past where d*90000 overflows int64.
	for _, age := range []time.Duration{0, 30 * time.Hour} {
		t.Run("stream age "+age.String(), func(t *testing.T) { testBFrames(t, age) })
	}
}

func testBFrames(t *testing.T, age time.Duration) {
	p, sink, samples := playFile(t, testdata.BFramesMP4, 45, age)
	if !p.Stream().BFrames() {
		t.Fatal("BFrames() false for H264 with B-frames")
	}
	video := sink.unitsOf(packager.KindVideo)
	var fileVideo []demo.Sample
	for _, s := range samples {
		if s.Kind == packager.KindVideo {
			fileVideo = append(fileVideo, s)
		}
	}
	if !video[0].Keyframe {
		t.Fatal("first video unit is not a keyframe")
	}
	if video[0].PTS < age {
		t.Fatalf("first PTS %v, want after the stream's age %v", video[0].PTS, age)
	}
	reordered := false
	for i, u := range video {
		if u.DTS > u.PTS {
			t.Fatalf("unit %d: DTS %v after PTS %v", i, u.DTS, u.PTS)
		}
		if i > 0 && u.DTS <= video[i-1].DTS {
			t.Fatalf("unit %d: DTS %v not after the previous %v", i, u.DTS, video[i-1].DTS)
		}
		reordered = reordered || u.DTS != u.PTS
		// The file's presentation timeline, shifted by one offset.
		got := u.PTS - video[0].PTS
		want := fileVideo[i].PTS - fileVideo[0].PTS
		if d := got - want; d < -time.Millisecond || d > time.Millisecond {
			t.Fatalf("unit %d: PTS %v after the first, the file says %v", i, got, want)
		}
	}
	if !reordered {
		t.Fatal("no unit with DTS != PTS")
	}
	checkAudioAligned(t, sink, samples, video[0].PTS-fileVideo[0].PTS)
}

func TestPublisherNoBFrames(t *testing.T) {
	p, sink, samples := playFile(t, testdata.DemoMP4, 40, 0)
	if p.Stream().BFrames() {
		t.Fatal("BFrames() true for a baseline stream")
	}
	video := sink.unitsOf(packager.KindVideo)
	for i, u := range video {
		if u.DTS != u.PTS {
			t.Fatalf("unit %d: DTS %v != PTS %v without B-frames", i, u.DTS, u.PTS)
		}
	}
	i := slices.IndexFunc(samples, func(s demo.Sample) bool { return s.Kind == packager.KindVideo })
	checkAudioAligned(t, sink, samples, video[0].PTS-samples[i].PTS)
}

// checkAudioAligned checks that every audio unit sits where the file puts
// it relative to the video: the same offset maps both tracks.
func checkAudioAligned(t *testing.T, sink *recordingSink, samples []demo.Sample, offset time.Duration) {
	t.Helper()
	var filePTS []time.Duration
	for _, s := range samples {
		if s.Kind == packager.KindAudio {
			filePTS = append(filePTS, s.PTS)
		}
	}
	audio := sink.unitsOf(packager.KindAudio)
	if len(audio) == 0 {
		t.Fatal("no audio units")
	}
	for i, u := range audio {
		media := u.PTS - offset
		j, _ := slices.BinarySearch(filePTS, media)
		best := time.Hour
		for _, k := range []int{j - 1, j} {
			if k >= 0 && k < len(filePTS) {
				best = min(best, (media - filePTS[k]).Abs())
			}
		}
		if best > time.Millisecond {
			t.Fatalf("audio unit %d at media time %v: no audio sample of the file within 1ms", i, media)
		}
	}
}

// The stream clock is a Duration since the stream's epoch, and a stream
// lives as long as its publishers keep coming back: the 90 kHz conversions
// must hold for days, not only for the first 28 hours (where d*90000
// overflows int64).
func TestConvert90k(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		d     time.Duration
		ticks int64
	}{
		{0, 0},
		{time.Second, 90000},
		{time.Second / 30, 2999}, // 33333333ns is a hair under 3000 ticks
		{100 * time.Millisecond, 9000},
		{11111, 0}, // just under one tick: truncated
		{11112, 1},
		{-time.Second, -90000},
		{28 * time.Hour, 28 * 3600 * 90000},
		{30 * time.Hour, 30 * 3600 * 90000},
		{365 * day, 365 * 24 * 3600 * 90000},
		{365*day + 100*time.Millisecond, 365*24*3600*90000 + 9000},
	}
	for _, tc := range tests {
		if got := durationTo90k(tc.d); got != tc.ticks {
			t.Errorf("durationTo90k(%v) = %d, want %d", tc.d, got, tc.ticks)
		}
		back := from90k(tc.ticks)
		if diff := tc.d - back; diff < 0 || diff >= time.Second/90000+1 {
			t.Errorf("from90k(%d) = %v, want within one tick below %v", tc.ticks, back, tc.d)
		}
	}
}

// TestKeyframeInterval: a publisher whose encoder sends keyframes only on
// request (a browser) is asked for one about every KeyframeInterval, so HLS
// segments can start on keyframes; one that sends them by itself is not.
func TestKeyframeInterval(t *testing.T) {
	for _, tc := range []struct {
		name     string
		gop      int // frames between keyframes at 30 fps; 0: only the first
		interval time.Duration
		min, max int // keyframe requests over 3 s of video
	}{
		// At 1 s, then every 500 ms (the rate limit) while unanswered.
		{"encoder never sends keyframes", 0, time.Second, 4, 5},
		{"encoder GOP of 1 s", 30, time.Second, 0, 0},
		{"no interval configured", 0, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requests := 0
			r := NewRegistry(Config{
				GracePeriod: time.Hour, Logger: discardLogger, KeyframeInterval: tc.interval,
				Now: func() time.Time { return gwBase },
			})
			defer r.Close()
			p, err := r.Publish("live", PublishRequest{
				Tracks: packager.Tracks{Video: &packager.VideoInfo{}}, RequestKeyframe: func() { requests++ },
			})
			if err != nil {
				t.Fatal(err)
			}
			p.WriteSenderReport(packager.KindVideo, gwBase, 0) // anchor the clock at once
			var seq uint16
			for i := 0; i <= 90; i++ {
				frame := [][]byte{nalu(hdrNonIDR, 300)}
				if i == 0 || (tc.gop > 0 && i%tc.gop == 0) {
					frame = [][]byte{testSPS, testPPS, nalu(hdrIDR, 600)}
				}
				at := gwBase.Add(time.Duration(i) * time.Second / 30)
				r.cfg.Now = func() time.Time { return at }
				writeAll(t, p, packager.KindVideo, h264Packets(&seq, uint32(i*3000), 1200, true, frame...), at)
			}
			if requests < tc.min || requests > tc.max {
				t.Errorf("%d keyframe requests over 3 s, want %d to %d", requests, tc.min, tc.max)
			}
		})
	}
}
