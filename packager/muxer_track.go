package packager

import (
	"time"
)

// maxBoundaries bounds the segment starts a stalled following track queues.
const maxBoundaries = 16

// boundary is where the leading track started a segment; the following
// track cuts its own segment there so both renditions share MSNs.
type boundary struct {
	at   time.Duration // media time
	msn  int
	disc bool // the leader's new segment is discontinuous: renditions' discontinuities must match (rfc8216bis §6.2.4)
}

// track is one rendition: its cutting state, closed segments and waiters.
// Every field is guarded by the muxer's mutex.
type track struct {
	m           *Muxer
	kind        Kind
	name        string
	contentType string

	init  *initSection   // current init; nil until the codec is known
	inits []*initSection // inits retained segments may name, oldest first

	// cutting
	pending     sample
	hasPending  bool
	lastDur     time.Duration // duration of the newest finalised sample: the estimate for the next
	lastRaw     time.Duration // stream-clock DTS of the newest accepted unit
	hasRaw      bool
	partSamples []sample
	follower    *track     // leading track only: who follows its boundaries
	boundaries  []boundary // following track only: announced segment starts

	// segment in progress
	msn      int
	parts    []*part
	segStart time.Duration
	// segStartPTS is the presentation time of the segment's first sample:
	// keyframe spacing is judged on PTS, since with B-frames the DTS of an
	// IDR sits a frame or two before it and makes a 1 s GOP look shorter.
	segStartPTS time.Duration
	segPDT      time.Time
	segDisc     bool
	segInit     *initSection
	segSamples  int
	seq         uint32 // mfhd sequence number of the next fragment

	// closed segments, oldest first; segments[listed:] are in the playlist
	segments []*segment
	listed   int
	discSeq  int

	// waiters
	changed chan struct{} // closed and replaced when anything above changes
	dirty   bool
	cache   [2]cachedResponse // rendered playlist, without and with _HLS_skip
}

func newTrack(m *Muxer, kind Kind) *track {
	t := &track{m: m, kind: kind, name: kind.String(), seq: 1, changed: make(chan struct{})}
	t.contentType = "video/mp4"
	if kind == KindAudio {
		t.contentType = "audio/mp4"
	}
	return t
}

// setInit makes in the track's init from now on, under a new URI.
func (t *track) setInit(in *initSection) {
	gen := 0
	if t.init != nil {
		gen = t.init.gen + 1
	}
	in.gen = gen
	in.uri = initName(t.name, t.m.cfg.ID, gen)
	t.init = in
	t.inits = append(t.inits, in)
}

func (t *track) segmentEmpty() bool { return len(t.parts) == 0 && len(t.partSamples) == 0 }

// end is the media time where the track's last sample ends.
func (t *track) end() time.Duration {
	switch {
	case len(t.partSamples) > 0:
		s := t.partSamples[len(t.partSamples)-1]
		return s.dts + s.dur
	case len(t.parts) > 0:
		return t.segStart + t.partsDuration()
	case len(t.segments) > 0:
		return t.segments[len(t.segments)-1].end()
	}
	return 0
}

// liveEdge is the end of the newest published part.
func (t *track) liveEdge() time.Duration {
	if len(t.parts) > 0 {
		return t.segStart + t.partsDuration()
	}
	if len(t.segments) > 0 {
		return t.segments[len(t.segments)-1].end()
	}
	return 0
}

func (t *track) partsDuration() time.Duration {
	var d time.Duration
	for _, p := range t.parts {
		d += p.duration
	}
	return d
}

// push adds s after the pending sample; on the way it finalises the pending
// sample's duration and cuts parts and segments where the rules say.
// A sample waits one sample: its duration is the next DTS minus its own.
// newInit, when set, is a codec change that takes effect at s (a keyframe).
func (t *track) push(s sample, newInit *initSection) error {
	if t.hasPending {
		p := t.pending
		p.dur = s.dts - p.dts
		t.lastDur = p.dur
		if err := t.appendSample(p); err != nil {
			return err
		}
	}
	codecChange := false
	if newInit != nil {
		t.setInit(newInit)
		codecChange = !t.segmentEmpty()
	}
	err := t.cutBefore(s, codecChange)
	t.pending, t.hasPending = s, true
	return err
}

