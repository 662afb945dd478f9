package packager

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

func TestConfig(t *testing.T) {
	cases := []struct {
		name    string
		cfg     Config
		wantErr bool
		wantTD  time.Duration
	}{
		{name: "defaults", wantTD: 2 * time.Second},
		{name: "2 s segments", cfg: Config{SegmentTarget: 2 * time.Second}, wantTD: 4 * time.Second},
		{name: "1.2 s segments round up", cfg: Config{SegmentTarget: 1200 * time.Millisecond}, wantTD: 3 * time.Second},
		{name: "negative part", cfg: Config{PartTarget: -time.Millisecond}, wantErr: true},
		{name: "segment shorter than part", cfg: Config{PartTarget: time.Second, SegmentTarget: 500 * time.Millisecond}, wantErr: true},
		{name: "window below 3 TD", cfg: Config{Window: 5 * time.Second}, wantErr: true},
		{name: "negative timeout", cfg: Config{BlockTimeout: -1}, wantErr: true},
		{name: "bad id", cfg: Config{ID: "a_b"}, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := NewMuxer(tc.cfg)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %t", err, tc.wantErr)
			}
			if err == nil && m.TargetDuration() != tc.wantTD {
				t.Fatalf("TARGETDURATION %v, want %v", m.TargetDuration(), tc.wantTD)
			}
		})
	}
}

// TestCutting checks where parts and segments end, for several stream shapes.
func TestCutting(t *testing.T) {
	cases := []struct {
		name         string
		cfg          Config
		fps, gop     int
		video, audio bool
		wantSeg      time.Duration // every closed segment but the forced ones
		wantParts    int           // parts per segment
		wantForced   bool          // GOP > TD: segments are cut at TD, then at the next keyframe
		jitter       bool
	}{
		{name: "30 fps, 1 s GOP, audio", fps: 30, gop: 30, video: true, audio: true, wantSeg: time.Second, wantParts: 5},
		{name: "25 fps, 2 s GOP", fps: 25, gop: 50, video: true, wantSeg: 2 * time.Second, wantParts: 10},
		{name: "keyframes every 0.5 s, segments still 1 s", fps: 30, gop: 15, video: true, audio: true, wantSeg: time.Second, wantParts: 5},
		{name: "irregular frame durations", fps: 30, gop: 30, video: true, jitter: true, wantSeg: time.Second, wantParts: 5},
		{name: "30 fps, 300 ms parts, 2 s segments", cfg: Config{PartTarget: 300 * time.Millisecond, SegmentTarget: 2 * time.Second},
			fps: 30, gop: 60, video: true, audio: true, wantSeg: 2 * time.Second, wantParts: 7},
		{name: "GOP longer than TARGETDURATION", fps: 30, gop: 90, video: true, audio: true, wantSeg: 2 * time.Second, wantParts: 10, wantForced: true},
		{name: "audio only", audio: true, fps: 1, gop: 1, wantSeg: time.Second, wantParts: 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGen(tc.fps, tc.gop, tc.video, tc.audio)
			g.jitter = tc.jitter
			m := newTestMuxer(t, tc.cfg, g)
			g.write(t, m, 12*time.Second)
			for _, r := range renditions(m) {
				pl, _ := media(t, m, r, Request{})
				if len(pl.Segments) < 5 {
					t.Fatalf("%s: only %d segments", r, len(pl.Segments))
				}
				for i, s := range pl.Segments[:len(pl.Segments)-1] {
					if tc.wantForced && s.Duration < tc.wantSeg {
						// the remainder of a 3 s GOP after a forced cut at 2 s
						if s.Duration < time.Second-opusFrame || s.Duration > time.Second+opusFrame {
							t.Errorf("%s segment %d lasts %v, want 2 s or the 1 s remainder", r, i, s.Duration)
						}
						continue
					}
					if r == RenditionAudio && tc.video {
						// audio follows video's cuts to within one audio frame
						if d := s.Duration - tc.wantSeg; d > opusFrame || d < -opusFrame {
							t.Errorf("%s segment %d lasts %v, want %v +- 20 ms", r, i, s.Duration, tc.wantSeg)
						}
						continue
					}
					if s.Duration != tc.wantSeg {
						t.Errorf("%s segment %d lasts %v, want %v", r, i, s.Duration, tc.wantSeg)
					}
					if len(s.Parts) > 0 && len(s.Parts) != tc.wantParts && !tc.jitter {
						t.Errorf("%s segment %d has %d parts, want %d", r, i, len(s.Parts), tc.wantParts)
					}
					if r == RenditionVideo && len(s.Parts) > 0 && !s.Parts[0].Independent && !tc.wantForced {
						t.Errorf("segment %d does not start with an INDEPENDENT part", i)
					}
				}
			}
			if got := m.Stats().ForcedCuts > 0; got != tc.wantForced {
				t.Errorf("forced cuts: %d, want some: %t", m.Stats().ForcedCuts, tc.wantForced)
			}
			if tc.video && tc.audio {
				checkAligned(t, m)
			}
		})
	}
}

