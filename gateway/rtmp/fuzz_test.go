package rtmp

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	mp4ff "github.com/Eyevinn/mp4ff/mp4"
	"github.com/bluenviron/gortmplib/pkg/bytecounter"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/gortmplib/pkg/rawmessage"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"

	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

// The fuzz input is a list of RTMP messages as they come off the wire, each
//
//	type(1) timestamp-ms(4, BE) arrival-step-ms(2, BE) body-length(2, BE) body
//
// with type taken modulo mediaTypes. They are chunked by gortmplib's writer,
// read back by its reader (so the fuzzer reaches gortmplib's FLV tag
// parsing), and the parsed messages drive an ingest publishing into a real
// registry and packager, as a connection would.
var mediaTypes = []message.Type{message.TypeAudio, message.TypeVideo, message.TypeDataAMF0, message.TypeCommandAMF0}

const recordHeader = 9

type fuzzRecord struct {
	typ     message.Type
	ts      uint32
	arrival uint16 // ms after the previous message
	body    []byte
}

func parseRecords(data []byte) []fuzzRecord {
	var out []fuzzRecord
	for len(data) >= recordHeader {
		n := int(binary.BigEndian.Uint16(data[7:9]))
		if len(data) < recordHeader+n {
			break
		}
		out = append(out, fuzzRecord{
			typ:     mediaTypes[int(data[0])%len(mediaTypes)],
			ts:      binary.BigEndian.Uint32(data[1:5]),
			arrival: binary.BigEndian.Uint16(data[5:7]),
			body:    data[recordHeader : recordHeader+n],
		})
		data = data[recordHeader+n:]
	}
	return out
}

func encodeRecords(rs []fuzzRecord) []byte {
	var b []byte
	for _, r := range rs {
		i := 0
		for mediaTypes[i] != r.typ {
			i++
		}
		b = append(b, byte(i))
		b = binary.BigEndian.AppendUint32(b, r.ts)
		b = binary.BigEndian.AppendUint16(b, r.arrival)
		b = binary.BigEndian.AppendUint16(b, uint16(len(r.body)))
		b = append(b, r.body...)
	}
	return b
}

// chunkStream gives each message type the chunk stream encoders use for it.
func chunkStream(t message.Type) byte {
	switch t {
	case message.TypeAudio:
		return message.AudioChunkStreamID
	case message.TypeVideo:
		return message.VideoChunkStreamID
	case message.TypeCommandAMF0:
		return 3
	}
	return 5
}

// checkedSink passes units on and checks what the ingest promises: DTS
// rising per track and not before the epoch, PTS not before DTS, video
// keyframes that carry SPS and PPS, no empty NAL units or frames.
type checkedSink struct {
	t       *testing.T
	next    unitSink
	tracks  packager.Tracks
	last    [2]time.Duration
	written [2]bool
}

func (c *checkedSink) WriteUnit(u packager.Unit) error {
	t := c.t
	k := u.Kind & 1
	switch {
	case u.Kind == packager.KindVideo && c.tracks.Video == nil, u.Kind == packager.KindAudio && c.tracks.Audio == nil:
		t.Fatalf("%s unit for a publication without that track", u.Kind)
	case u.DTS < 0:
		t.Fatalf("%s DTS %v before the epoch", u.Kind, u.DTS)
	case c.written[k] && u.DTS <= c.last[k]:
		t.Fatalf("%s DTS %v after %v: not rising", u.Kind, u.DTS, c.last[k])
	case u.PTS < u.DTS || u.PTS-u.DTS > maxComposition:
		t.Fatalf("%s PTS %v, DTS %v", u.Kind, u.PTS, u.DTS)
	}
	c.last[k], c.written[k] = u.DTS, true
	if u.Kind == packager.KindAudio {
		if len(u.Payload) == 0 || !u.Keyframe {
			t.Fatalf("audio unit: %d bytes, keyframe %v", len(u.Payload), u.Keyframe)
		}
	} else {
		sps, pps := false, false
		for _, n := range u.NALUs {
			if len(n) == 0 {
				t.Fatal("empty NAL unit")
			}
			sps = sps || h264.NALUType(n[0]&0x1F) == h264.NALUTypeSPS
			pps = pps || h264.NALUType(n[0]&0x1F) == h264.NALUTypePPS
		}
		if len(u.NALUs) == 0 || u.Keyframe != h264.IsRandomAccess(u.NALUs) || u.Keyframe && !(sps && pps) {
			t.Fatalf("video unit: %d NAL units, keyframe %v, SPS %v, PPS %v", len(u.NALUs), u.Keyframe, sps, pps)
		}
	}
	return c.next.WriteUnit(u)
}

