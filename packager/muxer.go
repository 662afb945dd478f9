package packager

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Muxer packages one stream into CMAF LL-HLS, once for every viewer: the
// gateway writes units in, origin reads playlists and media out.
// All methods are safe for concurrent use.
type Muxer struct {
	cfg Config
	tm  timing
	log *slog.Logger

	mu    sync.Mutex
	video *track   // nil when the stream has no video
	audio *track   // nil when the stream has no audio
	order []*track // existing tracks, the leading one (video) first
	// published: SetTracks has run; started: the current publication wrote
	// its first sample (video: a keyframe with SPS and PPS).
	published, started bool
	pubStart           time.Duration // stream-clock DTS where the publication started
	offset             time.Duration // media time = stream-clock time + offset
	ended, closed      bool
	version            uint64 // rises whenever any playlist's text would change
	mvCache            cachedResponse
	stats              Stats
	hooks              testHooks
	gzipWriters        sync.Pool // of *gzip.Writer, for Response.Gzipped

	// audioAt is the media time the audio has reached in this publication;
	// held are the video samples waiting for it (muxer_interleave.go).
	audioAt time.Duration
	held    []heldSample
}

// testHooks lets tests observe the muxer without sleeping.
type testHooks struct {
	// waiting runs, under the lock, each time a request starts to wait.
	waiting func()
}

// NewMuxer makes a muxer for one stream; call SetTracks when a publication starts.
func NewMuxer(cfg Config) (*Muxer, error) {
	cfg, tm, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Muxer{cfg: cfg, tm: tm, log: cfg.Logger.With("muxer", cfg.ID)}, nil
}

// TargetDuration is EXT-X-TARGETDURATION; it never changes, so origin may
// derive Cache-Control from it without locking.
func (m *Muxer) TargetDuration() time.Duration { return m.tm.targetDuration }

// SetTracks starts a publication. The first call fixes the renditions; a
// later call (the publisher reconnected) closes what is in progress and makes
// the next segment carry EXT-X-DISCONTINUITY, with a new init segment if the
// codec parameters changed. TARGETDURATION, PART-TARGET and SERVER-CONTROL
// stay as they were (rfc8216bis §6.2.1).
func (m *Muxer) SetTracks(tr Tracks) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.notify()
	switch {
	case m.closed:
		return ErrClosed
	case m.ended:
		return ErrEnded
	case tr.Video == nil && tr.Audio == nil:
		return errors.New("packager: a publication needs a video or an audio track")
	}
	if !m.published {
		return m.firstTracks(tr)
	}
	if (tr.Video != nil) != (m.video != nil) || (tr.Audio != nil) != (m.audio != nil) {
		return fmt.Errorf("packager: tracks changed on reconnect (video %t->%t, audio %t->%t); start a new muxer",
			m.video != nil, tr.Video != nil, m.audio != nil, tr.Audio != nil)
	}
	var audioInit *initSection
	if tr.Audio != nil && !sameAudio(*tr.Audio, m.audio.init.audio) {
		in, err := newAudioInit(*tr.Audio)
		if err != nil {
			return err
		}
		audioInit = in
	}
	err := errors.Join(m.drain(), m.flush())
	if audioInit != nil {
		m.audio.setInit(audioInit)
	}
	for _, t := range m.order {
		// The next segment is discontinuous, unless nothing came before it.
		t.segDisc = t.seq > 1
		t.hasRaw = false
	}
	m.started = false
	return err
}

func (m *Muxer) firstTracks(tr Tracks) error {
	if tr.Audio != nil {
		in, err := newAudioInit(*tr.Audio)
		if err != nil {
			return err
		}
		m.audio = newTrack(m, KindAudio)
		m.audio.setInit(in)
	}
	if tr.Video != nil {
		m.video = newTrack(m, KindVideo)
		m.video.follower = m.audio
		m.order = append(m.order, m.video)
	}
	if m.audio != nil {
		m.order = append(m.order, m.audio)
	}
	m.published = true
	return nil
}