func renditions(m *Muxer) []string {
	var out []string
	for _, t := range m.order {
		out = append(out, t.name)
	}
	return out
}

// checkAligned: both renditions number segments alike and start them at
// (nearly) the same time, so players can switch and rendition reports agree.
func checkAligned(t *testing.T, m *Muxer) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.video.segments {
		a := m.audio.segment(v.msn)
		if a == nil {
			continue
		}
		if d := a.start - v.start; d < 0 || d >= opusFrame {
			t.Errorf("segment %d: audio starts %v after video", v.msn, d)
		}
	}
	if m.audio.msn != m.video.msn {
		t.Errorf("MSN in progress: audio %d, video %d", m.audio.msn, m.video.msn)
	}
}

// TestSegmentIsItsParts: a segment's bytes are its parts' bytes, so both
// hold the same samples, and the CMAF reader finds every sample in order.
func TestSegmentIsItsParts(t *testing.T) {
	g := newGen(30, 30, true, true)
	g.bframes = true
	m := newTestMuxer(t, Config{}, g)
	g.write(t, m, 5*time.Second)
	ctx := context.Background()
	for _, r := range renditions(m) {
		pl, _ := media(t, m, r, Request{})
		var prevEnd uint64
		for _, s := range pl.Segments {
			seg, err := m.File(ctx, s.URI)
			if err != nil {
				t.Fatal(err)
			}
			var cat []byte
			for _, p := range s.Parts {
				f, err := m.File(ctx, p.URI)
				if err != nil {
					t.Fatal(err)
				}
				cat = append(cat, f.Body...)
			}
			if !bytes.Equal(seg.Body, cat) {
				t.Fatalf("%s: segment %s is not the concatenation of its parts", r, s.URI)
			}
			var parts fmp4.Parts
			if err := parts.Unmarshal(seg.Body); err != nil {
				t.Fatal(err)
			}
			if len(parts) != len(s.Parts) {
				t.Fatalf("%s: %d fragments, %d parts", r, len(parts), len(s.Parts))
			}
			for _, p := range parts {
				tr := p.Tracks[0]
				if prevEnd != 0 && tr.BaseTime != prevEnd {
					t.Fatalf("%s: fragment starts at %d, previous ended at %d", r, tr.BaseTime, prevEnd)
				}
				prevEnd = tr.BaseTime
				for _, smp := range tr.Samples {
					prevEnd += uint64(smp.Duration)
				}
			}
		}
	}
}

// TestBFrames: composition offsets survive, so PTS order is kept.
func TestBFrames(t *testing.T) {
	g := newGen(30, 30, true, false)
	g.bframes = true
	m := newTestMuxer(t, Config{}, g)
	var fed []Unit
	for i := 0; i < 90; i++ {
		u := g.next()
		fed = append(fed, u)
		if err := m.WriteUnit(u); err != nil {
			t.Fatal(err)
		}
	}
	pl, _ := media(t, m, RenditionVideo, Request{})
	i := 0
	for _, s := range pl.Segments {
		f, err := m.File(context.Background(), s.URI)
		if err != nil {
			t.Fatal(err)
		}
		var parts fmp4.Parts
		if err := parts.Unmarshal(f.Body); err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			dts := int64(p.Tracks[0].BaseTime)
			for _, smp := range p.Tracks[0].Samples {
				u := fed[i]
				gotPTS := time.Duration((dts + int64(smp.PTSOffset)) * int64(time.Second) / 90000)
				if d := gotPTS - u.PTS; d > 20*time.Microsecond || d < -20*time.Microsecond {
					t.Fatalf("sample %d: PTS %v, fed %v", i, gotPTS, u.PTS)
				}
				if smp.IsNonSyncSample == u.Keyframe {
					t.Fatalf("sample %d: sync flag wrong", i)
				}
				dts += int64(smp.Duration)
				i++
			}
		}
	}
	if i < 60 {
		t.Fatalf("only %d samples checked", i)
	}
}

