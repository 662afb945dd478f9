package loadgen

import (
	"sync/atomic"
	"time"
)

// Stats is what a viewer has received so far; the orchestrator sums them.
type Stats struct {
	// Packets and Bytes count the SRTP packets received (RTP only, not
	// RTCP); Bytes are whole datagrams: RTP header, encrypted payload and
	// authentication tag.
	Packets, Bytes uint64
	// Video and Audio split Packets by kind: by SSRC as the answer named
	// them, else by payload type.
	Video, Audio uint64
	// Lost is the sequence numbers never received: expected minus
	// received, per SSRC, never below zero.
	Lost uint64
	// RTCP counts SRTCP packets (sender reports), kept out of Packets.
	RTCP uint64
	// Trains counts the datagrams that carried more than one packet: runs
	// of packets the gateway sent as one UDP GSO train and the kernel left
	// whole (UDP_GRO, Linux). Each packet of a train is counted as if it
	// had come alone. Zero where the kernel refuses UDP_GRO: it then splits
	// trains into datagrams on arrival (on loopback, in the sender's
	// system call).
	Trains uint64
	// DecryptErrors counts packets that failed SRTP authentication while
	// the first keyframe was looked for; non-zero means wrong keys.
	DecryptErrors uint64
	// Connected is the time from sending the POST to the end of the DTLS
	// handshake.
	Connected time.Duration
	// FirstFrame is the time from sending the POST to the arrival of the
	// packet (marker bit) that completed the first H264 keyframe; zero
	// until then.
	FirstFrame time.Duration
}

// counters are a viewer's Stats as atomics: written by the reader
// goroutine (and Dial), read by Stats at any time.
type counters struct {
	packets, bytes, video, audio, lost, rtcp, trains, decryptErrors atomic.Uint64
	connected, firstFrame                                           atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Packets: c.packets.Load(), Bytes: c.bytes.Load(),
		Video: c.video.Load(), Audio: c.audio.Load(),
		Lost: c.lost.Load(), RTCP: c.rtcp.Load(), Trains: c.trains.Load(), DecryptErrors: c.decryptErrors.Load(),
		Connected:  time.Duration(c.connected.Load()),
		FirstFrame: time.Duration(c.firstFrame.Load()),
	}
}

// kind is what an RTP stream carries.
type kind uint8

const (
	kindUnknown kind = iota
	kindVideo
	kindAudio
)

// maxTracks bounds the SSRCs a viewer tracks for loss; the gateway sends
// two. Packets of further SSRCs are still counted, by payload type.
const maxTracks = 4

// seqJump is a sequence-number step taken for a restart of the sender's
// numbering rather than loss (RFC 3550 appendix A.1's MAX_DROPOUT).
const seqJump = 3000

// track follows one SSRC's sequence numbers, extended to 64 bits so that
// wrap-around is not loss.
type track struct {
	ssrc     uint32
	kind     kind
	base     int64  // first extended sequence number of the current run
	max      int64  // highest extended sequence number seen
	received uint64 // packets in the current run
	prior    uint64 // packets lost in runs before a restart
}

// lost is expected minus received for this SSRC, never below zero.
func (t *track) lost() uint64 {
	expected := uint64(t.max - t.base + 1)
	cur := uint64(0)
	if expected > t.received {
		cur = expected - t.received
	}
	return t.prior + cur
}

// update takes one packet's sequence number and reports whether the loss
// count may have changed (anything but the next number in order).
func (t *track) update(seq uint16) bool {
	delta := int64(int16(seq - uint16(t.max)))
	if delta > seqJump || delta < -seqJump {
		// The sender restarted its numbering: close this run.
		t.prior = t.lost()
		t.base, t.max, t.received = int64(seq), int64(seq), 1
		return true
	}
	t.received++
	switch {
	case delta == 1:
		t.max++
		return false
	case delta > 0:
		t.max += delta
	case t.max+delta < t.base:
		t.base = t.max + delta // late packet from before the first one
	}
	return true
}

// tracks are the reader goroutine's per-SSRC state; only it touches them.
type tracks struct {
	t [maxTracks]track
	n int
}

// find returns the SSRC's track, nil if it has none.
func (ts *tracks) find(ssrc uint32) *track {
	for i := range ts.t[:ts.n] {
		if ts.t[i].ssrc == ssrc {
			return &ts.t[i]
		}
	}
	return nil
}

// add starts tracking an SSRC at its first sequence number; nil when all
// slots are taken.
func (ts *tracks) add(ssrc uint32, seq uint16, k kind) *track {
	if ts.n == maxTracks {
		return nil
	}
	t := &ts.t[ts.n]
	ts.n++
	*t = track{ssrc: ssrc, kind: k, base: int64(seq), max: int64(seq) - 1}
	return t
}

func (ts *tracks) lost() uint64 {
	var sum uint64
	for i := range ts.t[:ts.n] {
		sum += ts.t[i].lost()
	}
	return sum
}
