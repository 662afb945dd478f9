package stream

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/frontrow-live/frontrow/packager"
)

// keyframeRequestInterval rate-limits keyframe requests sent upstream: every
// joining viewer asks for one, and an encoder flooded with PLIs sends nothing
// but keyframes (RFC 4585 section 3.5.4 on PLI rate).
const keyframeRequestInterval = 500 * time.Millisecond

// PacketWriter takes a stream's packets as they are forwarded.
type PacketWriter interface {
	// WritePacket queues one packet; it must never block, so a slow viewer
	// delays nobody else.
	WritePacket(kind packager.Kind, p *Packet)
}

// Viewer is a WebRTC viewer as the stream sees it.
type Viewer interface {
	PacketWriter
	// StreamEnded tells the viewer the stream is over for good.
	StreamEnded()
}

// SharedViewer is a viewer whose packets reach it through a writer it
// shares with other viewers of the stream (a fan-out that sends to them
// all): the stream writes each packet to that writer once, however many
// of its viewers are subscribed, and never to the viewer itself.
type SharedViewer interface {
	Viewer
	SharedWriter() PacketWriter
}

// Stream is a named live stream: at most one publisher, its tracks, the
// WebRTC viewers and the packager. It outlives a publisher by the grace period.
type Stream struct {
	name  string
	epoch time.Time
	reg   *Registry
	log   *slog.Logger
	sink  UnitSink

	viewers atomic.Pointer[[]Viewer] // copy on write: read without a lock
	// writers get every packet: the viewers that are not SharedViewers,
	// and each shared writer once (writerRefs counts its viewers, under
	// mu). Copy on write: read per packet without a lock.
	writers    atomic.Pointer[[]PacketWriter]
	writerRefs map[PacketWriter]int
	bframes    atomic.Bool
	lastKeyReq atomic.Int64 // unix nanos of the last keyframe request sent upstream
	// keyReqPending is a request that came inside the rate-limit interval
	// and waits for its end.
	keyReqPending atomic.Bool
	droppedUnits  atomic.Uint64
	bridge        bridgeTotals
	in            [2]ingestCounters // by packager.Kind
	lostUnits     atomic.Uint64
	keyReqSent    atomic.Uint64

	mu        sync.Mutex
	tracks    map[packager.Kind]*Track
	publisher *Publisher
	sessions  int
	grace     *time.Timer
	graceGen  uint64  // bumped whenever a grace timer starts or is cancelled
	shape     [2]bool // has video, has audio: fixed by the first publication
	lastReq   PublishRequest
	// pastViewers adds up the viewers that left (CountingViewer).
	pastViewers ViewerStats
	// webrtcAudio: the current (or last) publication's audio reaches
	// WebRTC viewers, as it came or through the audio bridge.
	webrtcAudio bool
	endOnce     sync.Once
	ended       chan struct{}
}

// Name is the stream's name.
func (s *Stream) Name() string { return s.name }

// Epoch is the wall-clock time of the stream clock's zero.
func (s *Stream) Epoch() time.Time { return s.epoch }

// Sink is the packager side of the stream (nil without an HLS tier).
func (s *Stream) Sink() UnitSink { return s.sink }

// Ended is closed when the stream is over.
func (s *Stream) Ended() <-chan struct{} { return s.ended }

// BFrames reports whether the video carries B-frames, which browsers play
// with stutter over WebRTC.
func (s *Stream) BFrames() bool { return s.bframes.Load() }

// Live reports whether a publisher is connected now.
func (s *Stream) Live() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.publisher != nil
}

// Tracks lists the stream's tracks, video first; viewers bind to these.
func (s *Stream) Tracks() []*Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Track
	for _, k := range []packager.Kind{packager.KindVideo, packager.KindAudio} {
		if t, ok := s.tracks[k]; ok {
			out = append(out, t)
		}
	}
	return out
}

// Track returns the stream's track of this kind.
func (s *Stream) Track(kind packager.Kind) *Track {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tracks[kind]
}

