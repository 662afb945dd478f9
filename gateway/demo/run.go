package demo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/frontrow-live/frontrow/packager"
)

// maxLag is how far playout may fall behind the wall clock before it skips
// ahead rather than sending the backlog in one burst.
const maxLag = time.Second

// Run plays the file in real time, looping, until ctx is done; then it
// returns ctx.Err(). It returns earlier only if the sink fails. Each Run is a
// new sender (new SSRCs, sequence numbers and timestamps). RTP timestamps
// advance by Duration every loop, so they never jump back, and both tracks
// share one media timeline that sender reports map to the wall clock.
//
// Units are sent at their due time against the Clock. Units a little late
// (a GC pause) go out at once with their timestamps; if playout falls more
// than maxLag behind (a suspended VM), the timeline skips the gap instead of
// bursting it, as a live encoder whose capture clock kept running would.
//
// The schedule (send times and RTP timestamps) is the file's; a keyframe
// request only changes which video frame's content goes out at a slot (see
// RequestKeyframe).
func (s *Source) Run(ctx context.Context, sink Sink) error {
	clock := s.cfg.clock
	var senders [2]*sender // indexed by packager.Kind
	if s.m.hasVideo {
		senders[packager.KindVideo] = newSender(packager.KindVideo, s.m)
	}
	if s.m.hasAudio {
		senders[packager.KindAudio] = newSender(packager.KindAudio, s.m)
		for senders[0] != nil && senders[1].ssrc == senders[0].ssrc {
			senders[1].ssrc = rand.Uint32() // SSRCs are unique per session (RFC 3550 section 8)
		}
	}

	// epoch is the wall-clock time of media time 0 of the first loop.
	epoch := clock.Now()
	report := func() {
		now := clock.Now()
		for _, snd := range senders {
			if snd != nil {
				sink.WriteSenderReport(snd.kind, now, snd.rtpTime(now.Sub(epoch)))
			}
		}
	}
	report()
	nextReport := epoch.Add(s.cfg.reportInterval)

	rw := newRewinder(s)
	var skipped time.Duration // media time skipped after falling behind
	for n := 0; ; n++ {
		k := 0 // video position in the loop
		for i := range s.m.samples {
			smp := &s.m.samples[i]
			offset := time.Duration(n)*s.m.loop + skipped
			due := epoch.Add(offset + smp.DTS)
			if lag := clock.Now().Sub(due); lag > maxLag {
				skipped += lag
				offset += lag
				due = due.Add(lag)
				nextReport = due // the mapping did not change, but receivers resync sooner
			}
			for !nextReport.After(due) {
				if err := clock.Sleep(ctx, nextReport.Sub(clock.Now())); err != nil {
					return err
				}
				report()
				nextReport = nextReport.Add(s.cfg.reportInterval)
			}
			if err := clock.Sleep(ctx, due.Sub(clock.Now())); err != nil {
				return err
			}
			unit, pts := smp, smp.PTS
			if smp.Kind == packager.KindVideo {
				// Checked once due, so a request made while waiting counts.
				unit = rw.content(k, smp)
				pts = smp.DTS + unit.PTS - unit.DTS
				k++
			}
			snd := senders[smp.Kind]
			for _, pkt := range snd.packets(unit, offset+pts, s.cfg.mtu) {
				if err := sink.WriteRTP(snd.kind, pkt, clock.Now()); err != nil {
					return fmt.Errorf("demo: write %v rtp: %w", snd.kind, err)
				}
			}
		}
	}
}
