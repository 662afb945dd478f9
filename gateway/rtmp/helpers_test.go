package rtmp

import (
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/frontrow-live/frontrow/packager"
)

var discard = slog.New(slog.DiscardHandler)

// Small H264 NAL units: the ingest never decodes slices, only looks at
// their types (nal_unit_type, H.264 Table 7-1).
var (
	testSPS = []byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c, 0x0f, 0x16, 0x2e, 0x48}
	testPPS = []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
	testIDR = []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff}
	testP   = []byte{0x41, 0x9a, 0x22, 0x4c}
	testAUD = []byte{0x09, 0xf0}
	testSEI = []byte{0x06, 0x05, 0x01, 0xff, 0x80}
)

// AAC-LC 48 kHz stereo.
var testASC = mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 48000, ChannelCount: 2}

func avcConfig(sps, pps []byte) *mp4.AVCDecoderConfiguration {
	c := &mp4.AVCDecoderConfiguration{
		ConfigurationVersion: 1, Profile: sps[1], ProfileCompatibility: sps[2], Level: sps[3],
		Reserved: 63, LengthSizeMinusOne: 3, Reserved2: 7,
		NumOfSequenceParameterSets: 1,
		SequenceParameterSets:      []mp4.AVCParameterSet{{Length: uint16(len(sps)), NALUnit: sps}},
		NumOfPictureParameterSets:  1,
		PictureParameterSets:       []mp4.AVCParameterSet{{Length: uint16(len(pps)), NALUnit: pps}},
	}
	c.SetType(mp4.BoxTypeAvcC())
	return c
}

// avcc frames NAL units with 4-byte lengths, as FLV carries them.
func avcc(nalus ...[]byte) []byte {
	var b []byte
	for _, n := range nalus {
		b = append(b, byte(len(n)>>24), byte(len(n)>>16), byte(len(n)>>8), byte(len(n)))
		b = append(b, n...)
	}
	return b
}

// Messages as an encoder sends them, legacy FLV tags unless named Ex.
func metadataMsg(video, audio any) *message.DataAMF0 {
	obj := amf0.ECMAArray{{Key: "width", Value: float64(640)}}
	if video != nil {
		obj = append(obj, amf0.ObjectEntry{Key: "videocodecid", Value: video})
	}
	if audio != nil {
		obj = append(obj, amf0.ObjectEntry{Key: "audiocodecid", Value: audio})
	}
	return &message.DataAMF0{ChunkStreamID: 4, MessageStreamID: 1, Payload: []any{"@setDataFrame", "onMetaData", obj}}
}

func videoConfigMsg() *message.Video {
	return &message.Video{
		ChunkStreamID: 6, MessageStreamID: 1, Codec: message.CodecH264, IsKeyFrame: true,
		Type: message.VideoTypeConfig, AVCConfig: avcConfig(testSPS, testPPS),
	}
}

func videoMsg(dtsMS, ctsMS int64, nalus ...[]byte) *message.Video {
	return &message.Video{
		ChunkStreamID: 6, MessageStreamID: 1, Codec: message.CodecH264, Type: message.VideoTypeAU,
		DTS: ms(dtsMS), PTSDelta: ms(ctsMS), AU: avcc(nalus...),
	}
}

func aacConfigMsg() *message.Audio {
	asc := testASC
	return &message.Audio{
		ChunkStreamID: 4, MessageStreamID: 1, Codec: message.CodecMPEG4Audio, Rate: message.AudioRate44100,
		Depth: message.AudioDepth16, IsStereo: true, AACType: message.AudioAACTypeConfig, AACConfig: &asc,
	}
}

func aacMsg(dtsMS int64, payload []byte) *message.Audio {
	return &message.Audio{
		ChunkStreamID: 4, MessageStreamID: 1, Codec: message.CodecMPEG4Audio, Rate: message.AudioRate44100,
		Depth: message.AudioDepth16, IsStereo: true, AACType: message.AudioAACTypeAU, DTS: ms(dtsMS), AU: payload,
	}
}

func opusConfigMsg(channels uint8) *message.AudioExSequenceStart {
	return &message.AudioExSequenceStart{
		ChunkStreamID: 4, MessageStreamID: 1, FourCC: message.FourCCOpus,
		OpusConfig: &opus.IDHeader{Version: 1, ChannelCount: channels, PreSkip: 312, InputSampleRate: 48000},
	}
}

func opusMsg(dtsMS int64, payload []byte) *message.AudioExCodedFrames {
	return &message.AudioExCodedFrames{ChunkStreamID: 4, MessageStreamID: 1, FourCC: message.FourCCOpus, DTS: ms(dtsMS), Payload: payload}
}

// unitRecorder is a unitSink that keeps the units.
type unitRecorder struct {
	mu    sync.Mutex
	units []packager.Unit
	err   error
}

func (r *unitRecorder) WriteUnit(u packager.Unit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return r.err
	}
	r.units = append(r.units, u)
	return nil
}

func (r *unitRecorder) of(kind packager.Kind) []packager.Unit {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []packager.Unit
	for _, u := range r.units {
		if u.Kind == kind {
			out = append(out, u)
		}
	}
	return out
}

// ingestHarness drives an ingest with a fake publish that records what it
// was asked to publish.
type ingestHarness struct {
	in         *ingest
	sink       *unitRecorder
	published  []packager.Tracks
	publishErr error
}

func newIngestHarness() *ingestHarness {
	h := &ingestHarness{sink: &unitRecorder{}}
	h.in = newIngest(discard, func(tr packager.Tracks) (unitSink, time.Time, error) {
		if h.publishErr != nil {
			return nil, time.Time{}, h.publishErr
		}
		h.published = append(h.published, tr)
		return h.sink, epoch, nil
	})
	return h
}

// send hands msg to the ingest as arriving arrivalMS after the epoch.
func (h *ingestHarness) send(msg message.Message, arrivalMS int64) error {
	return h.in.handle(msg, epoch.Add(ms(arrivalMS)))
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