// Subscribe adds a viewer; the returned func removes it (idempotent).
func (s *Stream) Subscribe(v Viewer) (unsubscribe func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.ended:
		return nil, ErrNotLive
	default:
	}
	next := append(slices.Clone(*s.viewers.Load()), v)
	s.viewers.Store(&next)
	s.addWriter(writerOf(v))
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			cur := *s.viewers.Load()
			if i := slices.Index(cur, v); i >= 0 {
				next := slices.Delete(slices.Clone(cur), i, i+1)
				s.viewers.Store(&next)
				s.removeWriter(writerOf(v))
				// Under s.mu, as Counters reads: the totals never go back.
				if cv, ok := v.(CountingViewer); ok {
					s.pastViewers.add(cv.ViewerStats())
				}
			}
		})
	}, nil
}

// writerOf is what the stream writes a viewer's packets to.
func writerOf(v Viewer) PacketWriter {
	if sv, ok := v.(SharedViewer); ok {
		return sv.SharedWriter()
	}
	return v
}

// addWriter counts one more viewer of w; s.mu is held.
func (s *Stream) addWriter(w PacketWriter) {
	if s.writerRefs == nil {
		s.writerRefs = make(map[PacketWriter]int)
	}
	if s.writerRefs[w]++; s.writerRefs[w] == 1 {
		next := append(slices.Clone(*s.writers.Load()), w)
		s.writers.Store(&next)
	}
}

// removeWriter counts one viewer of w fewer; s.mu is held.
func (s *Stream) removeWriter(w PacketWriter) {
	if s.writerRefs[w]--; s.writerRefs[w] > 0 {
		return
	}
	delete(s.writerRefs, w)
	cur := *s.writers.Load()
	if i := slices.Index(cur, w); i >= 0 {
		next := slices.Delete(slices.Clone(cur), i, i+1)
		s.writers.Store(&next)
	}
}

// Status is a stream as status pages show it.
type Status struct {
	Live bool
	// Protocol is the ingest of the current (or last) publisher: whip, rtmp, demo.
	Protocol string
	Video    bool
	// AudioCodec is the publisher's audio (packager.CodecOpus, CodecAAC), "" for none.
	AudioCodec string
	// WebRTCAudio says whether WebRTC viewers get the audio: always Opus,
	// transcoded from AAC by the audio bridge where the publisher sent that.
	WebRTCAudio bool
	BFrames     bool
	Viewers     int // WebRTC viewers
}

// Status describes the stream now.
func (s *Stream) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		Live: s.publisher != nil, Protocol: s.lastReq.Protocol, Video: s.lastReq.Tracks.Video != nil,
		BFrames: s.bframes.Load(), Viewers: len(*s.viewers.Load()),
	}
	if a := s.lastReq.Tracks.Audio; a != nil {
		st.AudioCodec = a.Codec
		st.WebRTCAudio = s.webrtcAudio
	}
	return st
}

// ViewerCount is the number of WebRTC viewers now.
func (s *Stream) ViewerCount() int { return len(*s.viewers.Load()) }

// RequestKeyframe asks the publisher for a keyframe, at most once per
// keyframeRequestInterval however many viewers ask.
//
// A request inside the interval is not lost: it waits, and the next packet
// forwarded after the interval sends it, unless a keyframe went out
// meanwhile. Otherwise a viewer joining just after another would wait for
// the encoder's next GOP, or for ever from an encoder that only answers.
func (s *Stream) RequestKeyframe() {
	now := s.reg.cfg.Now().UnixNano()
	last := s.lastKeyReq.Load()
	if now-last < int64(keyframeRequestInterval) {
		s.keyReqPending.Store(true)
		return
	}
	if !s.lastKeyReq.CompareAndSwap(last, now) {
		return // another caller is sending it right now
	}
	s.keyReqPending.Store(false)
	s.mu.Lock()
	p := s.publisher
	s.mu.Unlock()
	if p != nil && p.req.RequestKeyframe != nil {
		s.keyReqSent.Add(1)
		p.req.RequestKeyframe()
	}
}