// nopViewer makes the stream packetize and fan out as for a real viewer.
type nopViewer struct{ _ byte }

func (*nopViewer) WritePacket(packager.Kind, *stream.Packet) {}
func (*nopViewer) StreamEnded()                              {}

// FuzzUnits feeds RTMP messages (see parseRecords) through the ingest
// into a registry with a packager: nothing may panic, and every unit must
// be one the tiers can take (checkedSink).
func FuzzUnits(f *testing.F) {
	f.Add(encodeRecords(seedSession(seedSPS, seedPPS, false)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var wire bytes.Buffer
		bw := bytecounter.NewWriter(&wire)
		w := rawmessage.NewWriter(bw, bw, false)
		records := parseRecords(data)
		var arrivals []time.Time
		now := epoch
		for _, r := range records {
			err := w.Write(&rawmessage.Message{
				ChunkStreamID: chunkStream(r.typ), Timestamp: time.Duration(r.ts) * time.Millisecond,
				Type: uint8(r.typ), MessageStreamID: 1, Body: r.body,
			})
			if err != nil {
				return
			}
			now = now.Add(time.Duration(r.arrival) * time.Millisecond)
			arrivals = append(arrivals, now)
		}

		reg := stream.NewRegistry(stream.Config{
			GracePeriod: time.Hour, Logger: discard, Now: func() time.Time { return epoch },
			NewSink: func(name string, e time.Time) (stream.UnitSink, error) {
				return packager.NewMuxer(packager.Config{Epoch: e, Logger: discard, ID: "fuzz", Now: func() time.Time { return epoch }})
			},
		})
		defer reg.Close()
		publishes := 0
		in := newIngest(discard, func(tr packager.Tracks) (unitSink, time.Time, error) {
			publishes++
			if publishes > 1 {
				t.Fatal("published twice")
			}
			p, err := reg.Publish("fuzz", stream.PublishRequest{Tracks: tr, Protocol: "rtmp"})
			if err != nil {
				return nil, time.Time{}, err
			}
			if _, err := p.Stream().Subscribe(&nopViewer{}); err != nil {
				t.Fatal(err)
			}
			return &checkedSink{t: t, next: p, tracks: tr}, p.Stream().Epoch(), nil
		})

		br := bytecounter.NewReader(&wire)
		mr := message.NewReader(br, br, func(uint32) error { return nil })
		for i := range records {
			msg, err := mr.Read()
			if err != nil {
				return // the connection would end here
			}
			if _, ok := msg.(*message.CommandAMF0); ok {
				continue
			}
			if err := in.handle(msg, arrivals[i]); err != nil {
				return // the session ends: refused, or the stream said so
			}
		}
	})
}

// Seeds: real encoder sessions (ffmpeg's message order, the test file's SPS
// and PPS) and the edge cases the ingest handles. Regenerate the committed
// corpus with FRONTROW_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds.

// The parameter sets of testdata/baseline-h264-aac.mp4 (640x360 baseline),
// so the packager gets as far as its init segment.
var seedSPS, seedPPS = fileParameterSets()

func fileParameterSets() ([]byte, []byte) {
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "baseline-h264-aac.mp4"))
	if err != nil {
		return testSPS, testPPS
	}
	f, err := mp4ff.DecodeFile(bytes.NewReader(data))
	if err != nil {
		return testSPS, testPPS
	}
	for _, trak := range f.Moov.Traks {
		if avc := trak.Mdia.Minf.Stbl.Stsd.AvcX; avc != nil {
			return avc.AvcC.SPSnalus[0], avc.AvcC.PPSnalus[0]
		}
	}
	return testSPS, testPPS
}

// toRecords turns messages into fuzz records by writing them with
// gortmplib and reading the raw messages back.
func toRecords(msgs []message.Message, arrivals []uint16) []fuzzRecord {
	var wire bytes.Buffer
	bw := bytecounter.NewWriter(&wire)
	mw := message.NewWriter(bw, bw, false)
	for _, m := range msgs {
		if err := mw.Write(m); err != nil {
			panic(fmt.Sprintf("seed message %T: %v", m, err))
		}
	}
	br := bytecounter.NewReader(&wire)
	rr := rawmessage.NewReader(br, br, func(uint32) error { return nil })
	var out []fuzzRecord
	for i := range msgs {
		raw, err := rr.Read()
		if err != nil {
			panic(fmt.Sprintf("seed message %d: %v", i, err))
		}
		out = append(out, fuzzRecord{
			typ: message.Type(raw.Type), ts: uint32(raw.Timestamp / time.Millisecond), arrival: arrivals[i], body: raw.Body,
		})
	}
	return out
}

