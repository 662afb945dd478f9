// Package demo publishes a looping H264+Opus MP4 through the same ingest path
// a WHIP publisher feeds (RTP packets plus sender reports), so a fresh gateway
// has a stream to show and tests have a deterministic publisher.
package demo

import (
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"time"

	"github.com/frontrow-live/frontrow/packager"
)

// RTP parameters of the demo publication, as a WHIP offer would negotiate them.
const (
	PayloadTypeH264 = 96
	PayloadTypeOpus = 111
	// VideoClockRate is H264's RTP clock (RFC 6184 section 8.2.1).
	VideoClockRate = 90000
	// AudioClockRate is Opus' RTP clock whatever the input rate (RFC 7587 section 4.1).
	AudioClockRate = 48000
)

// Source is a demuxed file ready to play. Apart from a count of keyframe
// requests it is read-only, so several Runs may play it at once, each as an
// independent sender.
type Source struct {
	cfg  config
	m    *media
	gops *gopIndex // nil: the file cannot answer keyframe requests

	// keyframeRequests counts RequestKeyframe calls; each Run answers the
	// ones it has not seen yet.
	keyframeRequests atomic.Uint64
}

// NewSource demuxes a progressive MP4 (one H264 and/or one Opus track) once,
// so every loop afterwards is served from memory.
func NewSource(r io.ReadSeeker, opts ...Option) (*Source, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	m, err := demux(r)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	return &Source{cfg: cfg, m: m, gops: newGOPIndex(m)}, nil
}

// Tracks describes the publication the way any publisher announces it.
func (s *Source) Tracks() packager.Tracks {
	var t packager.Tracks
	if s.m.hasVideo {
		t.Video = &packager.VideoInfo{}
	}
	if s.m.hasAudio {
		t.Audio = &packager.AudioInfo{Codec: packager.CodecOpus, SampleRate: AudioClockRate, Channels: s.m.channels}
	}
	return t
}

// ProfileLevelID is the H264 profile-level-id for the SDP fmtp (RFC 6184
// section 8.1), read from the SPS; empty without video.
func (s *Source) ProfileLevelID() string {
	if !s.m.hasVideo || len(s.m.sps[0]) < 4 {
		return ""
	}
	return hex.EncodeToString(s.m.sps[0][1:4])
}

// Duration is one loop of the file; RTP timestamps advance by it every loop.
func (s *Source) Duration() time.Duration { return s.m.loop }

// Samples lists what one loop plays, in send order, so tests can check the
// output against it: exactly so without keyframe requests; after one, video
// content is rewound (see RequestKeyframe) but the schedule is the same. The
// samples' bytes are shared: do not modify them.
func (s *Source) Samples() []Sample { return slices.Clone(s.m.samples) }

// RequestKeyframe answers a keyframe request (RTCP PLI or FIR) as a live
// encoder does: the next video frame each running Run sends is a keyframe.
// A file cannot encode an IDR on demand, so the content rewinds instead: the
// frame sent is the IDR that starts the GOP of the frame that was due, and
// playout goes on from there (looping over the file's end as usual). The
// timeline does not move: send times, RTP timestamps (each substituted frame
// keeps its own PTS-DTS offset on the scheduled DTS, so a B-frame GOP keeps
// its frame order), sequence numbers and the audio go on exactly as without the request,
// so a viewer sees part of a GOP again instead of waiting up to a whole GOP.
//
// Nothing changes if the frame due is a keyframe anyway, and any number of
// requests before a Run's next video frame make one rewind. Every Run playing
// now answers, each at its own next frame; a Run started later does not (it
// starts at the file's first frame). Safe for concurrent use.
//
// The rewind assumes every video frame lasts the same (the demo files do);
// for a file whose frame durations differ, or that has no IDR, a request does
// nothing and a viewer waits for the file's next keyframe.
func (s *Source) RequestKeyframe() { s.keyframeRequests.Add(1) }
