package stream

import "time"

// rewriter maps one publisher session's RTP sequence numbers and timestamps
// onto the track's output timeline, so a publisher that reconnects (new SSRC,
// random sequence and timestamp bases, RFC 3550 section 5.1) continues the
// same numbering for viewers that stay connected.
type rewriter struct {
	clockRate uint32

	started     bool
	resync      bool // the next packet is the first of a new publisher session
	seqOffset   uint16
	tsOffset    uint32
	lastOutSeq  uint16
	lastOutTS   uint32
	lastArrival time.Time
}

// newSession makes the next packet continue the output timeline instead of
// carrying the new publisher's numbering.
func (r *rewriter) newSession() { r.resync = r.started }

// rewrite returns the output sequence number and timestamp of a packet.
func (r *rewriter) rewrite(seq uint16, ts uint32, arrival time.Time) (uint16, uint32) {
	switch {
	case !r.started:
		r.started = true
	case r.resync:
		r.resync = false
		gap := arrival.Sub(r.lastArrival)
		ticks := uint32(1)
		if gap > 0 {
			ticks = max(1, uint32(gap.Seconds()*float64(r.clockRate)))
		}
		r.seqOffset = r.lastOutSeq + 1 - seq
		r.tsOffset = r.lastOutTS + ticks - ts
	}
	outSeq, outTS := seq+r.seqOffset, ts+r.tsOffset
	// Track the newest packet only; reordered ones must not move the anchor back.
	if !r.lastArrival.IsZero() && int16(outSeq-r.lastOutSeq) <= 0 {
		return outSeq, outTS
	}
	r.lastOutSeq, r.lastOutTS, r.lastArrival = outSeq, outTS, arrival
	return outSeq, outTS
}
