package demo

import (
	"time"

	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/packager"
)

// Sink is the ingest path a WHIP publisher also feeds, so the demo exercises
// exactly the code a real publisher does.
type Sink interface {
	// WriteRTP takes one RTP packet of a track; the packet and its payload are
	// the sink's to keep (Run never reuses them). An error stops Run.
	WriteRTP(kind packager.Kind, pkt *rtp.Packet, arrival time.Time) error
	// WriteSenderReport maps an RTP timestamp of the track to wall-clock time
	// (RFC 3550 section 6.4.1 SR).
	WriteSenderReport(kind packager.Kind, ntp time.Time, rtpTime uint32)
}