// TestStableTags: TARGETDURATION, PART-INF and SERVER-CONTROL never change,
// whatever the stream does, and are the same in every rendition.
func TestStableTags(t *testing.T) {
	g := newGen(30, 30, true, true)
	m := newTestMuxer(t, Config{}, g)
	seen := map[string]bool{}
	look := func() {
		for _, r := range renditions(m) {
			_, raw := media(t, m, r, Request{})
			var tags []string
			for _, l := range strings.Split(raw, "\n") {
				if strings.HasPrefix(l, "#EXT-X-TARGETDURATION") || strings.HasPrefix(l, "#EXT-X-SERVER-CONTROL") ||
					strings.HasPrefix(l, "#EXT-X-PART-INF") || strings.HasPrefix(l, "#EXT-X-VERSION") {
					tags = append(tags, l)
				}
			}
			seen[strings.Join(tags, "|")] = true
		}
	}
	g.write(t, m, 3*time.Second)
	look()
	g.gop = 75 // longer GOP: forced cuts
	g.write(t, m, 9*time.Second)
	look()
	if err := m.SetTracks(Tracks{Video: &VideoInfo{}, Audio: &AudioInfo{Codec: CodecOpus, SampleRate: 48000, Channels: 1}}); err != nil {
		t.Fatal(err)
	}
	g.gop, g.sps, g.pps = 30, testSPSHigh, testPPSHigh
	g.write(t, m, 14*time.Second)
	look()
	m.End()
	look()
	if len(seen) != 1 {
		t.Fatalf("tags changed during the stream: %v", seen)
	}
}

// TestDiscontinuity covers publisher reconnects and codec changes.
func TestDiscontinuity(t *testing.T) {
	cases := []struct {
		name       string
		reconnect  bool
		restartDTS bool // the new publication's clock starts again at 0
		newSPS     bool // new video parameter sets
		audio      *AudioInfo
		wantMaps   []bool // per rendition (video, audio): new EXT-X-MAP expected
	}{
		{name: "reconnect, same codecs", reconnect: true, wantMaps: []bool{false, false}},
		{name: "reconnect, clock restarts", reconnect: true, restartDTS: true, wantMaps: []bool{false, false}},
		{name: "reconnect, new video codec", reconnect: true, newSPS: true, wantMaps: []bool{true, false}},
		{name: "reconnect, mono audio", reconnect: true, audio: &AudioInfo{Codec: CodecOpus, SampleRate: 48000, Channels: 1}, wantMaps: []bool{false, true}},
		{name: "SPS change mid-publication", newSPS: true, wantMaps: []bool{true, false}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGen(30, 30, true, true)
			m := newTestMuxer(t, Config{}, g)
			g.write(t, m, 3100*time.Millisecond)
			before := map[string]*playlist.Media{}
			for _, r := range renditions(m) {
				before[r], _ = media(t, m, r, Request{})
			}
			if tc.reconnect {
				tr := tracksOf(g)
				if tc.audio != nil {
					tr.Audio = tc.audio
				}
				if err := m.SetTracks(tr); err != nil {
					t.Fatal(err)
				}
				// A gap, and video starts on the next keyframe.
				for g.vi%g.gop != 0 {
					g.vi++
				}
				for g.audioDTS() < g.videoDTS() {
					g.ai++
				}
			}
			if tc.restartDTS {
				g.base = -g.videoDTS() + g.base
			}
			if tc.newSPS {
				for g.vi%g.gop != 0 {
					_ = m.WriteUnit(g.next())
				}
				g.sps, g.pps = testSPSHigh, testPPSHigh
			}
			// Parts of the new segment in progress show the discontinuity too.
			g.nextPart(t, m, RenditionVideo)
			g.nextPart(t, m, RenditionVideo)
			_, raw := media(t, m, RenditionVideo, Request{})
			if i, j := strings.LastIndex(raw, "#EXT-X-DISCONTINUITY\n"), strings.LastIndex(raw, "#EXTINF"); i < j {
				t.Fatalf("no EXT-X-DISCONTINUITY before the parts in progress:\n%s", raw)
			}
			g.write(t, m, g.videoDTS()-g.base+3*time.Second)
			for ri, r := range renditions(m) {
				pl, raw := media(t, m, r, Request{})
				n := strings.Count(raw, "#EXT-X-DISCONTINUITY\n")
				if n != 1 {
					t.Fatalf("%s: %d discontinuities, want 1:\n%s", r, n, raw)
				}
				maps := strings.Count(raw, "#EXT-X-MAP:")
				if wantNew := tc.wantMaps[ri]; (maps == 2) != wantNew {
					t.Fatalf("%s: %d EXT-X-MAP tags, want a new one: %t\n%s", r, maps, wantNew, raw)
				}
				if tc.wantMaps[ri] {
					uri := r + "_t_init1.mp4"
					if !strings.Contains(raw, "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\""+uri+"\"") {
						t.Fatalf("%s: new init not announced after the discontinuity:\n%s", r, raw)
					}
					if _, err := m.File(context.Background(), uri); err != nil {
						t.Fatalf("new init %s: %v", uri, err)
					}
				}
				if pl.TargetDuration != before[r].TargetDuration || *pl.ServerControl.PartHoldBack != *before[r].ServerControl.PartHoldBack {
					t.Fatalf("%s: tags changed across the discontinuity", r)
				}
			}
			if tc.newSPS {
				resp, err := m.Multivariant(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(string(resp.Body), "avc1.64001e") {
					t.Fatalf("multivariant does not name the new codec:\n%s", resp.Body)
				}
			}
			// Media time keeps rising across the discontinuity.
			checkTimeline(t, m)
		})
	}
}