// WriteUnit packages one access unit. Video units are H264 access units;
// nothing is written before the first keyframe that brings (or follows) SPS
// and PPS, and audio waits for that keyframe too. DTS must rise per track.
// Video more than a part ahead of the audio waits for it (muxer_interleave.go).
func (m *Muxer) WriteUnit(u Unit) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	defer m.notify()
	switch {
	case m.closed:
		return ErrClosed
	case m.ended:
		return ErrEnded
	}
	t := m.trackOf(u.Kind)
	if t == nil {
		return fmt.Errorf("packager: %s unit: %w", u.Kind, ErrNoTracks)
	}
	if t.hasRaw && u.DTS <= t.lastRaw {
		m.stats.UnitsDropped++
		return fmt.Errorf("packager: %s DTS %v is not after %v; unit dropped", t.name, u.DTS, t.lastRaw)
	}
	var newInit *initSection
	var data []byte
	switch u.Kind {
	case KindVideo:
		if u.Keyframe {
			in, err := m.videoParams(u.NALUs)
			if err != nil {
				m.stats.UnitsDropped++
				return err
			}
			newInit = in
		}
		if !m.started {
			if !u.Keyframe || (t.init == nil && newInit == nil) {
				m.stats.UnitsDropped++
				return nil
			}
			m.start(u.DTS)
		}
		b, err := avcc(u.NALUs)
		if err != nil {
			m.stats.UnitsDropped++
			return err
		}
		data = b
	case KindAudio:
		if !m.started {
			if m.video != nil {
				m.stats.UnitsDropped++
				return nil
			}
			m.start(u.DTS)
		}
		if u.DTS < m.pubStart {
			m.stats.UnitsDropped++
			return nil
		}
		data = u.Payload
	}
	t.lastRaw, t.hasRaw = u.DTS, true
	s := sample{
		dts: u.DTS + m.offset, pts: u.PTS + m.offset, wall: u.PTS,
		sync: u.Keyframe || u.Kind == KindAudio, data: data, arrival: u.Arrival,
	}
	if u.Kind == KindVideo {
		return m.pushVideo(s, newInit)
	}
	err := t.push(s, newInit)
	if m.video != nil {
		err = errors.Join(err, m.audioReached(s.dts))
	}
	return err
}

// videoParams returns a new init when a keyframe's SPS/PPS differ from the
// current ones, nil when they are the same or absent.
func (m *Muxer) videoParams(nalus [][]byte) (*initSection, error) {
	sps, pps := parameterSets(nalus)
	if sps == nil || pps == nil {
		return nil, nil
	}
	if cur := m.newestVideoInit(); cur != nil && string(cur.sps) == string(sps) && string(cur.pps) == string(pps) {
		return nil, nil
	}
	return newVideoInit(sps, pps)
}

// firstMSN is the first segment's media sequence number. Not 0: hls.js 1.7
// cannot load the parts of a segment numbered 0 (its part lookups test the
// number for truth), so viewers joining in a stream's first segment stalled.
const firstMSN = 1

// start begins the current publication at stream-clock DTS dts. Media time
// never runs backwards across publications, so tfdt keeps rising, and every
// track's next MSN is aligned.
func (m *Muxer) start(dts time.Duration) {
	m.started = true
	m.pubStart = dts
	var end time.Duration
	msn := firstMSN
	for _, t := range m.order {
		end = max(end, t.end())
		msn = max(msn, t.msn)
	}
	if dts+m.offset < end {
		m.offset = end - dts
	}
	for _, t := range m.order {
		t.msn = msn
	}
	m.audioAt = dts + m.offset
	if m.video != nil && m.audio != nil {
		m.audio.announce(boundary{at: dts + m.offset, msn: msn})
	}
}

// End marks the stream over: what is in progress is published, playlists
// get EXT-X-ENDLIST and blocked requests are answered.
func (m *Muxer) End() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ended || m.closed {
		return
	}
	if err := errors.Join(m.drain(), m.flush()); err != nil {
		m.log.Warn("packager: flushing at end", "err", err)
	}
	m.ended = true
	for _, t := range m.order {
		t.dirty = true
	}
	m.notify()
}

// Close frees the muxer's media and releases every waiter with ErrClosed.
// It is idempotent.
func (m *Muxer) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	m.held = nil
	for _, t := range m.order {
		t.segments, t.parts, t.partSamples, t.inits = nil, nil, nil, nil
		t.cache = [2]cachedResponse{}
		t.dirty = true
	}
	m.mvCache = cachedResponse{}
	m.notify()
}

// flush publishes whatever every track has in progress.
func (m *Muxer) flush() error {
	var errs []error
	for _, t := range m.order {
		errs = append(errs, t.flush())
	}
	return errors.Join(errs...)
}

// notify wakes the waiters of every track that changed. It runs under the
// lock, so woken waiters see the whole change once the lock is released.
func (m *Muxer) notify() {
	for _, t := range m.order {
		if !t.dirty {
			continue
		}
		t.dirty = false
		m.version++
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

func (m *Muxer) trackOf(k Kind) *track {
	if k == KindVideo {
		return m.video
	}
	if k == KindAudio {
		return m.audio
	}
	return nil
}

func (m *Muxer) trackNamed(rendition string) *track {
	for _, t := range m.order {
		if t.name == rendition {
			return t
		}
	}
	return nil
}
