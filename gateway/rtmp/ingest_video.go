package rtmp

import (
	"errors"
	"time"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/frontrow-live/frontrow/packager"
)

const (
	// compositionSign is where FLV's composition time offset, a signed
	// 24-bit count of milliseconds (FLV spec E.4.3.1 CompositionTime SI24),
	// turns negative; gortmplib reads it unsigned.
	compositionSign = 1 << 23 * time.Millisecond
	// maxComposition bounds a believable PTS - DTS: B-frame reordering
	// delays a frame by a few frame durations, never by a second.
	maxComposition = time.Second
)

// videoConfig is the H264 sequence header (AVCDecoderConfigurationRecord,
// ISO/IEC 14496-15 section 5.3.3.1): RTMP sends SPS and PPS only there, so
// they are put in front of every IDR for viewers joining at it.
type videoConfig struct {
	sps, pps [][]byte
}

// newVideoConfig keeps the record's parameter sets; nil when it lacks
// either kind.
func newVideoConfig(rec *mp4.AVCDecoderConfiguration) *videoConfig {
	c := &videoConfig{}
	for _, s := range rec.SequenceParameterSets {
		if len(s.NALUnit) > 0 && h264.NALUType(s.NALUnit[0]&0x1F) == h264.NALUTypeSPS {
			c.sps = append(c.sps, s.NALUnit)
		}
	}
	for _, s := range rec.PictureParameterSets {
		if len(s.NALUnit) > 0 && h264.NALUType(s.NALUnit[0]&0x1F) == h264.NALUTypePPS {
			c.pps = append(c.pps, s.NALUnit)
		}
	}
	if len(c.sps) == 0 || len(c.pps) == 0 {
		return nil
	}
	return c
}

// withParameterSets returns an IDR access unit with SPS and PPS in it: the
// configuration's, inserted after any access unit delimiter (H.264 section
// 7.4.1.2.3 order), unless the unit carries its own.
func (c *videoConfig) withParameterSets(au [][]byte) [][]byte {
	hasSPS, hasPPS, lead := false, false, 0
	for i, n := range au {
		switch h264.NALUType(n[0] & 0x1F) {
		case h264.NALUTypeSPS:
			hasSPS = true
		case h264.NALUTypePPS:
			hasPPS = true
		case h264.NALUTypeAccessUnitDelimiter:
			if i == lead {
				lead++
			}
		}
	}
	if hasSPS && hasPPS {
		return au
	}
	out := make([][]byte, 0, len(au)+len(c.sps)+len(c.pps))
	out = append(out, au[:lead]...)
	if !hasSPS {
		out = append(out, c.sps...)
	}
	if !hasPPS {
		out = append(out, c.pps...)
	}
	return append(out, au[lead:]...)
}

// setVideo takes an H264 sequence header.
func (in *ingest) setVideo(cfg *videoConfig, arrival time.Time) error {
	if cfg == nil {
		in.warn(arrival, "rtmp: H264 sequence header without SPS or PPS; ignored")
		return nil
	}
	if in.published() {
		if !in.hasVideo {
			in.ignoreTrack(packager.KindVideo)
			return nil
		}
		in.video = cfg // new parameter sets (a resolution change) for the IDRs to come
		return nil
	}
	in.video = cfg
	if in.ready(false, arrival) {
		return in.start()
	}
	return nil
}

// videoFrame takes one H264 access unit in AVCC form with its FLV DTS and
// composition offset.
func (in *ingest) videoFrame(dts, cts time.Duration, payload []byte, arrival time.Time) error {
	on, err := in.begin(arrival)
	if err != nil {
		return err
	}
	if !on {
		in.stats.dropped++
		return nil
	}
	if !in.hasVideo {
		in.ignoreTrack(packager.KindVideo)
		return nil
	}
	var au h264.AVCC
	if err := au.Unmarshal(payload); err != nil {
		if !errors.Is(err, h264.ErrAVCCNoNALUs) {
			in.stats.dropped++
			in.warn(arrival, "rtmp: unreadable H264 frame dropped", "err", err)
		}
		return nil
	}
	nalus := [][]byte(au) // AVCC.Unmarshal skips empty NAL units
	keyframe := h264.IsRandomAccess(nalus)
	if keyframe {
		nalus = in.video.withParameterSets(nalus)
	}
	out, ok := in.mapTime(packager.KindVideo, dts, arrival)
	if !ok {
		return nil
	}
	cts = in.composition(cts, arrival)
	if cts != 0 && !in.bframes {
		in.bframes = true
		in.log.Warn("rtmp: video has B-frames: LL-HLS carries them, WebRTC viewers may stutter. To remove them: " +
			"OBS Settings > Output > Streaming: Profile baseline (or x264 Options bframes=0); ffmpeg: -bf 0 or -profile:v baseline")
	}
	return in.write(packager.Unit{
		Kind: packager.KindVideo, DTS: out, PTS: out + cts, Keyframe: keyframe, NALUs: nalus, Arrival: arrival,
	})
}

// composition reads FLV's signed composition offset; a negative or absurd
// one (PTS before DTS, or a second after it) is taken as 0.
func (in *ingest) composition(cts time.Duration, arrival time.Time) time.Duration {
	if cts >= compositionSign {
		cts -= 2 * compositionSign
	}
	if cts < 0 || cts > maxComposition {
		if !in.badCTS {
			in.badCTS = true
			in.log.Warn("rtmp: video composition offset out of range; presented at its decode time", "offset", cts)
		}
		return 0
	}
	return cts
}
