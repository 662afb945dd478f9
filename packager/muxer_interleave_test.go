package packager

import (
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// lateAudio feeds a muxer the way the gateway does when the audio bridge
// falls behind: video as it is captured, audio lag later, until the stream
// clock reaches until; audio stops for good at audioStop (0: never).
type lateAudio struct {
	v, a      *gen
	lag       time.Duration
	audioStop time.Duration
}

func newLateAudio(lag, audioStop time.Duration) *lateAudio {
	return &lateAudio{v: newGen(30, 30, true, false), a: newGen(30, 30, false, true), lag: lag, audioStop: audioStop}
}

// step writes the unit that reaches the muxer next; false once both tracks
// have reached until.
func (l *lateAudio) step(t *testing.T, m *Muxer, until time.Duration) bool {
	t.Helper()
	vd, ad := l.v.videoDTS(), l.a.audioDTS()
	audioDone := ad >= until || (l.audioStop > 0 && ad >= l.audioStop)
	var u Unit
	switch {
	case vd >= until && audioDone:
		return false
	case vd < until && (audioDone || vd <= ad+l.lag):
		u = l.v.next()
	default:
		u = l.a.next()
	}
	if err := m.WriteUnit(u); err != nil {
		t.Fatal(err)
	}
	return true
}

// playlistEdge is where a media playlist's newest part ends, as
// EXT-X-PROGRAM-DATE-TIME reckons it: what a player lines renditions up by.
func playlistEdge(t *testing.T, pl *playlist.Media) time.Time {
	t.Helper()
	last := pl.Segments[len(pl.Segments)-1]
	if last.DateTime == nil {
		t.Fatalf("segment %s without EXT-X-PROGRAM-DATE-TIME", last.URI)
	}
	edge := last.DateTime.Add(last.Duration)
	for _, p := range pl.Parts {
		edge = edge.Add(p.Duration)
	}
	return edge
}

func hasSegment(m *Muxer, rendition string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.trackNamed(rendition).segments) > 0
}

// TestLateAudio: hls.js starts the audio rendition at the video playlist's
// edge minus PART-HOLD-BACK, so the video playlist must never run that far
// ahead of the audio playlist, however late (up to maxHold) the audio
// reaches the muxer; video waits for it, but not for audio that stopped.
func TestLateAudio(t *testing.T) {
	const until = 10 * time.Second
	for _, tc := range []struct {
		name      string
		lag       time.Duration
		audioStop time.Duration
	}{
		{"audio on time", 0, 0},
		{"audio 60 ms late", 60 * time.Millisecond, 0},
		{"audio 0.5 s late", 500 * time.Millisecond, 0},
		{"audio 1 s late", time.Second, 0},
		{"audio 1.5 s late", 1500 * time.Millisecond, 0},
		{"audio 3 s late", 3 * time.Second, 0},
		{"audio stops", 0, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMuxer(t, Config{}, newGen(30, 30, true, true))
			tm := m.tm
			l := newLateAudio(tc.lag, tc.audioStop)
			var maxLead time.Duration
			checks := 0
			for i := 0; l.step(t, m, until); i++ {
				if i > 5000 {
					t.Fatal("the feed never ended")
				}
				if i%25 != 0 || !hasSegment(m, RenditionVideo) || !hasSegment(m, RenditionAudio) {
					continue
				}
				if tc.audioStop > 0 && l.a.audioDTS() >= tc.audioStop {
					continue // nothing to line up with any more
				}
				video, _ := media(t, m, RenditionVideo, Request{})
				audio, _ := media(t, m, RenditionAudio, Request{})
				lead := playlistEdge(t, video).Sub(playlistEdge(t, audio))
				maxLead = max(maxLead, lead)
				checks++
				if lead >= tm.partHoldBack {
					t.Fatalf("after %v of video (audio %v late) the video playlist ends %v after the audio playlist, "+
						"PART-HOLD-BACK is %v: hls.js would wait for audio past its playlist's end",
						l.v.videoDTS(), tc.lag, lead, tm.partHoldBack)
				}
			}
			if checks == 0 {
				t.Fatal("no playlist was checked")
			}
			// Video is held no longer than the audio needs, or than
			// maxHold when the audio is gone.
			m.mu.Lock()
			videoEdge, held := m.video.liveEdge(), len(m.held)
			m.mu.Unlock()
			behind := l.v.videoDTS() - videoEdge
			wantBehind := tc.lag + tm.maxLead + 2*tm.partTarget
			if tc.audioStop > 0 {
				wantBehind = tm.maxHold + 2*tm.partTarget
			}
			if behind > wantBehind {
				t.Errorf("video published up to %v of %v written (%d samples held): %v behind, want at most %v",
					videoEdge, l.v.videoDTS(), held, behind, wantBehind)
			}
			stopped := m.Stats().AudioBehind > 0
			if stopped != (tc.audioStop > 0) {
				t.Errorf("AudioBehind %d with the audio %v late and stopping at %v", m.Stats().AudioBehind, tc.lag, tc.audioStop)
			}
			// The end publishes whatever video still waits.
			m.End()
			m.mu.Lock()
			videoEdge, held = m.video.liveEdge(), len(m.held)
			m.mu.Unlock()
			if last := l.v.videoDTS() - time.Second/30; videoEdge <= last || held != 0 {
				t.Errorf("after End the video ends at %v with %d samples held; its last sample starts at %v", videoEdge, held, last)
			}
			t.Logf("video ahead of audio by at most %v over %d checks", maxLead, checks)
		})
	}
}

// TestLateAudioReconnect: a publisher that comes back does not leave the
// previous publication's video waiting, and a codec change held with it
// takes effect once.
func TestLateAudioReconnect(t *testing.T) {
	m := newTestMuxer(t, Config{}, newGen(30, 30, true, true))
	l := newLateAudio(time.Second, 0)
	l.v.gop = 15 // two keyframes wait at a time
	for i := 0; l.v.videoDTS() < 3*time.Second; i++ {
		if i > 5000 || !l.step(t, m, time.Minute) {
			t.Fatal("the feed never reached 3 s")
		}
	}
	m.mu.Lock()
	held := len(m.held)
	m.mu.Unlock()
	if held == 0 {
		t.Fatal("no video waits for audio a second late")
	}
	// A keyframe with new parameter sets while video waits, then another
	// with the same ones: one new init, not two.
	l.v.sps, l.v.pps = testSPSHigh, testPPSHigh
	for i := 0; l.v.videoDTS() < 5*time.Second; i++ {
		if i > 5000 || !l.step(t, m, time.Minute) {
			t.Fatal("the feed never reached 5 s")
		}
	}
	if err := m.SetTracks(tracksOf(newGen(30, 30, true, true))); err != nil {
		t.Fatal(err)
	}
	m.mu.Lock()
	held, inits := len(m.held), len(m.video.inits)
	m.mu.Unlock()
	if held != 0 {
		t.Errorf("%d video samples of the previous publication still wait", held)
	}
	if inits != 2 {
		t.Errorf("%d video inits, want 2 (the first and one for the new parameter sets)", inits)
	}
}
