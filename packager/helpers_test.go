package packager

import (
	"context"
	"encoding/hex"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Parameter sets of the two testdata files: baseline and High, both 640x360.
var (
	testSPS     = mustHex("6742c01eda0280bfe5c044000003000400000300f23c58ba80")
	testPPS     = mustHex("68ce3c80")
	testSPSHigh = mustHex("6764001eacd940a02ff970110000030001000003003c0f162d96")
	testPPSHigh = mustHex("68efbcb0")
)

// testEpoch is the wall clock of DTS 0 in every test stream.
var testEpoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// waitBound is a failsafe for waits that should end at once; reaching it
// fails the test, it never stands in for synchronisation.
const waitBound = 10 * time.Second

// gen makes a synthetic stream: H264 at fps with a keyframe every gop
// frames, Opus packets of 20 ms, interleaved by DTS.
type gen struct {
	fps, gop     int
	video, audio bool
	bframes      bool // I P B B ... with PTS = DTS + offset
	jitter       bool // frames up to 22 ms late, pseudo-randomly: durations from ~11 to ~55 ms
	sps, pps     []byte
	base         time.Duration // stream-clock DTS of frame 0
	vi, ai       int
}

func newGen(fps, gop int, video, audio bool) *gen {
	return &gen{fps: fps, gop: gop, video: video, audio: audio, sps: testSPS, pps: testPPS}
}

func (g *gen) videoDTS() time.Duration {
	d := g.base + time.Duration(g.vi)*time.Second/time.Duration(g.fps)
	if g.jitter && g.vi%g.gop != 0 { // keyframes on time, so segments stay 1 s
		d += time.Duration((g.vi*g.vi*31+g.vi*17)%23) * time.Millisecond
	}
	return d
}
func (g *gen) audioDTS() time.Duration { return g.base + time.Duration(g.ai)*opusFrame }

// next returns the next unit by DTS.
func (g *gen) next() Unit {
	if g.audio && (!g.video || g.audioDTS() < g.videoDTS()) {
		d := g.audioDTS()
		g.ai++
		return Unit{Kind: KindAudio, DTS: d, PTS: d, Keyframe: true, Payload: []byte{0xfc, byte(g.ai), byte(g.ai >> 8)}}
	}
	d := g.videoDTS()
	key := g.vi%g.gop == 0
	u := Unit{Kind: KindVideo, DTS: d, PTS: d, Keyframe: key}
	if g.bframes {
		// Decode order I P B B P B B ..., display order I B B P B B P ...,
		// shifted two frames so PTS >= DTS: offsets 2, 4, 1, 1, 4, 1, 1 frames.
		frame := time.Second / time.Duration(g.fps)
		switch k := g.vi % g.gop; {
		case k == 0:
			u.PTS = d + 2*frame
		case k%3 == 1:
			u.PTS = d + 4*frame
		default:
			u.PTS = d + frame
		}
	}
	if key {
		u.NALUs = [][]byte{g.sps, g.pps, {0x65, 0x88, byte(g.vi)}}
	} else {
		u.NALUs = [][]byte{{0x41, 0x9a, byte(g.vi)}}
	}
	g.vi++
	return u
}

// write writes units until the stream clock reaches d (exclusive).
func (g *gen) write(t testing.TB, m *Muxer, d time.Duration) {
	t.Helper()
	for {
		next := g.videoDTS()
		if !g.video || (g.audio && g.audioDTS() < next) {
			next = g.audioDTS()
		}
		if next >= g.base+d {
			return
		}
		if err := m.WriteUnit(g.next()); err != nil {
			t.Fatal(err)
		}
	}
}

// writeUntil writes units one by one until cond holds; it fails after max units.
func (g *gen) writeUntil(t testing.TB, m *Muxer, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 10000 {
			t.Fatal("condition never reached")
		}
		if err := m.WriteUnit(g.next()); err != nil {
			t.Fatal(err)
		}
	}
}

// nextPart writes until rendition publishes one more part.
func (g *gen) nextPart(t testing.TB, m *Muxer, rendition string) {
	t.Helper()
	msn, n := edge(m, rendition)
	g.writeUntil(t, m, func() bool {
		msn2, n2 := edge(m, rendition)
		return msn2 != msn || n2 != n
	})
}

// edge is rendition's segment in progress and its published part count.
func edge(m *Muxer, rendition string) (msn, parts int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tr := m.trackNamed(rendition)
	return tr.msn, len(tr.parts)
}

