// Package packager turns a stream's access units into CMAF LL-HLS: init
// segments, parts, segments and the playlists that name them, all in memory.
// It knows nothing of WebRTC or HTTP servers; origin serves what it holds.
package packager

import "time"

// Kind says which of a stream's two tracks a unit belongs to.
type Kind uint8

// The two tracks a stream can have.
const (
	KindVideo Kind = iota
	KindAudio
)

// String names the kind for logs and URLs.
func (k Kind) String() string {
	if k == KindVideo {
		return "video"
	}
	return "audio"
}

// Audio codec names, as AudioInfo.Codec carries them.
const (
	CodecOpus = "opus"
	CodecAAC  = "aac"
)

// VideoInfo describes the video track; only H264 is routed. SPS and PPS are
// learned from the first keyframe's NAL units, so nothing else is needed here.
type VideoInfo struct{}

// AudioInfo describes the audio track so the init segment can be written
// before the first frame.
type AudioInfo struct {
	Codec      string // CodecOpus or CodecAAC
	SampleRate int    // Hz; 48000 for Opus
	Channels   int
	// Config is the AAC AudioSpecificConfig; empty for Opus.
	Config []byte
}

// Tracks is what a publisher brings; either may be nil, not both.
type Tracks struct {
	Video *VideoInfo
	Audio *AudioInfo
}

// Unit is one access unit on the stream clock. The gateway builds it once per
// stream and hands the same value to the packager; nothing here is copied per viewer.
type Unit struct {
	Kind Kind
	// DTS and PTS are durations since the stream's epoch (Config.Epoch), so
	// epoch+PTS is the capture wall-clock time the publisher's RTCP reported.
	DTS, PTS time.Duration
	// Keyframe marks an IDR access unit (video) ; audio units are always true.
	Keyframe bool
	// NALUs holds a video access unit's NAL units without start codes or
	// length prefixes. Keyframes carry SPS and PPS when the publisher sent them.
	NALUs [][]byte
	// Payload holds one audio frame (one Opus packet, or one raw AAC frame).
	Payload []byte
	// Arrival is when the unit's last byte reached the gateway; latency metrics use it.
	Arrival time.Time
}
