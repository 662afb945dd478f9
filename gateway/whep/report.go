package whep

import (
	"time"

	"github.com/pion/rtcp"

	"github.com/frontrow-live/frontrow/gateway/stream"
)

// reportInterval is how often a viewer sends an RTCP sender report per
// track: once a second, as browsers do for video, so a player syncs and
// measures latency soon after it joins (RFC 3550 section 6.2 allows a
// shorter interval than its 5 s default minimum).
const reportInterval = time.Second

// ntpEpochOffset is the seconds from the NTP epoch (1900) to the Unix epoch.
const ntpEpochOffset = 2208988800

// reporter is what one of a viewer's tracks needs for its RTCP sender
// reports (RFC 3550 section 6.4.1): the packets and payload octets sent, and
// the newest output timestamp sent with the capture time of its media. Only
// the viewer's writer goroutine touches it: no lock, no allocation.
type reporter struct {
	ssrc            uint32 // the viewer's SSRC for the track
	packets, octets uint32 // modulo 2^32, as the SR carries them
	ts              uint32
	capture         time.Time // zero until a packet with a known capture time is sent
	due             time.Time // zero: report at once
}

// sent counts one packet sent to the viewer with SSRC ssrc. A packet whose
// capture time is known, and not a retransmission (an old one), becomes the
// track's mapping.
func (r *reporter) sent(ssrc uint32, p *stream.Packet, resend bool) {
	r.ssrc = ssrc
	r.packets++
	r.octets += uint32(len(p.Payload))
	if !resend && !p.Capture.IsZero() {
		r.ts, r.capture = p.Header.Timestamp, p.Capture
	}
}

// report returns the sender report due at now, if one is: the first as soon
// as the track has a mapping, then one every reportInterval while packets
// are sent. Its NTP time is now, and its RTP timestamp the one whose media
// is captured now, extrapolated at the track's clock rate from the newest
// packet's timestamp and capture time; so the pair maps the RTP clock to
// the capture clock (not to when packets happen to be sent), and a receiver
// that takes the NTP time for the send time of the report, as libwebrtc's
// remote clock estimator does, still gets the sender's clock right.
func (r *reporter) report(rate uint32, now time.Time) (rtcp.SenderReport, bool) {
	if r.capture.IsZero() || now.Before(r.due) {
		return rtcp.SenderReport{}, false
	}
	r.due = now.Add(reportInterval)
	return rtcp.SenderReport{
		SSRC:        r.ssrc,
		NTPTime:     ntpTime(now),
		RTPTime:     r.ts + uint32(ticks(now.Sub(r.capture), rate)),
		PacketCount: r.packets,
		OctetCount:  r.octets,
	}, true
}

// ticks converts d to RTP clock ticks at rate, truncated, without overflow
// for any duration; negative durations give negative ticks.
func ticks(d time.Duration, rate uint32) int64 {
	return int64(d/time.Second)*int64(rate) + int64(d%time.Second)*int64(rate)/int64(time.Second)
}

// ntpTime is t as a 64-bit NTP timestamp: seconds since 1900 in the high
// 32 bits, the fraction of a second in the low 32 (RFC 3550 section 4).
func ntpTime(t time.Time) uint64 {
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := (uint64(t.Nanosecond()) << 32) / uint64(time.Second)
	return secs<<32 | frac
}