func tracksOf(g *gen) Tracks {
	var tr Tracks
	if g.video {
		tr.Video = &VideoInfo{}
	}
	if g.audio {
		tr.Audio = &AudioInfo{Codec: CodecOpus, SampleRate: 48000, Channels: 2}
	}
	return tr
}

// newTestMuxer makes a muxer with a fixed epoch, clock and ID.
func newTestMuxer(t testing.TB, cfg Config, g *gen) *Muxer {
	t.Helper()
	cfg.Epoch = testEpoch
	if cfg.Now == nil {
		cfg.Now = func() time.Time { return testEpoch }
	}
	if cfg.ID == "" {
		cfg.ID = "t"
	}
	m, err := NewMuxer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	if g != nil {
		if err := m.SetTracks(tracksOf(g)); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// media fetches and parses a media playlist (non-blocking unless req says).
func media(t *testing.T, m *Muxer, rendition string, req Request) (*playlist.Media, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	version := muxerVersion(m)
	resp, err := m.Playlist(ctx, rendition, req)
	if err != nil {
		t.Fatalf("Playlist(%s, %+v): %v", rendition, req, err)
	}
	var pl playlist.Media
	if err := pl.Unmarshal(resp.Body); err != nil {
		t.Fatalf("gohlslib cannot read the %s playlist: %v\n%s", rendition, err, resp.Body)
	}
	checkMedia(t, m, &pl, string(resp.Body))
	if !req.Block && !req.Skip {
		checkRenditionReports(ctx, t, m, rendition, &pl, version)
	}
	return &pl, string(resp.Body)
}

func muxerVersion(m *Muxer) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.version
}

// checkRenditionReports checks pl's EXT-X-RENDITION-REPORTs against the
// other renditions' own playlists (rfc8216bis §4.4.5.4: the last partial
// segment each lists), when nothing was published between the two reads
// (version is the muxer's before pl was read).
func checkRenditionReports(ctx context.Context, t *testing.T, m *Muxer, rendition string, pl *playlist.Media, version uint64) {
	t.Helper()
	for _, r := range pl.RenditionReport {
		other := strings.TrimSuffix(r.URI, ".m3u8")
		if other == rendition {
			t.Fatalf("%s playlist reports on itself: %+v", rendition, r)
		}
		resp, err := m.Playlist(ctx, other, Request{})
		if err != nil {
			t.Fatalf("rendition report %s: %v", r.URI, err)
		}
		var o playlist.Media
		if err := o.Unmarshal(resp.Body); err != nil {
			t.Fatalf("rendition report %s: %v", r.URI, err)
		}
		if muxerVersion(m) != version {
			return // a part came out meanwhile: the two reads show different moments
		}
		msn, part := o.MediaSequence+len(o.Segments), len(o.Parts)-1
		if part < 0 && len(o.Segments) > 0 {
			msn, part = msn-1, len(o.Segments[len(o.Segments)-1].Parts)-1
		}
		if r.LastMSN != msn || r.LastPart == nil || *r.LastPart != part {
			last := -1
			if r.LastPart != nil {
				last = *r.LastPart
			}
			t.Fatalf("%s playlist reports %s at LAST-MSN %d LAST-PART %d; its playlist ends at %d.%d\n%s",
				rendition, r.URI, r.LastMSN, last, msn, part, resp.Body)
		}
	}
}

// checkMedia asserts the spec's [M] rules that one playlist shows.
func checkMedia(t *testing.T, m *Muxer, pl *playlist.Media, raw string) {
	t.Helper()
	tm := m.tm
	td := int(tm.targetDuration / time.Second)
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\n%s", append(args, raw)...)
	}
	if pl.Version < 9 {
		fail("EXT-X-VERSION %d < 9 with CAN-SKIP-UNTIL", pl.Version)
	}
	if pl.TargetDuration != td {
		fail("TARGETDURATION %d, want %d", pl.TargetDuration, td)
	}
	if pl.PlaylistType != nil {
		fail("live playlist has EXT-X-PLAYLIST-TYPE")
	}
	sc := pl.ServerControl
	if sc == nil || !sc.CanBlockReload || sc.PartHoldBack == nil || *sc.PartHoldBack < 3*tm.partTarget ||
		sc.CanSkipUntil == nil || *sc.CanSkipUntil < 6*tm.targetDuration {
		fail("bad EXT-X-SERVER-CONTROL %+v", sc)
	}
	if pl.PartInf == nil || pl.PartInf.PartTarget != tm.partTarget {
		fail("bad EXT-X-PART-INF")
	}
	if pl.Map == nil || !strings.HasSuffix(pl.Map.URI, ".mp4") {
		fail("no EXT-X-MAP")
	}
	if !pl.Endlist {
		// The hint names exactly the part after the newest listed one.
		if pl.PreloadHint == nil {
			fail("live playlist without EXT-X-PRELOAD-HINT")
		}
		msn, part := pl.MediaSequence+len(pl.Segments), 0
		if pl.Skip != nil {
			msn += pl.Skip.SkippedSegments
		}
		if n := len(pl.Parts); n > 0 {
			last, _ := parseMediaName(pl.Parts[n-1].URI)
			part = last.part + 1
		}
		init, _ := parseMediaName(pl.Map.URI)
		if want := partName(init.rendition, m.cfg.ID, msn, part); pl.PreloadHint.URI != want {
			fail("EXT-X-PRELOAD-HINT %s, want %s", pl.PreloadHint.URI, want)
		}
	}
	if len(m.order) > 1 && len(pl.RenditionReport) != len(m.order)-1 {
		fail("%d rendition reports, want %d", len(pl.RenditionReport), len(m.order)-1)
	}
	checkParts := func(parts []*playlist.MediaPart, complete bool) {
		t.Helper()
		for i, p := range parts {
			if p.Duration > tm.partTarget+time.Microsecond*10 {
				fail("part %s lasts %v > PART-TARGET", p.URI, p.Duration)
			}
			last := complete && i == len(parts)-1
			if !p.Independent && !last && !p.Gap && float64(p.Duration) < 0.85*float64(tm.partTarget) && i+1 < len(parts) {
				// Allowed only when the next sample would not have fitted.
				if next := firstSampleDuration(t, m, parts[i+1].URI); p.Duration+next <= tm.partTarget {
					fail("part %s lasts %v < 85%% of PART-TARGET, yet its next sample (%v) fitted", p.URI, p.Duration, next)
				}
			}
		}
	}
	for _, s := range pl.Segments {
		if int(math.Round(s.Duration.Seconds())) > td {
			fail("EXTINF %v rounds above TARGETDURATION %d", s.Duration, td)
		}
		if s.DateTime == nil {
			fail("segment %s without EXT-X-PROGRAM-DATE-TIME", s.URI)
		}
		checkParts(s.Parts, true)
		if len(s.Parts) > 0 {
			var sum time.Duration
			for _, p := range s.Parts {
				sum += p.Duration
			}
			if d := sum - s.Duration; d > 100*time.Microsecond || d < -100*time.Microsecond {
				fail("segment %s lasts %v but its parts %v", s.URI, s.Duration, sum)
			}
		}
	}
	checkParts(pl.Parts, false)
}

