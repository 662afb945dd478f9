package stream

import (
	"sync/atomic"

	"github.com/frontrow-live/frontrow/packager"
)

// The stream's running totals, for metrics. The ingest adds to atomics
// owned by the stream (one writer per track, so no contention); each WebRTC
// viewer counts in its own atomics, summed only when Counters is read. So
// the hot path pays an atomic add per packet and nothing per viewer beyond
// what the viewer itself already does.

// Traffic counts packets and their payload bytes.
type Traffic struct {
	Packets, Bytes uint64
}

// ViewerStats are one WebRTC viewer's totals, or the sum over viewers.
type ViewerStats struct {
	Sent Traffic // RTP packets and payload bytes handed to the connection
	// Dropped packets found the viewer's queue full (a slow viewer).
	Dropped uint64
	// NACKs counts sequence numbers viewers asked to have retransmitted
	// (RFC 4585 section 6.2.1); Retransmits those found and queued again.
	NACKs, Retransmits uint64
	// KeyframeRequests counts PLIs and FIRs received from viewers.
	KeyframeRequests uint64
	// ForwardDelay is the time from a packet's arrival at the gateway to
	// its viewer's connection taking it (encrypted and sent), for every
	// first transmission.
	ForwardDelay DelayHistogram
}

func (s *ViewerStats) add(o ViewerStats) {
	s.Sent.Packets += o.Sent.Packets
	s.Sent.Bytes += o.Sent.Bytes
	s.Dropped += o.Dropped
	s.NACKs += o.NACKs
	s.Retransmits += o.Retransmits
	s.KeyframeRequests += o.KeyframeRequests
	s.ForwardDelay.add(o.ForwardDelay)
}

// CountingViewer is a Viewer that keeps its own totals; the stream adds
// them to Counters while it is subscribed and keeps them once it leaves.
type CountingViewer interface {
	Viewer
	ViewerStats() ViewerStats
}

// Counters are a stream's totals since it started.
type Counters struct {
	// In is what publishers sent, by packager.Kind: RTP packets (WHIP, the
	// demo) or access units (RTMP), and their payload bytes.
	In [2]Traffic
	// IncompleteUnits are video access units lost in the ingest (packets
	// missing), not handed to the packager.
	IncompleteUnits uint64
	// KeyframeRequests were sent upstream to the publisher (rate-limited).
	KeyframeRequests uint64
	// Viewers adds up the WebRTC viewers, those watching and those gone.
	Viewers ViewerStats
}

// ingestCounters are the ingest's atomics, by packager.Kind.
type ingestCounters struct {
	packets, bytes atomic.Uint64
}

func (s *Stream) countIn(kind packager.Kind, bytes int) {
	c := &s.in[kind&1]
	c.packets.Add(1)
	c.bytes.Add(uint64(bytes))
}

// Counters reads the stream's totals now.
func (s *Stream) Counters() Counters {
	var c Counters
	for k := range s.in {
		c.In[k] = Traffic{Packets: s.in[k].packets.Load(), Bytes: s.in[k].bytes.Load()}
	}
	c.IncompleteUnits = s.lostUnits.Load()
	c.KeyframeRequests = s.keyReqSent.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	c.Viewers = s.pastViewers
	for _, v := range *s.viewers.Load() {
		if cv, ok := v.(CountingViewer); ok {
			c.Viewers.add(cv.ViewerStats())
		}
	}
	return c
}
