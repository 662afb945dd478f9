// Package demo publishes a looping H264+Opus MP4 through the same ingest path
// a WHIP publisher feeds (RTP packets plus sender reports), so a fresh gateway
// has a stream to show and tests have a deterministic publisher.
package demo

import (
	"encoding/hex"
	"fmt"
	"io"
	"slices"
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

// Source is a demuxed file ready to play; it is read-only, so several Runs
// may play it at once, each as an independent sender.
type Source struct {
	cfg config
	m   *media
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
	return &Source{cfg: cfg, m: m}, nil
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
// output against it. The samples' bytes are shared: do not modify them.
func (s *Source) Samples() []Sample { return slices.Clone(s.m.samples) }

// RequestKeyframe is a no-op: a file cannot encode an IDR on demand, and
// skipping ahead to the next GOP would break the timeline. The demo file has a
// 1 s GOP, so a viewer waits at most a second, as with an RTMP encoder.
func (s *Source) RequestKeyframe() {}
