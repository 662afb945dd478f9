package rtmp

import (
	"fmt"
	"regexp"
	"strconv"

	"github.com/bluenviron/gortmplib/pkg/message"
)

// frontrow routes H264 video and AAC or Opus audio; this file is the one
// place that decides which RTMP codecs those are and what a producer using
// another one is told.

// Legacy FLV codec IDs (FLV spec v10.1, E.4.3.1 VideoTagHeader CodecID and
// E.4.2.1 AudioTagHeader SoundFormat), as FLV tags and onMetaData carry them.
var (
	flvVideoCodecs = map[int]string{
		1: "JPEG", 2: "Sorenson H.263", 3: "Screen video", 4: "On2 VP6", 5: "On2 VP6 with alpha",
		6: "Screen video v2", 7: "H264", 12: "H265", // 12: the unofficial id Chinese CDNs and ffmpeg forks use
	}
	flvAudioCodecs = map[int]string{
		0: "Linear PCM", 1: "ADPCM", 2: "MP3", 3: "Linear PCM", 4: "Nellymoser", 5: "Nellymoser", 6: "Nellymoser",
		7: "G.711 A-law", 8: "G.711 mu-law", 10: "AAC", 11: "Speex", 14: "MP3", 15: "device-specific audio",
	}
)

// Enhanced RTMP FourCCs (veovera enhanced-rtmp v2) the encoders send.
var fourCCNames = map[message.FourCC]string{
	message.FourCCAVC: "H264", message.FourCCHEVC: "H265", message.FourCCAV1: "AV1", message.FourCCVP9: "VP9",
	message.FourCCMP4A: "AAC", message.FourCCOpus: "Opus", message.FourCCMP3: "MP3", message.FourCCAC3: "AC-3",
	message.FourCCFLAC: "FLAC", fourCC("ec-3"): "E-AC-3",
}

func flvCodecName(names map[int]string, id int) string {
	if n, ok := names[id]; ok {
		return n
	}
	return "id " + strconv.Itoa(id)
}

func fourCC(s string) message.FourCC {
	return message.FourCC(s[0])<<24 | message.FourCC(s[1])<<16 | message.FourCC(s[2])<<8 | message.FourCC(s[3])
}

func fourCCName(c message.FourCC) string {
	if n, ok := fourCCNames[c]; ok {
		return n
	}
	b := []byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)}
	return strconv.Quote(string(b))
}

// codecRefusal is a publish refused for its codec: it names the codec and
// what to change in the encoder.
type codecRefusal struct {
	video bool
	codec string
}

func (e *codecRefusal) Error() string {
	if e.video {
		return fmt.Sprintf("video codec %s is not supported: set the encoder to H264 "+
			"(OBS: Settings > Output > Video Encoder x264 or a hardware H.264 encoder; ffmpeg: -c:v libx264)", e.codec)
	}
	return fmt.Sprintf("audio codec %s is not supported: set the encoder to AAC "+
		"(OBS: Settings > Output > Audio Encoder AAC; ffmpeg: -c:a aac) or Opus", e.codec)
}

func refuseVideo(codec string) error { return &codecRefusal{video: true, codec: codec} }
func refuseAudio(codec string) error { return &codecRefusal{codec: codec} }

// metadataCodec reads onMetaData's videocodecid or audiocodecid: an FLV id,
// an enhanced-RTMP FourCC as a number, or a FourCC string. ok is false when
// the value names no codec this file knows (absent, 0 for "no track", or
// something an encoder made up): the media itself decides then.
func metadataCodec(v any, flv map[int]string) (name string, ok bool) {
	switch v := v.(type) {
	case float64:
		if v <= 0 || v >= 1<<32 || v != float64(int64(v)) {
			return "", false
		}
		if n, ok := flv[int(v)]; ok {
			return n, true
		}
		n, ok := fourCCNames[message.FourCC(v)]
		return n, ok
	case string:
		if len(v) == 4 {
			n, ok := fourCCNames[fourCC(v)]
			return n, ok
		}
	}
	return "", false
}

// readErrorCodec recognises gortmplib's errors for media it cannot parse
// because of the codec, so the refusal can say which codec and what to do.
var readErrorCodec = regexp.MustCompile(`unsupported (video codec|audio codec|fourCC): (\d+)`)

// refusalFromReadError turns such an error into a codecRefusal, or returns nil.
func refusalFromReadError(err error) error {
	m := readErrorCodec.FindStringSubmatch(err.Error())
	if m == nil {
		return nil
	}
	id, convErr := strconv.ParseUint(m[2], 10, 32)
	if convErr != nil {
		return nil
	}
	switch m[1] {
	case "video codec":
		return refuseVideo(flvCodecName(flvVideoCodecs, int(id)))
	case "audio codec":
		return refuseAudio(flvCodecName(flvAudioCodecs, int(id)))
	}
	// A FourCC: audio or video is not said; the name tells.
	name := fourCCName(message.FourCC(id))
	switch message.FourCC(id) {
	case message.FourCCHEVC, message.FourCCAV1, message.FourCCVP9:
		return refuseVideo(name)
	case message.FourCCMP3, message.FourCCAC3, message.FourCCFLAC, fourCC("ec-3"):
		return refuseAudio(name)
	}
	return fmt.Errorf("unsupported codec %s: set the encoder to H264 video and AAC audio", name)
}

// Codec names as codecs.go reports them, for the ones frontrow routes.
const (
	codecH264 = "H264"
	codecAAC  = "AAC"
	codecOpus = "Opus"
)

func videoSupported(name string) bool { return name == codecH264 }
func audioSupported(name string) bool { return name == codecAAC || name == codecOpus }
