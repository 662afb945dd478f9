package packager

import "time"

// Stats are the muxer's counters, for the gateway's logs and metrics.
type Stats struct {
	Parts        uint64 // parts published, all renditions
	Segments     uint64 // segments closed, all renditions
	Renders      uint64 // playlists rendered; one per change per request kind, never per viewer
	UnitsDropped uint64 // units not packaged: before the first keyframe, out of order, malformed
	ForcedCuts   uint64 // segments cut without a keyframe because the GOP was too long
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
}

// Stats returns a snapshot of the counters.
func (m *Muxer) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}