// checkTimeline asserts fragments' decode times rise across every segment.
func checkTimeline(t *testing.T, m *Muxer) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, tr := range m.order {
		var prev uint64
		var prevTS uint32
		for _, s := range tr.segments {
			var parts fmp4.Parts
			if err := parts.Unmarshal(s.body); err != nil {
				t.Fatal(err)
			}
			base := parts[0].Tracks[0].BaseTime
			if prevTS == s.init.timescale && base < prev {
				t.Fatalf("%s segment %d decodes at %d, before %d", tr.name, s.msn, base, prev)
			}
			prev, prevTS = base, s.init.timescale
		}
	}
}

// TestWindow: the playlist slides, MEDIA-SEQUENCE rises, parts leave the
// playlist after 3 TD yet stay downloadable 3 TD more, removed segments stay
// downloadable one more window, and DISCONTINUITY-SEQUENCE counts removed
// discontinuities.
func TestWindow(t *testing.T) {
	g := newGen(30, 30, true, false)
	const td = 2 * time.Second
	const window = 4 * td
	m := newTestMuxer(t, Config{Window: window}, g)
	g.write(t, m, 5*time.Second)
	if err := m.SetTracks(tracksOf(g)); err != nil {
		t.Fatal(err)
	}
	g.write(t, m, 40*time.Second+50*time.Millisecond) // segments 0-39 closed; 39 ends at 40 s
	ctx := context.Background()

	pl, raw := media(t, m, RenditionVideo, Request{})
	var listed time.Duration
	for _, s := range pl.Segments {
		listed += s.Duration
	}
	if listed < window || listed >= window+time.Second {
		t.Fatalf("playlist lists %v, want the %v window\n%s", listed, window, raw)
	}
	if pl.MediaSequence != firstMSN+40-len(pl.Segments) {
		t.Fatalf("MEDIA-SEQUENCE %d after 40 one-second segments and %d listed", pl.MediaSequence, len(pl.Segments))
	}
	if pl.DiscontinuitySequence == nil || *pl.DiscontinuitySequence != 1 {
		t.Fatalf("the discontinuity at 5 s left the window; want DISCONTINUITY-SEQUENCE:1\n%s", raw)
	}
	const edgeEnd = 40 * time.Second
	for _, s := range pl.Segments {
		end := s.DateTime.Sub(testEpoch) + s.Duration
		if listedParts := len(s.Parts) > 0; listedParts != (end > edgeEnd-3*td) {
			t.Fatalf("segment ending at %v lists parts: %t\n%s", end, listedParts, raw)
		}
	}
	cases := []struct {
		name  string
		found bool
	}{
		{segmentName("video", "t", 30), true},  // listed
		{partName("video", "t", 30, 0), true},  // ended 9 s ago: unlisted (> 3 TD), downloadable (< 6 TD)
		{segmentName("video", "t", 26), true},  // left the window, within one more window
		{partName("video", "t", 26, 0), false}, // ended 13 s ago: > 6 TD
		{segmentName("video", "t", 20), false}, // ended 19 s ago: > 2 windows
	}
	for _, tc := range cases {
		_, err := m.File(ctx, tc.name)
		if found := err == nil; found != tc.found || (err != nil && !errors.Is(err, ErrNotFound)) {
			t.Errorf("%s: err %v, want found %t", tc.name, err, tc.found)
		}
	}
}

