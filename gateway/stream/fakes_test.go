package stream

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/packager"
)

// waitTimeout bounds every wait on an event; generous, since a wait that
// succeeds returns at once.
const waitTimeout = 5 * time.Second

var discardLogger = slog.New(slog.DiscardHandler)

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(waitTimeout):
		t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// recordingSink is a UnitSink that keeps what it is given.
type recordingSink struct {
	mu     sync.Mutex
	tracks []packager.Tracks
	units  []packager.Unit
	// onUnit, if set, sees every unit as it is written (under no lock).
	onUnit func(packager.Unit)

	ends  atomic.Int32
	ended chan struct{}
}

func newRecordingSink() *recordingSink { return &recordingSink{ended: make(chan struct{})} }

func (s *recordingSink) SetTracks(t packager.Tracks) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tracks = append(s.tracks, t)
	return nil
}

func (s *recordingSink) WriteUnit(u packager.Unit) error {
	s.mu.Lock()
	s.units = append(s.units, u)
	s.mu.Unlock()
	if s.onUnit != nil {
		s.onUnit(u)
	}
	return nil
}

func (s *recordingSink) End() {
	if s.ends.Add(1) == 1 {
		close(s.ended)
	}
}

func (s *recordingSink) setTracksCalls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tracks)
}

// unitsOf returns the units of one kind, in order.
func (s *recordingSink) unitsOf(kind packager.Kind) []packager.Unit {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []packager.Unit
	for _, u := range s.units {
		if u.Kind == kind {
			out = append(out, u)
		}
	}
	return out
}

// sinks records the sinks a registry made, by stream name.
type sinks struct {
	mu   sync.Mutex
	made []*recordingSink
}

func (s *sinks) newSink(string, time.Time) (UnitSink, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := newRecordingSink()
	s.made = append(s.made, k)
	return k, nil
}

func (s *sinks) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.made)
}

func (s *sinks) last() *recordingSink {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.made[len(s.made)-1]
}

// recordingViewer is a Viewer that keeps the packets it is sent.
type recordingViewer struct {
	mu      sync.Mutex
	packets []viewerPacket

	ends  atomic.Int32
	ended chan struct{}
}

type viewerPacket struct {
	kind packager.Kind
	p    *Packet
}

func newRecordingViewer() *recordingViewer { return &recordingViewer{ended: make(chan struct{})} }

func (v *recordingViewer) WritePacket(kind packager.Kind, p *Packet) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.packets = append(v.packets, viewerPacket{kind, p})
}

func (v *recordingViewer) StreamEnded() {
	if v.ends.Add(1) == 1 {
		close(v.ended)
	}
}

func (v *recordingViewer) received() []viewerPacket {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]viewerPacket(nil), v.packets...)
}

func videoAudio() packager.Tracks {
	return packager.Tracks{
		Video: &packager.VideoInfo{},
		Audio: &packager.AudioInfo{Codec: packager.CodecOpus, SampleRate: 48000, Channels: 2},
	}
}