// seedSession is ffmpeg's order: metadata, sequence headers, then a GOP of
// interleaved video (30 fps) and AAC (48 kHz) in real time.
func seedSession(sps, pps []byte, bframes bool) []fuzzRecord {
	msgs := []message.Message{metadataMsg(float64(7), float64(10))}
	cfg := videoConfigMsg()
	cfg.AVCConfig = avcConfig(sps, pps)
	msgs = append(msgs, cfg, aacConfigMsg())
	arrivals := []uint16{0, 1, 1}
	for i := range 12 {
		dts := int64(i) * 1000 / 30
		nalu := testP
		if i%6 == 0 {
			nalu = testIDR
		}
		cts := int64(0)
		if bframes && i%3 == 1 {
			cts = 67
		}
		msgs = append(msgs, videoMsg(dts, cts, nalu), aacMsg(int64(i)*1024*1000/48000, []byte{0x21, byte(i)}))
		arrivals = append(arrivals, 33, 1)
	}
	return toRecords(msgs, arrivals)
}

// mpeg4audioMono is an AAC configuration other than the seed session's.
var mpeg4audioMono = mpeg4audio.AudioSpecificConfig{Type: mpeg4audio.ObjectTypeAACLC, SampleRate: 44100, ChannelCount: 1}

func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("FRONTROW_WRITE_FUZZ_SEEDS") == "" {
		t.Skip("set FRONTROW_WRITE_FUZZ_SEEDS=1 to rewrite testdata/fuzz/FuzzUnits")
	}
	jump := func(rs []fuzzRecord, from int, by int64) []fuzzRecord {
		out := append([]fuzzRecord(nil), rs...)
		for i := from; i < len(out); i++ {
			out[i].ts = uint32(int64(out[i].ts) + by)
		}
		return out
	}
	base := seedSession(seedSPS, seedPPS, false)
	enhanced := toRecords([]message.Message{
		metadataMsg(float64(message.FourCCAVC), float64(message.FourCCOpus)),
		&message.VideoExSequenceStart{ChunkStreamID: 6, MessageStreamID: 1, FourCC: message.FourCCAVC, AVCConfig: avcConfig(seedSPS, seedPPS)},
		opusConfigMsg(2),
		&message.VideoExCodedFrames{ChunkStreamID: 6, MessageStreamID: 1, FourCC: message.FourCCAVC, DTS: 0, PTSDelta: ms(33), Payload: avcc(testIDR)},
		opusMsg(0, []byte{0xfc, 0xff, 0xfe}),
		&message.VideoExFramesX{ChunkStreamID: 6, MessageStreamID: 1, FourCC: message.FourCCAVC, DTS: ms(33), Payload: avcc(testP)},
		opusMsg(20, []byte{0xfc, 0xff, 0xfe}),
		&message.VideoExMultitrack{TrackID: 1, Wrapped: &message.VideoExFramesX{ChunkStreamID: 6, MessageStreamID: 1, FourCC: message.FourCCAVC, DTS: ms(40), Payload: avcc(testP)}},
		&message.AudioExMultitrack{TrackID: 0, Wrapped: opusMsg(40, []byte{0xfc, 0xff, 0xfe})},
	}, []uint16{0, 1, 1, 10, 1, 33, 1, 1, 20})
	noMeta := seedSession(seedSPS, seedPPS, false)[1:]
	seeds := map[string][]fuzzRecord{
		"ffmpeg-h264-aac":      base,
		"ffmpeg-bframes":       seedSession(seedSPS, seedPPS, true),
		"no-metadata":          noMeta,
		"enhanced-h264-opus":   enhanced,
		"clock-restarts":       jump(base, 15, -100),
		"clock-below-zero":     jump(base, 15, -200),
		"clock-jumps-an-hour":  jump(base, 15, 3600*1000),
		"clock-wraps":          jump(base, 3, 1<<32-100),
		"hevc-refused":         toRecords([]message.Message{metadataMsg(float64(12), float64(10))}, []uint16{0}),
		"mp3-after-publish":    append(append([]fuzzRecord(nil), base...), toRecords([]message.Message{&message.Audio{ChunkStreamID: 4, MessageStreamID: 1, Codec: message.CodecMPEG1Audio, Rate: 3, Depth: 1, AU: []byte{0xff, 0xfb}}}, []uint16{5})...),
		"audio-config-changes": append(append([]fuzzRecord(nil), base...), toRecords([]message.Message{&message.Audio{ChunkStreamID: 4, MessageStreamID: 1, Codec: message.CodecMPEG4Audio, AACType: message.AudioAACTypeConfig, AACConfig: &mpeg4audioMono}}, []uint16{5})...),
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzUnits")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, rs := range seeds {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", encodeRecords(rs))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