// TestDeltaUpdate: _HLS_skip replaces the segments older than CAN-SKIP-UNTIL
// with EXT-X-SKIP, alone or with _HLS_msn.
func TestDeltaUpdate(t *testing.T) {
	g := newGen(30, 30, true, true)
	m := newTestMuxer(t, Config{}, g)
	g.write(t, m, 40*time.Second)
	full, _ := media(t, m, RenditionVideo, Request{})
	delta, raw := media(t, m, RenditionVideo, Request{Skip: true})
	if delta.Skip == nil {
		t.Fatalf("no EXT-X-SKIP:\n%s", raw)
	}
	n := delta.Skip.SkippedSegments
	if n+len(delta.Segments) != len(full.Segments) || delta.MediaSequence != full.MediaSequence {
		t.Fatalf("skipped %d + %d listed != %d", n, len(delta.Segments), len(full.Segments))
	}
	var kept time.Duration
	for _, s := range delta.Segments {
		kept += s.Duration
	}
	edge := full.Segments[len(full.Segments)-1]
	skipUntil := 6 * m.TargetDuration()
	if kept < skipUntil-time.Second || n == 0 {
		t.Fatalf("delta keeps %v of segments, want the last CAN-SKIP-UNTIL (%v)", kept, skipUntil)
	}
	if delta.Segments[0].URI != full.Segments[n].URI || edge.URI != delta.Segments[len(delta.Segments)-1].URI {
		t.Fatal("delta update does not end like the full playlist")
	}
	// Combined with a blocking request.
	h := hookWaiters(m)
	msn, parts := edge2(m)
	res := playlistAsync(m, RenditionVideo, Request{Block: true, MSN: msn, HasPart: true, Part: parts, Skip: true})
	h.await(t, 1)
	g.nextPart(t, m, RenditionVideo)
	r, done := settle(t, h, res)
	if !done || r.err != nil {
		t.Fatalf("blocking delta request: done %t err %v", done, r.err)
	}
	var pl playlist.Media
	if err := pl.Unmarshal(r.resp.Body); err != nil || pl.Skip == nil {
		t.Fatalf("blocking delta request got no delta update: %v\n%s", err, r.resp.Body)
	}
	if !strings.Contains(string(r.resp.Body), partName("video", "t", msn, parts)) {
		t.Fatalf("answer lacks the part it waited for:\n%s", r.resp.Body)
	}
}

func edge2(m *Muxer) (int, int) { return edge(m, RenditionVideo) }

