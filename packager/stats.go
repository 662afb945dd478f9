package packager

import "time"

// Stats are the muxer's counters, for the gateway's logs and metrics.
type Stats struct {
	Parts        uint64 // parts published, all renditions
	Segments     uint64 // segments closed, all renditions
	Renders      uint64 // playlists rendered; one per change per request kind, never per viewer
	UnitsDropped uint64 // units not packaged: before the first keyframe, out of order, malformed
	ForcedCuts   uint64 // segments cut without a keyframe because the GOP was too long
	AudioBehind  uint64 // video samples published ahead of the audio: it stalled or lagged more than 3 x TARGETDURATION
	Waiting      int    // requests blocked right now (playlists and hinted parts)
	LastPart     PartInfo
}

// PartInfo describes a published part, e.g. to measure packaging delay as
// Completed minus FirstArrival.
type PartInfo struct {
	Rendition   string
	MSN, Index  int
	Duration    time.Duration
	Independent bool
	Size        int
	// Completed is when the part was published (Config.Now).
	Completed time.Time
	// FirstArrival is the Unit.Arrival of the part's first unit.
	FirstArrival time.Time
	// LastArrival is the Unit.Arrival of the part's last unit, so a
	// benchmark can time a part from its last sample arriving to serving.
	LastArrival time.Time
}

// Stats returns a snapshot of the counters.
func (m *Muxer) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// Description is what the muxer learned of the stream's codecs, for status
// pages: the multivariant playlist's CODECS entries and resolution.
type Description struct {
	VideoCodec    string // RFC 6381, e.g. "avc1.42c01e"; "" before the first keyframe
	Width, Height int
	AudioCodec    string // e.g. "opus", "mp4a.40.2"
}

// Describe returns the codecs of the current publication.
func (m *Muxer) Describe() Description {
	m.mu.Lock()
	defer m.mu.Unlock()
	var d Description
	if m.video != nil && m.video.init != nil {
		d.VideoCodec, d.Width, d.Height = m.video.init.codec, m.video.init.width, m.video.init.height
	}
	if m.audio != nil && m.audio.init != nil {
		d.AudioCodec = m.audio.init.codec
	}
	return d
}
