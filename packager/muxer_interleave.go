package packager

import (
	"errors"
	"time"
)

// Interleaving. A stream's renditions are played together: a player gets no
// further than the rendition that is furthest behind, and hls.js starts every
// rendition at the main (video) playlist's live edge minus PART-HOLD-BACK,
// re-deriving the audio start from each new video playlist until it has
// loaded audio. Video published the moment it arrives, with audio reaching
// the muxer later (the Opus to AAC bridge falling behind on a starved CPU),
// puts the video playlist's edge more than PART-HOLD-BACK ahead of the audio
// playlist's: hls.js then waits for audio past the audio edge for as long as
// the lag lasts, loads neither the audio init nor a part, and the page shows
// no picture.
//
// So the muxer interleaves, as a file muxer does: a video sample more than
// maxLead ahead of the newest audio waits until the audio catches up, or
// until the waiting video spans maxHold (audio stalled or gone: video goes
// on without it). Nothing waits while the tracks arrive together.
const (
	// maxLeadParts: video may run this many part targets ahead of the audio.
	// Both edges then stay within PART-HOLD-BACK of each other: video at most
	// maxLead past the newest audio, audio's published edge at most one part
	// (plus the sample still waiting for its duration) behind it.
	maxLeadParts = 1
	// maxHoldTargetDurations bounds how much video (media time) waits for
	// the audio. The bridge on a starved CPU was seen 1.5 to 4 s late (e2e
	// under -race at load 7 to 9). Past the bound the audio counts as
	// stalled and video goes on alone: players cannot play past the audio's
	// end anyway, but the video playlist keeps moving and the memory held
	// stays bounded.
	maxHoldTargetDurations = 3
)

// heldSample is a video sample waiting for the audio, with the codec change
// (if any) that takes effect at it.
type heldSample struct {
	s       sample
	newInit *initSection
}

// pushVideo hands a video sample to the video track, or holds it while the
// audio is more than maxLead behind it.
func (m *Muxer) pushVideo(s sample, newInit *initSection) error {
	if m.audio == nil || (len(m.held) == 0 && s.dts <= m.audioAt+m.tm.maxLead) {
		return m.video.push(s, newInit)
	}
	m.held = append(m.held, heldSample{s: s, newInit: newInit})
	return m.release()
}

// audioReached records that the audio has reached media time dts and hands
// the video that waited for it to the video track.
func (m *Muxer) audioReached(dts time.Duration) error {
	m.audioAt = max(m.audioAt, dts)
	return m.release()
}

// release pushes the held video samples that the audio has caught up with,
// and those that have waited longer than maxHold allows.
func (m *Muxer) release() error {
	var errs []error
	for len(m.held) > 0 {
		h := m.held[0]
		if h.s.dts > m.audioAt+m.tm.maxLead {
			if m.held[len(m.held)-1].s.dts-h.s.dts <= m.tm.maxHold {
				break
			}
			m.stats.AudioBehind++
		}
		m.held[0] = heldSample{}
		m.held = m.held[1:]
		errs = append(errs, m.video.push(h.s, h.newInit))
	}
	return errors.Join(errs...)
}

// drain pushes every held video sample: the publication is over or paused,
// and whatever audio is coming has come.
func (m *Muxer) drain() error {
	var errs []error
	for _, h := range m.held {
		errs = append(errs, m.video.push(h.s, h.newInit))
	}
	m.held = nil
	return errors.Join(errs...)
}

// newestVideoInit is the video init in force after the held samples: what a
// keyframe's parameter sets are compared with.
func (m *Muxer) newestVideoInit() *initSection {
	for i := len(m.held) - 1; i >= 0; i-- {
		if in := m.held[i].newInit; in != nil {
			return in
		}
	}
	return m.video.init
}