// TestMultivariant: BANDWIDTH from bytes, CODECS of both tracks,
// RESOLUTION, FRAME-RATE, and the audio rendition group.
func TestMultivariant(t *testing.T) {
	cases := []struct {
		name         string
		video, audio bool
		want         []string
	}{
		{"video and audio", true, true, []string{`CODECS="avc1.42c01e,opus"`, "RESOLUTION=640x360", "FRAME-RATE=30.000", `AUDIO="audio"`,
			`#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"`, `URI="audio.m3u8"`, "\nvideo.m3u8\n"}},
		{"audio only", false, true, []string{`CODECS="opus"`, "\naudio.m3u8\n"}},
		{"video only", true, false, []string{`CODECS="avc1.42c01e"`, "\nvideo.m3u8\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGen(30, 30, tc.video, tc.audio)
			m := newTestMuxer(t, Config{}, g)
			g.write(t, m, 4*time.Second)
			resp, err := m.Multivariant(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var mv playlist.Multivariant
			if err := mv.Unmarshal(resp.Body); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(resp.Body), w) {
					t.Errorf("multivariant lacks %q:\n%s", w, resp.Body)
				}
			}
			// BANDWIDTH is the peak segment bit rate of the renditions together.
			var want float64
			for _, tr := range m.order {
				var peak float64
				for _, s := range tr.segments {
					peak = math.Max(peak, float64(len(s.body)*8)/s.duration.Seconds())
				}
				want += peak
			}
			if got := float64(mv.Variants[0].Bandwidth); math.Abs(got-want) > 2 {
				t.Errorf("BANDWIDTH %v, want %v", got, want)
			}
		})
	}
}

func TestWriteUnitErrors(t *testing.T) {
	g := newGen(30, 30, true, false)
	m := newTestMuxer(t, Config{}, nil)
	if err := m.WriteUnit(g.next()); !errors.Is(err, ErrNoTracks) {
		t.Fatalf("before SetTracks: %v", err)
	}
	if err := m.SetTracks(Tracks{}); err == nil {
		t.Fatal("SetTracks without tracks must fail")
	}
	if err := m.SetTracks(tracksOf(g)); err != nil {
		t.Fatal(err)
	}
	// Units before the first keyframe are dropped, not written.
	g.vi = 5
	for i := 0; i < 10; i++ {
		if err := m.WriteUnit(g.next()); err != nil {
			t.Fatal(err)
		}
	}
	if d := m.Stats().UnitsDropped; d != 10 {
		t.Fatalf("dropped %d units before the keyframe, want 10", d)
	}
	if err := m.WriteUnit(Unit{Kind: KindAudio, DTS: time.Second, Payload: []byte{1}}); !errors.Is(err, ErrNoTracks) {
		t.Fatalf("audio unit on a video-only stream: %v", err)
	}
	g.vi = 30
	g.write(t, m, 1100*time.Millisecond)
	old := g.next()
	old.DTS -= time.Second
	if err := m.WriteUnit(old); err == nil {
		t.Fatal("a DTS going backwards must be refused")
	}
	if err := m.SetTracks(Tracks{Audio: &AudioInfo{Codec: CodecOpus, SampleRate: 48000, Channels: 2}}); err == nil {
		t.Fatal("a reconnect with other tracks must be refused")
	}
	if err := m.SetTracks(Tracks{Video: &VideoInfo{}, Audio: &AudioInfo{Codec: "mp3"}}); err == nil {
		t.Fatal("unknown audio codec must be refused")
	}
	m.End()
	m.End()
	if err := m.WriteUnit(g.next()); !errors.Is(err, ErrEnded) {
		t.Fatalf("after End: %v", err)
	}
	m.Close()
	m.Close()
	if err := m.WriteUnit(g.next()); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := m.Playlist(context.Background(), RenditionVideo, Request{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Playlist after Close: %v", err)
	}
}

// TestAAC: AAC tracks get an mp4a init and the mp4a.40.2 codec string.
func TestAAC(t *testing.T) {
	m := newTestMuxer(t, Config{}, nil)
	if err := m.SetTracks(Tracks{Audio: &AudioInfo{Codec: CodecAAC, SampleRate: 48000, Channels: 2, Config: mustHex("1190")}}); err != nil {
		t.Fatal(err)
	}
	frame := time.Duration(aacFrameSamples) * time.Second / 48000
	for i := 0; i < 200; i++ {
		d := time.Duration(i) * frame
		if err := m.WriteUnit(Unit{Kind: KindAudio, DTS: d, PTS: d, Keyframe: true, Payload: []byte{0x21, byte(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	media(t, m, RenditionAudio, Request{})
	resp, err := m.Multivariant(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(resp.Body), `CODECS="mp4a.40.2"`) {
		t.Fatalf("multivariant:\n%s", resp.Body)
	}
}
