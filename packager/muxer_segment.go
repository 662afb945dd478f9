package packager

import "time"

// segment is a closed media segment: its parts back to back, so a segment
// and its parts hold the same samples (rfc8216bis §4.4.4.9).
type segment struct {
	msn           int
	uri           string
	start         time.Duration // media time of the first sample
	duration      time.Duration // EXTINF
	pdt           time.Time     // EXT-X-PROGRAM-DATE-TIME
	discontinuity bool
	init          *initSection
	// parts is nil once the parts are older than partKeepAge; partCount stays.
	parts     []*part
	partCount int
	samples   int
	body      []byte
}

func (s *segment) end() time.Duration { return s.start + s.duration }

// closeSegment turns the parts of the segment in progress into a segment.
func (t *track) closeSegment() {
	if len(t.parts) == 0 {
		return
	}
	size := 0
	for _, p := range t.parts {
		size += len(p.body)
	}
	body := make([]byte, 0, size)
	var dur time.Duration
	for _, p := range t.parts {
		body = append(body, p.body...)
		dur += p.duration
	}
	s := &segment{
		msn:           t.msn,
		uri:           segmentName(t.name, t.m.cfg.ID, t.msn),
		start:         t.segStart,
		duration:      dur,
		pdt:           t.segPDT,
		discontinuity: t.segDisc,
		init:          t.segInit,
		parts:         t.parts,
		partCount:     len(t.parts),
		samples:       t.segSamples,
		body:          body,
	}
	t.segments = append(t.segments, s)
	t.parts = nil
	t.segSamples = 0
	t.segDisc = false
	t.msn++
	t.dirty = true
	t.m.stats.Segments++
	t.trim(s.end())
}

// trim slides the playlist window and forgets what nobody may ask for any
// more. edge is the end of the newest segment.
func (t *track) trim(edge time.Duration) {
	tm := &t.m.tm
	// The window: drop the oldest listed segment while the rest still covers
	// the window (never less than 3 x TD). MEDIA-SEQUENCE rises by one per
	// removal and DISCONTINUITY-SEQUENCE by one per removed discontinuity
	// (rfc8216bis §6.2.2).
	var listed time.Duration
	for _, s := range t.segments[t.listed:] {
		listed += s.duration
	}
	for t.listed < len(t.segments)-1 && listed-t.segments[t.listed].duration >= tm.window {
		s := t.segments[t.listed]
		listed -= s.duration
		if s.discontinuity {
			t.discSeq++
		}
		t.listed++
	}
	// Parts stay downloadable partKeepAge after their segment ends.
	for _, s := range t.segments {
		if s.end() >= edge-tm.partKeepAge {
			break
		}
		s.parts = nil
	}
	// A segment that left the window stays downloadable one more window:
	// as long as the longest playlist that named it (rfc8216bis §6.2.2).
	for t.listed > 0 && t.segments[0].end() < edge-2*tm.window {
		t.segments[0] = nil
		t.segments = t.segments[1:]
		t.listed--
	}
	for len(t.inits) > 1 && len(t.segments) > 0 && t.inits[0].gen < t.segments[0].init.gen {
		t.inits = t.inits[1:]
	}
}
