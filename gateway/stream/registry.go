// Package stream is the gateway's in-memory registry of live streams: one
// publisher per stream name, its tracks, and the fan-out of what it sends to
// WebRTC viewers and to the packager.
package stream

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/frontrow-live/frontrow/gateway/audio"
	"github.com/frontrow-live/frontrow/packager"
)

// Errors a publish or play request can meet; signalling maps them to statuses.
var (
	ErrAlreadyPublishing = errors.New("stream already has a live publisher")
	ErrNotLive           = errors.New("stream is not live")
	ErrBadName           = errors.New("stream name must be 1-64 characters of A-Z a-z 0-9 _ - .")
	ErrClosed            = errors.New("closed")
)

var validName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// ValidName reports whether name can name a stream; it keeps names safe in
// URLs, file names and logs.
func ValidName(name string) bool { return validName.MatchString(name) && name != "." && name != ".." }

// UnitSink is how the packager receives a stream's access units: the only
// thing the gateway knows of it. WriteUnit is called from two goroutines at
// once when the audio bridge feeds the packager (the ingest's video, the
// bridge's AAC), so it must be safe for concurrent use, as packager.Muxer is.
type UnitSink interface {
	// SetTracks starts a publication; a second call means the publisher came back.
	SetTracks(packager.Tracks) error
	// WriteUnit takes one access unit; its NALUs and Payload are the
	// caller's again once it returns (the ingest reuses their memory), so
	// a sink that keeps them copies them.
	WriteUnit(packager.Unit) error
	// End says the stream is over (its grace period ran out).
	End()
}

// Config wires a Registry to its dependencies.
type Config struct {
	// GracePeriod keeps a stream after its publisher leaves; zero ends it at once.
	GracePeriod time.Duration
	// KeyframeInterval is how often publishers that can be asked (WHIP) are
	// asked for a keyframe when they send none by themselves: browsers'
	// encoders only send one on request, and HLS segments must start on
	// one. Zero never asks on a timer.
	KeyframeInterval time.Duration
	// NewSink makes the packager side of a new stream; nil means no HLS tier.
	NewSink func(name string, epoch time.Time) (UnitSink, error)
	// AudioCodecs are the codec libraries of the audio bridge; nil means
	// audio.PureGo.
	AudioCodecs audio.Codecs
	// NoAudioBridge leaves audio as the publisher sent it: WebRTC viewers
	// get Opus only, the HLS tier the publisher's codec. Tests of the
	// ingest path use it.
	NoAudioBridge bool
	// AudioQueueLen bounds the frames waiting for a stream's audio bridge;
	// 0 means audio.DefaultQueueLen. Tests that write faster than real
	// time raise it.
	AudioQueueLen int
	Logger        *slog.Logger
	Now           func() time.Time
}

// Registry holds the streams by name.
type Registry struct {
	cfg Config

	mu      sync.Mutex
	streams map[string]*Stream
	closed  bool
}

// NewRegistry makes an empty registry.
func NewRegistry(cfg Config) *Registry {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AudioCodecs == nil {
		cfg.AudioCodecs = audio.PureGo
	}
	return &Registry{cfg: cfg, streams: make(map[string]*Stream)}
}

// Get returns the stream with this name, live or in its grace period.
func (r *Registry) Get(name string) (*Stream, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.streams[name]
	return s, ok
}

// Streams lists the current streams.
func (r *Registry) Streams() []*Stream {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Stream, 0, len(r.streams))
	for _, s := range r.streams {
		out = append(out, s)
	}
	return out
}

// Publish makes req the stream's publisher, creating the stream or
// continuing it within its grace period. A stream with a live publisher
// refuses a second one (ErrAlreadyPublishing): the first one wins until it
// leaves, so a stolen key cannot cut a live event.
func (r *Registry) Publish(name string, req PublishRequest) (*Publisher, error) {
	if !ValidName(name) {
		return nil, ErrBadName
	}
	if req.Tracks.Video == nil && req.Tracks.Audio == nil {
		return nil, errors.New("stream: publish: no tracks")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	s, ok := r.streams[name]
	if ok && !s.isEnded() {
		if s.Live() || s.sameShape(req.Tracks) {
			return s.publish(req)
		}
		// Back within the grace period but with other tracks (audio added or
		// gone): the renditions cannot change, so the old stream ends here
		// and a new one starts under the name.
		s.finish("publisher came back with other tracks", false)
	}
	// New, or ended but not yet removed: a fresh stream takes the name.
	s, err := r.newStream(name)
	if err != nil {
		return nil, err
	}
	p, err := s.publish(req)
	if err != nil {
		return nil, err
	}
	r.streams[name] = s
	return p, nil
}

func (r *Registry) newStream(name string) (*Stream, error) {
	epoch := r.cfg.Now()
	s := &Stream{
		name:   name,
		epoch:  epoch,
		reg:    r,
		log:    r.cfg.Logger.With("stream", name),
		ended:  make(chan struct{}),
		tracks: map[packager.Kind]*Track{},
	}
	if r.cfg.NewSink != nil {
		sink, err := r.cfg.NewSink(name, epoch)
		if err != nil {
			return nil, fmt.Errorf("stream %s: packager: %w", name, err)
		}
		s.sink = sink
	}
	s.viewers.Store(&[]Viewer{})
	s.writers.Store(&[]PacketWriter{})
	return s, nil
}

// remove drops an ended stream, unless a new one already took its name.
func (r *Registry) remove(s *Stream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.streams[s.name] == s {
		delete(r.streams, s.name)
	}
}

// Close ends every stream at once (shutdown): publishers are cut, viewers
// told, playlists ended. Idempotent.
func (r *Registry) Close() {
	r.mu.Lock()
	r.closed = true
	all := make([]*Stream, 0, len(r.streams))
	for _, s := range r.streams {
		all = append(all, s)
	}
	r.mu.Unlock()
	for _, s := range all {
		s.end("shutdown")
	}
}
