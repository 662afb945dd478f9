package packager

import (
	"bytes"
	"fmt"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/codecparams"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/frontrow-live/frontrow/packager/cmaf"
)

const (
	// defaultVideoFrame is the duration assumed for a lone last video frame
	// when a publication ends (30 fps, the producers' recommendation).
	defaultVideoFrame = time.Second / 30
	// opusFrame is the WebRTC Opus packet duration (RFC 7587 default ptime).
	opusFrame = 20 * time.Millisecond
	// aacFrameSamples is an AAC-LC frame's length in samples (ISO/IEC 14496-3).
	aacFrameSamples = 1024
)

// initSection is one init segment of a track plus what the multivariant
// playlist says about it. Immutable once made.
type initSection struct {
	gen       int
	uri       string
	body      []byte
	timescale uint32
	// codec is the track's CODECS entry (RFC 6381 via gohlslib).
	codec string
	// frame is the duration assumed for a lone last sample.
	frame time.Duration

	// video
	sps, pps      []byte
	width, height int
	fps           float64 // from the SPS VUI; 0 when absent

	// audio
	audio    AudioInfo
	channels int
}

// newVideoInit parses the SPS (mediacommon) for resolution and frame rate and
// builds the avc1 init segment.
func newVideoInit(sps, pps []byte) (*initSection, error) {
	var s h264.SPS
	if err := s.Unmarshal(sps); err != nil {
		return nil, fmt.Errorf("packager: parse SPS: %w", err)
	}
	body, err := cmaf.VideoInitH264(sps, pps)
	if err != nil {
		return nil, err
	}
	return &initSection{
		body:      body,
		timescale: cmaf.VideoTimescale,
		codec:     codecparams.Marshal(&codecs.H264{SPS: sps, PPS: pps}),
		frame:     defaultVideoFrame,
		sps:       bytes.Clone(sps),
		pps:       bytes.Clone(pps),
		width:     s.Width(),
		height:    s.Height(),
		fps:       s.FPS(),
	}, nil
}

// newAudioInit builds the init segment an AudioInfo describes.
func newAudioInit(a AudioInfo) (*initSection, error) {
	switch a.Codec {
	case CodecOpus:
		body, err := cmaf.OpusInit(a.Channels)
		if err != nil {
			return nil, err
		}
		return &initSection{
			body:      body,
			timescale: cmaf.OpusTimescale,
			codec:     codecparams.Marshal(&codecs.Opus{ChannelCount: a.Channels}),
			frame:     opusFrame,
			audio:     cloneAudioInfo(a),
			channels:  a.Channels,
		}, nil
	case CodecAAC:
		var asc mpeg4audio.AudioSpecificConfig
		if err := asc.Unmarshal(a.Config); err != nil {
			return nil, fmt.Errorf("packager: parse AudioSpecificConfig: %w", err)
		}
		body, rate, err := cmaf.AACInit(a.Config)
		if err != nil {
			return nil, err
		}
		return &initSection{
			body:      body,
			timescale: rate,
			codec:     codecparams.Marshal(&codecs.MPEG4Audio{Config: asc}),
			frame:     time.Duration(aacFrameSamples) * time.Second / time.Duration(rate),
			audio:     cloneAudioInfo(a),
			channels:  asc.ChannelCount,
		}, nil
	default:
		return nil, fmt.Errorf("packager: audio codec %q is not supported", a.Codec)
	}
}

func cloneAudioInfo(a AudioInfo) AudioInfo {
	a.Config = bytes.Clone(a.Config)
	return a
}

func sameAudio(a, b AudioInfo) bool {
	return a.Codec == b.Codec && a.SampleRate == b.SampleRate && a.Channels == b.Channels && bytes.Equal(a.Config, b.Config)
}

// parameterSets returns the first SPS and PPS among an access unit's NAL units.
func parameterSets(nalus [][]byte) (sps, pps []byte) {
	for _, n := range nalus {
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			if sps == nil {
				sps = n
			}
		case h264.NALUTypePPS:
			if pps == nil {
				pps = n
			}
		}
	}
	return sps, pps
}

// avcc turns NAL units into an AVCC sample (4-byte length prefixes), the
// form avc1 samples take in ISOBMFF (ISO/IEC 14496-15 §5.3).
func avcc(nalus [][]byte) ([]byte, error) {
	b, err := h264.AVCC(nalus).Marshal()
	if err != nil {
		return nil, fmt.Errorf("packager: AVCC: %w", err)
	}
	return b, nil
}
