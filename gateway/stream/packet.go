package stream

import (
	"time"

	"github.com/pion/rtp"
)

// Packet is one RTP packet on a track's output timeline, built once per stream
// and shared read-only by every viewer: viewers set SSRC and payload type on
// their own copy of the header when they send it, and never touch Payload.
type Packet struct {
	Header  rtp.Header
	Payload []byte
	// Keyframe marks the first packet of an access unit that starts with an
	// IDR (or SPS); a joining viewer starts its video here.
	Keyframe bool
	// Session numbers the publisher session that sent the packet: a viewer
	// restarts its video at a keyframe when a reconnected publisher begins,
	// since the new encoder's frames do not follow from the old one's.
	Session uint32
	// Arrival is when the packet reached the gateway; forwarding delay is
	// measured from it.
	Arrival time.Time
	// Capture is when the media of Header.Timestamp was captured, on the
	// gateway's clock (the publisher's sender reports, or arrival, mapped
	// as for the HLS tier); zero while the publisher's clock is not known.
	// Viewers' RTCP sender reports map output timestamps to it, so players
	// sync audio with video and measure latency from capture.
	Capture time.Time
}
