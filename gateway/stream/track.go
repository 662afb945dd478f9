package stream

import (
	"sync"
	"time"

	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/packager"
)

// retransmitSlots is how many recent packets per track are kept to answer
// viewers' NACKs (RFC 4585 section 6.2.1): about 0.7 s of 1.5 Mbit/s video.
// A power of two, so a sequence number indexes the ring with a mask.
const retransmitSlots = 1024

// Clock rates of the routed codecs (RFC 6184 section 8.2.1, RFC 7587 section 4.1).
const (
	videoClockRate = 90000
	audioClockRate = 48000
)

// Track is one of a stream's two tracks as the WebRTC tier sees it: a single
// output timeline that outlives publisher sessions, and the recent packets on
// it for retransmission.
type Track struct {
	kind packager.Kind

	mu   sync.Mutex
	rw   rewriter
	ring [retransmitSlots]*Packet
}

func newTrack(kind packager.Kind) *Track {
	rate := uint32(videoClockRate)
	if kind == packager.KindAudio {
		rate = audioClockRate
	}
	return &Track{kind: kind, rw: rewriter{clockRate: rate}}
}

// Kind says whether this is the video or the audio track.
func (t *Track) Kind() packager.Kind { return t.kind }

// ClockRate is the RTP clock rate of the track's codec.
func (t *Track) ClockRate() uint32 { return t.rw.clockRate }

// newSession makes the next packet continue this track's numbering.
func (t *Track) newSession() {
	t.mu.Lock()
	t.rw.newSession()
	t.mu.Unlock()
}

// ingest rewrites a publisher's packet onto the output timeline and keeps it
// for retransmission. The returned packet is shared by all viewers; capture
// is when its media was captured (zero if unknown), see Packet.Capture.
func (t *Track) ingest(in *rtp.Packet, arrival, capture time.Time, session uint32) *Packet {
	p := &Packet{
		Session: session,
		Header: rtp.Header{
			Version:     2,
			Marker:      in.Marker,
			PayloadType: in.PayloadType,
		},
		Payload: in.Payload,
		Arrival: arrival,
		Capture: capture,
	}
	if t.kind == packager.KindVideo {
		p.Keyframe = startsKeyframe(in.Payload)
	}
	// Header extensions are dropped: their IDs are negotiated per connection.
	t.mu.Lock()
	p.Header.SequenceNumber, p.Header.Timestamp = t.rw.rewrite(in.SequenceNumber, in.Timestamp, arrival)
	t.ring[p.Header.SequenceNumber&(retransmitSlots-1)] = p
	t.mu.Unlock()
	return p
}

// Retransmission returns the packet with output sequence number seq, if it is
// still in the buffer, to answer a viewer's NACK.
func (t *Track) Retransmission(seq uint16) *Packet {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.ring[seq&(retransmitSlots-1)]
	if p == nil || p.Header.SequenceNumber != seq {
		return nil
	}
	return p
}
