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
	anchorTS     uint32
	anchorWall   time.Time
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
		if c.firstArrival.IsZero() {
			c.firstArrival = arrival
		}
		switch {
		case c.sr != nil:
			off := c.session.offsetFor(c.sr.ntp, c.sr.arrival)
			c.anchorTS, c.anchorWall = c.sr.rtp, c.sr.ntp.Add(off)
		case arrival.Sub(c.firstArrival) >= syncFallback:
			c.anchorTS, c.anchorWall = ts, arrival
		default:
			return time.Time{}, false
		}
		c.synced, c.sr = true, nil
	}
	// Signed 32-bit difference: RTP timestamps wrap (RFC 3550 section 5.1).
	// The anchor follows the newest sample so the difference stays small.
	diff := int32(ts - c.anchorTS)
	wall := c.anchorWall.Add(time.Duration(int64(diff) * int64(time.Second) / int64(c.rate)))
	if diff > 0 {
		c.anchorTS, c.anchorWall = ts, wall
	}
	return wall, true
}