// firstSampleDuration reads the first sample's duration from a part.
func firstSampleDuration(t testing.TB, m *Muxer, uri string) time.Duration {
	t.Helper()
	f, err := m.File(context.Background(), uri)
	if err != nil {
		t.Fatal(err)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(f.Body); err != nil {
		t.Fatal(err)
	}
	n, _ := parseMediaName(uri)
	m.mu.Lock()
	ts := m.trackNamed(n.rendition).init.timescale
	m.mu.Unlock()
	return time.Duration(int64(parts[0].Tracks[0].Samples[0].Duration) * int64(time.Second) / int64(ts))
}

// waiterHook counts requests that started waiting.
type waiterHook chan struct{}

func hookWaiters(m *Muxer) waiterHook {
	ch := make(waiterHook, 4096)
	m.mu.Lock()
	m.hooks.waiting = func() { ch <- struct{}{} }
	m.mu.Unlock()
	return ch
}

// await waits for n requests to start waiting.
func (h waiterHook) await(t testing.TB, n int) {
	t.Helper()
	timer := time.NewTimer(waitBound)
	defer timer.Stop()
	for i := 0; i < n; i++ {
		select {
		case <-h:
		case <-timer.C:
			t.Fatalf("only %d of %d requests started waiting", i, n)
		}
	}
}

type result struct {
	resp *Response
	err  error
}

// playlistAsync starts a Playlist request in a goroutine.
func playlistAsync(m *Muxer, rendition string, req Request) <-chan result {
	ch := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		defer cancel()
		resp, err := m.Playlist(ctx, rendition, req)
		ch <- result{resp, err}
	}()
	return ch
}

// settle waits until a waiting request either answered or waits again
// after a change woke it.
func settle(t *testing.T, h waiterHook, res <-chan result) (result, bool) {
	t.Helper()
	select {
	case r := <-res:
		return r, true
	case <-h:
		return result{}, false
	case <-time.After(waitBound):
		t.Fatal("request neither answered nor waited again")
	}
	return result{}, false
}
