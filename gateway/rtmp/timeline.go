package rtmp

import (
	"time"

	"github.com/frontrow-live/frontrow/packager"
)

const (
	// maxJump is how far a track's timestamps may run ahead of the wall
	// clock between two of its units (or, for a track's first unit, away from
	// where the session's clock stands) before the jump counts as a
	// discontinuity in the encoder's clock. Encoders pace media in real time;
	// a few seconds covers bursts after network stalls.
	maxJump = 3 * time.Second
	// minStep is the smallest DTS step a track takes across a re-anchoring:
	// the packager and the WebRTC tier need DTS strictly rising per track.
	minStep = time.Millisecond
)

// timelineEvent says what Map did with a timestamp besides mapping it.
type timelineEvent uint8

const (
	timelineOK timelineEvent = iota
	// timelineDuplicate: the same DTS as the track's previous unit; dropped.
	timelineDuplicate
	// timelineBeforeEpoch: the unit would land before the stream clock's
	// zero (a track starting a little before the other on a new stream); dropped.
	timelineBeforeEpoch
	// timelineBackward: the encoder's clock went back; re-anchored.
	timelineBackward
	// timelineForward: the encoder's clock jumped ahead of the wall clock; re-anchored.
	timelineForward
)

func (e timelineEvent) String() string {
	return [...]string{"ok", "duplicate timestamp", "before stream start", "timestamp went backwards", "timestamp jumped ahead"}[e]
}

// dropped reports whether the unit must not be written.
func (e timelineEvent) dropped() bool { return e == timelineDuplicate || e == timelineBeforeEpoch }

// timeline maps one RTMP session's FLV timestamps (milliseconds on the
// encoder's clock, shared by its audio and video) to the stream clock
// (durations since the stream's epoch). The session's first unit anchors the
// encoder's clock to its arrival time; from there the encoder's clock rules,
// with one anchor for both tracks so A/V alignment survives as the encoder
// stamped it. A jump that cannot be real (backwards, or ahead of the wall
// clock by more than maxJump) re-anchors: the stream clock continues where
// it stood, still rising, and the encoder's new timestamps follow from there.
// Not safe for concurrent use; one per connection.
type timeline struct {
	epoch    time.Time
	anchored bool
	// srcAnchor on the encoder's clock is outAnchor on the stream clock.
	srcAnchor, outAnchor time.Duration
	// lag is how far the stream clock trails the wall clock at the newest
	// unit (arrival minus its DTS); a re-anchoring keeps it.
	lag  time.Duration
	last [2]trackPoint // by packager.Kind
}

// trackPoint is a track's newest mapped unit.
type trackPoint struct {
	ok       bool
	src, out time.Duration
	arrival  time.Time
}

func newTimeline(epoch time.Time) *timeline { return &timeline{epoch: epoch} }

// Map returns the stream-clock DTS of a unit of kind with encoder DTS src
// that arrived at arrival. Per track the result rises strictly; a unit
// whose event is dropped() must not be written (its result is meaningless).
func (t *timeline) Map(kind packager.Kind, src time.Duration, arrival time.Time) (time.Duration, timelineEvent) {
	now := arrival.Sub(t.epoch)
	if !t.anchored {
		t.anchored, t.srcAnchor, t.outAnchor, t.lag = true, src, now, 0
	}
	l := &t.last[kind&1]
	out := t.outAnchor + (src - t.srcAnchor)
	ev := timelineOK
	switch {
	case l.ok && src == l.src:
		return 0, timelineDuplicate
	case l.ok && out <= l.out:
		ev = timelineBackward
	case l.ok && (out-l.out)-arrival.Sub(l.arrival) > maxJump:
		ev = timelineForward
	case !l.ok && out-(now-t.lag) > maxJump:
		ev = timelineForward
	case !l.ok && (now-t.lag)-out > maxJump:
		ev = timelineBackward
	}
	if ev != timelineOK {
		// Continue where the stream clock stands now: the newest unit's
		// place plus the wall time since, never at or before this track's last.
		at := now - t.lag
		if l.ok {
			at = max(at, l.out+minStep)
		}
		t.srcAnchor, t.outAnchor, out = src, at, at
	}
	if out < 0 {
		return 0, timelineBeforeEpoch
	}
	*l = trackPoint{ok: true, src: src, out: out, arrival: arrival}
	t.lag = now - out
	return out, ev
}
