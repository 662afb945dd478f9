package stream

import (
	"sync"
	"time"
)

// syncFallback is how long a track waits for its first RTCP sender report
// before its clock is anchored to packet arrival instead. Browsers and pion
// send the first SR within about a second; encoders that never send one
// still get an HLS tier, only without exact A/V sync.
const syncFallback = 2 * time.Second

// sessionClock holds what the tracks of one publisher session share: the
// offset from the publisher's NTP clock to the gateway's wall clock. Both
// tracks map through the same offset, so the A/V alignment the publisher's
// sender reports describe survives into the HLS tier (RFC 3550 section 6.4.1).
type sessionClock struct {
	mu         sync.Mutex
	offset     time.Duration
	haveOffset bool
}

// offsetFor fixes the offset at the session's first sender report and
// returns it ever after.
func (s *sessionClock) offsetFor(ntp, arrival time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.haveOffset {
		s.offset, s.haveOffset = arrival.Sub(ntp), true
	}
	return s.offset
}

// trackClock turns one track's RTP timestamps into wall-clock times.
type trackClock struct {
	rate    uint32
	session *sessionClock

	mu           sync.Mutex
	sr           *senderReport // newest SR not yet used for anchoring
	synced       bool
	anchorWall   time.Time // wall time of the anchor timestamp
	lastTS       uint32    // newest timestamp seen
	lastTicks    int64     // lastTS in ticks since the anchor, unwrapped
	firstArrival time.Time
}

type senderReport struct {
	ntp     time.Time
	rtp     uint32
	arrival time.Time
}

// senderReport records an RTCP SR; the first one anchors the track.
func (c *trackClock) senderReport(ntp time.Time, rtpTS uint32, arrival time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced {
		c.sr = &senderReport{ntp: ntp, rtp: rtpTS, arrival: arrival}
	}
}

// wallTime returns when the sample with timestamp ts was captured, on the
// gateway's clock; ok is false while the track waits for its first SR.
func (c *trackClock) wallTime(ts uint32, arrival time.Time) (t time.Time, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.synced {
		var anchorTS uint32
		if c.firstArrival.IsZero() {
			c.firstArrival = arrival
		}
		switch {
		case c.sr != nil:
			off := c.session.offsetFor(c.sr.ntp, c.sr.arrival)
			anchorTS, c.anchorWall = c.sr.rtp, c.sr.ntp.Add(off)
		case arrival.Sub(c.firstArrival) >= syncFallback:
			anchorTS, c.anchorWall = ts, arrival
		default:
			return time.Time{}, false
		}
		c.synced, c.sr = true, nil
		c.lastTS, c.lastTicks = anchorTS, 0
	}
	// Unwrap against the newest timestamp: RTP timestamps wrap (RFC 3550
	// section 5.1) and arrive out of order, never by more than 2^31 ticks.
	ticks := c.lastTicks + int64(int32(ts-c.lastTS))
	if ticks > c.lastTicks {
		c.lastTS, c.lastTicks = ts, ticks
	}
	// Whole seconds and remainder: exact, and no overflow for centuries.
	rate := int64(c.rate)
	return c.anchorWall.Add(time.Duration(ticks/rate)*time.Second + time.Duration(ticks%rate)*time.Second/time.Duration(rate)), true
}
