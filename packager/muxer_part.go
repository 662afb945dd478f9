package packager

import (
	"fmt"
	"time"

	"github.com/frontrow-live/frontrow/packager/cmaf"
)

// sample is one unit on the media timeline, waiting in a part.
type sample struct {
	dts, pts time.Duration // media time: stream clock plus the publication offset
	wall     time.Duration // PTS as the publisher's clock has it: Epoch+wall is capture time
	dur      time.Duration // set once the next sample's DTS is known
	sync     bool
	data     []byte
	arrival  time.Time
}

// part is one published LL-HLS part (rfc8216bis §4.4.4.9): one CMAF
// fragment. Immutable once published, so readers need no lock on it.
type part struct {
	msn, index  int
	uri         string
	duration    time.Duration
	independent bool // starts with a sync sample: INDEPENDENT=YES
	body        []byte
	// completed is when the part was published (Config.Now); arrival is
	// when its first unit reached the gateway.
	completed, arrival time.Time
}

// closePart publishes the samples waiting in the current part as a part
// ending at end (media time).
func (t *track) closePart(end time.Duration) error {
	samples := t.partSamples
	if len(samples) == 0 {
		return nil
	}
	ts := t.segInit.timescale
	out := make([]cmaf.Sample, len(samples))
	for i, s := range samples {
		next := end
		if i+1 < len(samples) {
			next = samples[i+1].dts
		}
		dts := toTicks(s.dts, ts)
		out[i] = cmaf.Sample{
			Duration:          uint32(toTicks(next, ts) - dts),
			CompositionOffset: int32(toTicks(s.pts, ts) - dts),
			Sync:              s.sync,
			Data:              s.data,
		}
	}
	body, err := cmaf.Fragment(t.seq, uint64(toTicks(samples[0].dts, ts)), out)
	lastArrival := samples[len(samples)-1].arrival
	t.partSamples = t.partSamples[:0]
	if err != nil {
		return fmt.Errorf("packager: %s part %d.%d: %w", t.name, t.msn, len(t.parts), err)
	}
	t.seq++
	p := &part{
		msn:         t.msn,
		index:       len(t.parts),
		uri:         partName(t.name, t.m.cfg.ID, t.msn, len(t.parts)),
		duration:    end - samples[0].dts,
		independent: samples[0].sync,
		body:        body,
		completed:   t.m.cfg.Now(),
		arrival:     samples[0].arrival,
	}
	t.parts = append(t.parts, p)
	t.segSamples += len(samples)
	t.dirty = true
	t.m.stats.Parts++
	t.m.stats.LastPart = PartInfo{
		Rendition: t.name, MSN: p.msn, Index: p.index, Duration: p.duration,
		Independent: p.independent, Size: len(body), Completed: p.completed, FirstArrival: p.arrival,
		LastArrival: lastArrival,
	}
	if on := t.m.cfg.OnPart; on != nil {
		on(t.m.stats.LastPart)
	}
	return nil
}

// toTicks converts media time to a track's timescale, rounding down, without
// overflowing for streams that run for years.
func toTicks(d time.Duration, timescale uint32) int64 {
	sec, rem := d/time.Second, d%time.Second
	if rem < 0 {
		sec, rem = sec-1, rem+time.Second
	}
	return int64(sec)*int64(timescale) + int64(rem)*int64(timescale)/int64(time.Second)
}
