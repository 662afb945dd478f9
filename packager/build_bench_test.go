package packager

import (
	"testing"
	"time"
)

// Frame sizes of the benchmark stream, about the demo file's: 600 kb/s of
// H264 at 30 fps with a 1 s GOP, 64 kb/s of Opus in 20 ms packets.
const (
	benchKeyframeBytes = 20000
	benchFrameBytes    = 2000
	benchOpusBytes     = 160
)

// sizedGen is gen with frames of real sizes, so a part's bytes cost what a
// real stream's do. The payloads are shared by every unit (the muxer copies
// what it keeps), so the benchmark itself allocates nothing per unit.
type sizedGen struct {
	*gen
	key, delta, opus []byte
}

func newSizedGen() *sizedGen {
	g := &sizedGen{
		gen:   newGen(30, 30, true, true),
		key:   make([]byte, benchKeyframeBytes),
		delta: make([]byte, benchFrameBytes),
		opus:  make([]byte, benchOpusBytes),
	}
	g.key[0], g.delta[0], g.opus[0] = 0x65, 0x41, 0xfc // IDR slice, non-IDR slice, Opus TOC
	return g
}

func (g *sizedGen) next() Unit {
	u := g.gen.next()
	switch {
	case u.Kind == KindAudio:
		u.Payload = g.opus
	case u.Keyframe:
		u.NALUs = [][]byte{g.sps, g.pps, g.key}
	default:
		u.NALUs = [][]byte{g.delta}
	}
	return u
}

// BenchmarkBuildPart measures building one video part from units to bytes:
// the WriteUnit calls that complete it (six 33 ms frames plus the ~10 Opus
// packets written between them, which make the audio part alongside),
// with the segment assembly and window trimming that fall to each part
// amortised in. No playlist is rendered: nobody asks for one.
//
//	go test ./packager -run '^$' -bench BuildPart -benchmem
func BenchmarkBuildPart(b *testing.B) {
	g := newSizedGen()
	m := newTestMuxer(b, Config{}, g.gen)
	write := func() {
		if err := m.WriteUnit(g.next()); err != nil {
			b.Fatal(err)
		}
	}
	// Steady state: a full playlist window, so trimming runs as it will live.
	for g.videoDTS() < 30*time.Second {
		write()
	}
	parts := m.Stats().Parts
	units := 0
	for b.Loop() {
		msn, n := edge(m, RenditionVideo)
		for {
			write()
			units++
			if msn2, n2 := edge(m, RenditionVideo); msn2 != msn || n2 != n {
				break
			}
		}
	}
	b.ReportMetric(float64(units)/float64(b.N), "units/op")
	b.ReportMetric(float64(m.Stats().Parts-parts)/float64(b.N), "parts/op")
}

// BenchmarkRenderPlaylist measures rendering one video media playlist.
// "short" is the shortest window the muxer allows (3 x TARGETDURATION: 6
// one-second segments, all with their EXT-X-PART tags, plus the parts of
// the segment in progress); "default" is the default 12 x TARGETDURATION
// window (24 segments, parts listed for the last 6 s) in full and as the
// delta update (_HLS_skip) live players reload. The muxer renders once per
// change per request kind, never per viewer: this is a part's playlist cost.
//
//	go test ./packager -run '^$' -bench RenderPlaylist -benchmem
func BenchmarkRenderPlaylist(b *testing.B) {
	for _, c := range []struct {
		name   string
		window time.Duration
		skip   bool
	}{
		{"short", 6 * time.Second, false},
		{"default", 0, false},
		{"default-delta", 0, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			g := newSizedGen()
			m := newTestMuxer(b, Config{Window: c.window}, g.gen)
			for g.videoDTS() < 60*time.Second+500*time.Millisecond {
				if err := m.WriteUnit(g.next()); err != nil {
					b.Fatal(err)
				}
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			t := m.video
			var size int
			for b.Loop() {
				body, err := m.renderMedia(t, c.skip)
				if err != nil {
					b.Fatal(err)
				}
				size = len(body)
			}
			b.ReportMetric(float64(len(t.segments)-t.listed), "segments")
			b.ReportMetric(float64(size), "bytes")
		})
	}
}