// appendSample puts a finalised sample into the current part.
func (t *track) appendSample(p sample) error {
	// A sample longer than the estimate would stretch the part past
	// PART-TARGET (rfc8216bis §4.4.4.9: DURATION <= PART-TARGET): close first.
	if len(t.partSamples) > 0 && p.dts+p.dur-t.partSamples[0].dts > t.m.tm.partTarget {
		if err := t.closePart(p.dts); err != nil {
			return err
		}
	}
	if t.segmentEmpty() {
		t.segStart, t.segStartPTS = p.dts, p.pts
		t.segPDT = t.m.cfg.Epoch.Add(p.wall)
		t.segInit = t.init
	}
	t.partSamples = append(t.partSamples, p)
	return nil
}

// cutBefore closes the part, and the segment when due, that ends where s
// begins. A part closes as soon as one more sample of the last duration
// would overflow PART-TARGET, so it is published the moment its last
// sample's duration is known.
func (t *track) cutBefore(s sample, codecChange bool) error {
	// A following track passes the leading track's segment starts even when
	// it has nothing to cut, so its MSNs stay aligned with the leader's.
	cutHere, nextMSN, disc := t.passBoundaries(s.dts)
	if t.segmentEmpty() {
		t.msn = max(t.msn, nextMSN)
		t.segDisc = t.segDisc || disc
		return nil
	}
	tm := &t.m.tm
	est := t.lastDur
	segDur := s.dts - t.segStart
	partDur := s.dts - t.partSamples[0].dts
	// Close on the estimate only when the part is long enough anyway; a
	// shorter part waits for the next sample's real duration, so it ends
	// short only when the next sample truly would not fit.
	partDue := partDur+est > tm.partTarget && partDur >= tm.minPart
	switch {
	case codecChange:
		cutHere = true
	case t.kind == KindVideo:
		// Segments start on a keyframe, the first at or after SegmentTarget,
		// give or take half a frame: an encoder's 1 s GOP stamped through
		// RTP and RTCP clocks may land a few microseconds short of 1 s.
		cutHere = s.sync && s.pts-t.segStartPTS+est/2 >= tm.segmentTarget
	case t.m.video == nil:
		// Audio-only: segments are cut by time, on a part boundary.
		cutHere = partDue && segDur >= tm.segmentTarget
	}
	if !cutHere && segDur+est > tm.maxSegment {
		// No keyframe in time: EXTINF <= TARGETDURATION (which must never
		// change) wins over "segments start on a keyframe".
		t.m.stats.ForcedCuts++
		t.m.log.Warn("packager: segment cut without keyframe; GOP longer than the target duration allows",
			"rendition", t.name, "msn", t.msn, "duration", segDur)
		cutHere = true
	}
	if !cutHere {
		if partDue {
			return t.closePart(s.dts)
		}
		return nil
	}
	if err := t.closePart(s.dts); err != nil {
		return err
	}
	t.closeSegment()
	t.msn = max(t.msn, nextMSN)
	// A new init: EXT-X-DISCONTINUITY and a new EXT-X-MAP.
	t.segDisc = codecChange || disc
	if t.follower != nil {
		t.follower.announce(boundary{at: s.dts, msn: t.msn, disc: codecChange})
	}
	return nil
}

// announce queues a segment start of the leading track.
func (t *track) announce(b boundary) {
	if len(t.boundaries) == maxBoundaries {
		t.boundaries = t.boundaries[1:] // this track stalled; keep the newest
	}
	t.boundaries = append(t.boundaries, b)
}

// passBoundaries consumes the announced segment starts at or before at.
func (t *track) passBoundaries(at time.Duration) (cut bool, msn int, disc bool) {
	for len(t.boundaries) > 0 && t.boundaries[0].at <= at {
		b := t.boundaries[0]
		cut, msn, disc = true, max(msn, b.msn), disc || b.disc
		t.boundaries = t.boundaries[1:]
	}
	return cut, msn, disc
}

// flush closes whatever is in progress: the publication is over or paused.
// The last sample's duration is a guess: the previous one's, or a frame.
func (t *track) flush() error {
	if t.hasPending {
		p := t.pending
		p.dur = t.lastDur
		if p.dur <= 0 && t.init != nil {
			p.dur = t.init.frame
		}
		t.hasPending = false
		if err := t.appendSample(p); err != nil {
			return err
		}
	}
	var err error
	if n := len(t.partSamples); n > 0 {
		last := t.partSamples[n-1]
		err = t.closePart(last.dts + last.dur)
	}
	t.closeSegment()
	t.boundaries = nil
	return err
}