// publish installs a publisher; called with the registry lock held. Nothing
// changes unless it succeeds.
func (s *Stream) publish(req PublishRequest) (*Publisher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.ended:
		return nil, ErrClosed
	default:
	}
	if s.publisher != nil {
		return nil, ErrAlreadyPublishing
	}
	plan := s.reg.planAudio(req.Tracks)
	if s.sink != nil {
		if err := s.sink.SetTracks(plan.sink); err != nil {
			return nil, fmt.Errorf("stream %s: packager: %w", s.name, err)
		}
	}
	s.graceGen++ // a grace timer already firing now finds itself stale
	if s.grace != nil {
		s.grace.Stop()
		s.grace = nil
	}
	s.sessions++
	for kind, present := range map[packager.Kind]bool{
		packager.KindVideo: req.Tracks.Video != nil,
		packager.KindAudio: plan.webrtc,
	} {
		if !present {
			continue
		}
		t, ok := s.tracks[kind]
		if !ok {
			t = newTrack(kind)
			s.tracks[kind] = t
		}
		t.newSession()
	}
	if s.sessions == 1 {
		s.shape = [2]bool{req.Tracks.Video != nil, req.Tracks.Audio != nil}
	}
	p := newPublisher(s, req, s.sessions)
	p.startBridge(plan)
	s.publisher, s.lastReq, s.webrtcAudio = p, req, plan.webrtc
	audio := "none"
	if req.Tracks.Audio != nil {
		audio = req.Tracks.Audio.Codec
	}
	webrtcAudio, hlsAudio := plan.tiers()
	s.log.Info("publish", "protocol", req.Protocol, "session", s.sessions, "remote", req.Remote,
		"video", req.Tracks.Video != nil, "audio", audio, "webrtc_audio", webrtcAudio, "hls_audio", hlsAudio)
	if plan.unsupported != nil {
		s.log.Warn(describeUnsupported(req.Tracks.Audio, plan.unsupported))
	}
	return p, nil
}

// unpublish removes p and starts the grace period.
func (s *Stream) unpublish(p *Publisher, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.publisher != p {
		return
	}
	s.publisher = nil
	s.log.Info("unpublish", "protocol", p.req.Protocol, "reason", reason, "grace", s.reg.cfg.GracePeriod)
	select {
	case <-s.ended:
		return
	default:
	}
	s.graceGen++
	gen := s.graceGen
	s.grace = time.AfterFunc(s.reg.cfg.GracePeriod, func() { s.graceOver(gen) })
}

// graceOver ends the stream unless a publisher came back meanwhile.
func (s *Stream) graceOver(gen uint64) {
	s.mu.Lock()
	stale := gen != s.graceGen || s.publisher != nil
	s.mu.Unlock()
	if !stale {
		s.end("grace period over")
	}
}

// isEnded reports whether the stream is over.
func (s *Stream) isEnded() bool {
	select {
	case <-s.ended:
		return true
	default:
		return false
	}
}

// end finishes the stream: the playlists ended, the name freed, viewers told.
func (s *Stream) end(reason string) { s.finish(reason, true) }

// finish ends the stream; remove frees its name too, before viewers are
// told, so one that comes back at once finds the name free. Without it the
// caller holds the registry lock and puts another stream under the name.
// It reports whether this call ended the stream.
func (s *Stream) finish(reason string, remove bool) (ended bool) {
	s.endOnce.Do(func() {
		ended = true
		s.mu.Lock()
		p := s.publisher
		if s.grace != nil {
			s.grace.Stop()
		}
		close(s.ended)
		s.mu.Unlock()
		if p != nil {
			p.Close()
		}
		if s.sink != nil {
			s.sink.End()
		}
		if remove {
			s.reg.remove(s)
		}
		for _, v := range *s.viewers.Load() {
			v.StreamEnded()
		}
		s.log.Info("stream ended", "reason", reason)
	})
	return ended
}

// sameShape reports whether a publication brings the same kinds of track
// as the stream's first one; the HLS renditions cannot change mid-stream.
func (s *Stream) sameShape(t packager.Tracks) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shape == [2]bool{t.Video != nil, t.Audio != nil}
}

// forward hands one packet to every viewer (to each shared writer once).
func (s *Stream) forward(kind packager.Kind, p *Packet) {
	switch {
	case p.Keyframe:
		s.keyReqPending.Store(false) // every viewer is about to get one
	case s.keyReqPending.Load():
		s.RequestKeyframe()
	}
	for _, w := range *s.writers.Load() {
		w.WritePacket(kind, p)
	}
}
