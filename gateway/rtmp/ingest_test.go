package rtmp

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

func nalusEqual(a, b [][]byte) bool { return slices.EqualFunc(a, b, slices.Equal) }

// An encoder as OBS and ffmpeg are: metadata, both sequence headers, then
// frames. The publication starts at the second sequence header; IDRs get
// the sequence header's SPS and PPS; AAC frames get exact times.
func TestIngestLegacyH264AAC(t *testing.T) {
	h := newIngestHarness()
	for i, m := range []message.Message{metadataMsg(float64(7), float64(10)), videoConfigMsg()} {
		if err := h.send(m, 0); err != nil {
			t.Fatal(err)
		}
		if len(h.published) != 0 {
			t.Fatalf("published after message %d; want both sequence headers first", i)
		}
	}
	if err := h.send(aacConfigMsg(), 0); err != nil {
		t.Fatal(err)
	}
	if len(h.published) != 1 {
		t.Fatalf("published %d times after both sequence headers, want once", len(h.published))
	}
	tr := h.published[0]
	if tr.Video == nil || tr.Audio == nil || tr.Audio.Codec != packager.CodecAAC || tr.Audio.SampleRate != 48000 ||
		tr.Audio.Channels != 2 || len(tr.Audio.Config) == 0 {
		t.Fatalf("published tracks %+v (audio %+v)", tr, tr.Audio)
	}
	msgs := []struct {
		m       message.Message
		arrival int64
	}{
		{videoMsg(1000, 0, testIDR), 100},
		{aacMsg(1000, []byte{1}), 101},
		{aacMsg(1021, []byte{2}), 122},
		{videoMsg(1033, 0, testP), 134},
		{aacMsg(1043, []byte{3}), 144},
		{videoMsg(1067, 0, testAUD, testSEI, testIDR), 168},
	}
	for _, m := range msgs {
		if err := h.send(m.m, m.arrival); err != nil {
			t.Fatal(err)
		}
	}
	vs, as := h.sink.of(packager.KindVideo), h.sink.of(packager.KindAudio)
	if len(vs) != 3 || len(as) != 3 {
		t.Fatalf("%d video and %d audio units, want 3 and 3", len(vs), len(as))
	}
	wantNALUs := [][][]byte{
		{testSPS, testPPS, testIDR},
		{testP},
		{testAUD, testSPS, testPPS, testSEI, testIDR}, // after the delimiter, before the SEI (H.264 7.4.1.2.3)
	}
	for i, u := range vs {
		if !nalusEqual(u.NALUs, wantNALUs[i]) {
			t.Errorf("video unit %d: NAL units %x, want %x", i, u.NALUs, wantNALUs[i])
		}
		if u.Keyframe != (i != 1) {
			t.Errorf("video unit %d: keyframe %v", i, u.Keyframe)
		}
	}
	// Anchored at the first unit's arrival (100 ms), then the FLV clock.
	for i, want := range []time.Duration{ms(100), ms(133), ms(167)} {
		if vs[i].DTS != want || vs[i].PTS != want {
			t.Errorf("video unit %d: DTS %v PTS %v, want %v", i, vs[i].DTS, vs[i].PTS, want)
		}
	}
	for i, u := range as {
		want := ms(100) + time.Duration(i*1024)*time.Second/48000
		if u.DTS != want || u.PTS != want || !u.Keyframe {
			t.Errorf("audio unit %d: DTS %v PTS %v keyframe %v, want %v (frame counting, not FLV's ms)", i, u.DTS, u.PTS, u.Keyframe, want)
		}
		if !u.Arrival.Equal(epoch.Add(ms(msgs[[]int{1, 2, 4}[i]].arrival))) {
			t.Errorf("audio unit %d: arrival %v", i, u.Arrival)
		}
	}
}

// Enhanced RTMP (ffmpeg 7, OBS 30): H264 in VideoEx messages, Opus audio.
func TestIngestEnhancedH264Opus(t *testing.T) {
	h := newIngestHarness()
	avc := avcConfig(testSPS, testPPS)
	steps := []message.Message{
		metadataMsg(float64(message.FourCCAVC), float64(message.FourCCOpus)),
		&message.VideoExSequenceStart{FourCC: message.FourCCAVC, AVCConfig: avc},
		opusConfigMsg(2),
		&message.VideoExCodedFrames{FourCC: message.FourCCAVC, DTS: ms(0), PTSDelta: ms(67), Payload: avcc(testIDR)},
		opusMsg(0, []byte{0xfc, 1}),
		&message.VideoExFramesX{FourCC: message.FourCCAVC, DTS: ms(33), Payload: avcc(testP)},
		opusMsg(20, []byte{0xfc, 2}),
		// Another track of a multitrack stream: ignored.
		&message.VideoExMultitrack{TrackID: 1, Wrapped: &message.VideoExFramesX{FourCC: message.FourCCAVC, DTS: ms(40), Payload: avcc(testP)}},
		&message.AudioExMultitrack{TrackID: 0, Wrapped: opusMsg(40, []byte{0xfc, 3})},
	}
	for i, m := range steps {
		if err := h.send(m, 10+int64(i)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if len(h.published) != 1 || h.published[0].Audio == nil || h.published[0].Audio.Codec != packager.CodecOpus ||
		h.published[0].Audio.Channels != 2 || h.published[0].Audio.SampleRate != 48000 {
		t.Fatalf("published %+v", h.published)
	}
	vs, as := h.sink.of(packager.KindVideo), h.sink.of(packager.KindAudio)
	if len(vs) != 2 || len(as) != 3 {
		t.Fatalf("%d video and %d audio units, want 2 and 3", len(vs), len(as))
	}
	if !nalusEqual(vs[0].NALUs, [][]byte{testSPS, testPPS, testIDR}) || vs[0].PTS-vs[0].DTS != ms(67) {
		t.Errorf("first video unit: %x, composition %v", vs[0].NALUs, vs[0].PTS-vs[0].DTS)
	}
	if vs[1].DTS-vs[0].DTS != ms(33) || vs[1].PTS != vs[1].DTS {
		t.Errorf("FramesX unit: DTS %v PTS %v", vs[1].DTS, vs[1].PTS)
	}
	if string(as[2].Payload) != "\xfc\x03" || as[2].DTS-as[0].DTS != ms(40) {
		t.Errorf("multitrack track 0 audio: %x at %v", as[2].Payload, as[2].DTS-as[0].DTS)
	}
}

// Without onMetaData the ingest publishes when both sequence headers came,
// or at the first frame with what it has.
func TestIngestWithoutMetadata(t *testing.T) {
	t.Run("both headers", func(t *testing.T) {
		h := newIngestHarness()
		_ = h.send(videoConfigMsg(), 0)
		if len(h.published) != 0 {
			t.Fatal("published before the audio header")
		}
		_ = h.send(aacConfigMsg(), 0)
		if len(h.published) != 1 || h.published[0].Audio == nil || h.published[0].Video == nil {
			t.Fatalf("published %+v", h.published)
		}
	})
	t.Run("video only", func(t *testing.T) {
		h := newIngestHarness()
		_ = h.send(videoConfigMsg(), 0)
		_ = h.send(videoMsg(0, 0, testIDR), 5)
		if len(h.published) != 1 || h.published[0].Audio != nil || len(h.sink.units) != 1 {
			t.Fatalf("published %+v, %d units", h.published, len(h.sink.units))
		}
		// Audio that starts later is ignored, not a new track mid-stream.
		if err := h.send(aacConfigMsg(), 6); err != nil {
			t.Fatal(err)
		}
		_ = h.send(aacMsg(10, []byte{1}), 7)
		if n := len(h.sink.of(packager.KindAudio)); n != 0 {
			t.Errorf("%d audio units on a video-only publication", n)
		}
	})
	t.Run("announced audio never comes", func(t *testing.T) {
		h := newIngestHarness()
		_ = h.send(metadataMsg(float64(7), float64(10)), 0)
		_ = h.send(videoConfigMsg(), 0)
		_ = h.send(videoMsg(0, 0, testIDR), 100)
		_ = h.send(videoMsg(1000, 0, testP), 1100)
		if len(h.published) != 0 {
			t.Fatalf("published within configWait while waiting for the announced audio")
		}
		_ = h.send(videoMsg(2000, 0, testIDR), 100+configWait.Milliseconds())
		if len(h.published) != 1 || h.published[0].Audio != nil {
			t.Fatalf("after configWait: published %+v", h.published)
		}
		if n := len(h.sink.units); n != 1 {
			t.Errorf("%d units, want the one after publishing", n)
		}
	})
}

// Codecs frontrow does not route are refused with the codec's name and what
// to set in the encoder, wherever the stream first shows them.
func TestIngestRefusesCodecs(t *testing.T) {
	hevc := &message.VideoExSequenceStart{FourCC: message.FourCCHEVC}
	tests := []struct {
		name  string
		msgs  []message.Message
		codec string
		fix   string
	}{
		{"metadata H265 (legacy id 12)", []message.Message{metadataMsg(float64(12), float64(10))}, "H265", "H264"},
		{"metadata VP6", []message.Message{metadataMsg(float64(4), float64(10))}, "On2 VP6", "H264"},
		{"metadata AV1 fourcc", []message.Message{metadataMsg(float64(message.FourCCAV1), nil)}, "AV1", "H264"},
		{"metadata MP3", []message.Message{metadataMsg(float64(7), float64(2))}, "MP3", "AAC"},
		{"metadata MP3 as a FourCC string", []message.Message{metadataMsg("avc1", ".mp3")}, "MP3", "AAC"},
		{"legacy H265 tag", []message.Message{&message.Video{Codec: message.CodecH265, Type: message.VideoTypeConfig}}, "H265", "H264"},
		{"enhanced HEVC", []message.Message{hevc}, "H265", "H264"},
		{"enhanced VP9 frames", []message.Message{&message.VideoExFramesX{FourCC: message.FourCCVP9}}, "VP9", "H264"},
		{"G.711", []message.Message{&message.Audio{Codec: message.CodecPCMA}}, "G.711 A-law", "AAC"},
		{"LPCM", []message.Message{&message.Audio{Codec: message.CodecLPCM}}, "Linear PCM", "AAC"},
		{"enhanced FLAC", []message.Message{&message.AudioExSequenceStart{FourCC: message.FourCCFLAC}}, "FLAC", "AAC"},
		{"enhanced AC-3 frames", []message.Message{&message.AudioExCodedFrames{FourCC: message.FourCCAC3}}, "AC-3", "AAC"},
		{"Opus 6 channels", []message.Message{opusConfigMsg(6)}, "Opus with 6 channels", "AAC"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newIngestHarness()
			var err error
			for _, m := range tt.msgs {
				if err = h.send(m, 0); err != nil {
					break
				}
			}
			var refusal *codecRefusal
			if !errors.As(err, &refusal) {
				t.Fatalf("error %v, want a codec refusal", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.codec+" is not supported") || !strings.Contains(msg, "set the encoder to "+tt.fix) {
				t.Errorf("refusal %q: want it to name %q and say to set the encoder to %s", msg, tt.codec, tt.fix)
			}
			if len(h.published) != 0 {
				t.Errorf("published despite the refusal")
			}
		})
	}
}

func TestRefusalFromReadError(t *testing.T) {
	for _, tc := range []struct {
		err  string
		want string // "" for no refusal
	}{
		{"unsupported video codec: 2", "video codec Sorenson H.263 is not supported"},
		{"unsupported audio codec: 11", "audio codec Speex is not supported"},
		{"unsupported audio codec: 6", "audio codec Nellymoser is not supported"},
		{"unsupported fourCC: 1635135537", "video codec AV1 is not supported"},
		{fmt.Sprintf("unsupported fourCC: %d", fourCC("ec-3")), "audio codec E-AC-3 is not supported"},
		{"unsupported video codec: 99", "video codec id 99 is not supported"},
		{"EOF", ""},
		{"invalid rtmp version (71)", ""},
	} {
		got := refusalFromReadError(errors.New(tc.err))
		switch {
		case tc.want == "" && got != nil:
			t.Errorf("%q: refusal %q, want none", tc.err, got)
		case tc.want != "" && (got == nil || !strings.Contains(got.Error(), tc.want)):
			t.Errorf("%q: refusal %v, want %q", tc.err, got, tc.want)
		}
	}
}

// B-frames: PTS = DTS + the composition offset; FLV's offset is signed
// 24-bit, and one that cannot be real is taken as 0.
func TestIngestCompositionOffsets(t *testing.T) {
	h := newIngestHarness()
	_ = h.send(videoConfigMsg(), 0)
	steps := []struct {
		dts, cts int64
		wantCTS  time.Duration
	}{
		{0, 67, ms(67)},
		{33, 133, ms(133)},
		{67, 0, 0},
		{100, 1<<24 - 33, 0}, // -33 ms as FLV's SI24: PTS before DTS, taken as 0
		{133, 5000, 0},       // 5 s: no encoder reorders that far
		{167, 1<<23 - 1, 0},  // the largest positive SI24: absurd too
		{200, 33, ms(33)},
	}
	for _, s := range steps {
		if err := h.send(videoMsg(s.dts, s.cts, testP), s.dts); err != nil {
			t.Fatal(err)
		}
	}
	vs := h.sink.of(packager.KindVideo)
	if len(vs) != len(steps) {
		t.Fatalf("%d units, want %d", len(vs), len(steps))
	}
	for i, u := range vs {
		if u.PTS-u.DTS != steps[i].wantCTS {
			t.Errorf("unit %d: PTS-DTS %v, want %v", i, u.PTS-u.DTS, steps[i].wantCTS)
		}
	}
	if !h.in.bframes {
		t.Error("B-frames not noticed")
	}
}

func TestIngestEndsSession(t *testing.T) {
	t.Run("publish refused", func(t *testing.T) {
		h := newIngestHarness()
		h.publishErr = stream.ErrAlreadyPublishing
		_ = h.send(videoConfigMsg(), 0)
		if err := h.send(aacConfigMsg(), 0); !errors.Is(err, stream.ErrAlreadyPublishing) {
			t.Fatalf("error %v, want the registry's", err)
		}
	})
	t.Run("audio configuration changes", func(t *testing.T) {
		h := newIngestHarness()
		_ = h.send(videoConfigMsg(), 0)
		_ = h.send(aacConfigMsg(), 0)
		if err := h.send(aacConfigMsg(), 10); err != nil {
			t.Fatalf("the same sequence header again: %v", err)
		}
		other := aacConfigMsg()
		other.AACConfig.SampleRate = 44100
		if err := h.send(other, 20); err == nil || !strings.Contains(err.Error(), "reconnect") {
			t.Fatalf("error %v, want the session ended", err)
		}
	})
	t.Run("sink closed", func(t *testing.T) {
		h := newIngestHarness()
		_ = h.send(videoConfigMsg(), 0)
		_ = h.send(aacConfigMsg(), 0)
		h.sink.err = stream.ErrClosed
		if err := h.send(videoMsg(0, 0, testIDR), 0); !errors.Is(err, stream.ErrClosed) {
			t.Fatalf("error %v, want the sink's", err)
		}
	})
}

// Bad frames are dropped, the session goes on.
func TestIngestDropsBadFrames(t *testing.T) {
	h := newIngestHarness()
	_ = h.send(videoConfigMsg(), 0)
	_ = h.send(aacConfigMsg(), 0)
	for i, m := range []message.Message{
		&message.Video{Codec: message.CodecH264, Type: message.VideoTypeAU, AU: []byte{0, 0, 0, 9, 1}}, // length past the end
		&message.Video{Codec: message.CodecH264, Type: message.VideoTypeAU, AU: []byte{0, 0, 0, 0}},    // no NAL units
		aacMsg(0, nil),
		videoMsg(0, 0, testIDR),
		videoMsg(0, 0, testP), // same DTS again
		videoMsg(33, 0, testP),
	} {
		if err := h.send(m, int64(i)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if n := len(h.sink.units); n != 2 {
		t.Errorf("%d units, want the 2 good ones", n)
	}
}

func TestParsePublishURL(t *testing.T) {
	for _, tc := range []struct {
		url, name, token, err string
	}{
		{"rtmp://h/live/cam1?token=s3cret", "cam1", "s3cret", ""},
		{"rtmp://h:1935/live/cam.1_x-y", "cam.1_x-y", "", ""},
		{"rtmp://h/live//cam", "cam", "", ""},
		{"rtmp://h/live/cam?token=a%2Bb", "cam", "a+b", ""},
		{"rtmp://h/app/cam", "", "", `not to application "app"`},
		{"rtmp://h/live", "", "", "rtmp://HOST/live/{stream}"},
		{"rtmp://h/live?token=x/cam", "", "", "rtmp://HOST/live/{stream}"},
		{"rtmp://h/live/a/b", "", "", "rtmp://HOST/live/{stream}"},
		{"rtmp://h/live/bad%20name", "", "", "stream name"},
	} {
		u := mustURL(t, tc.url)
		name, token, err := parsePublishURL(u)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want %q", tc.url, err, tc.err)
			}
			continue
		}
		if err != nil || name != tc.name || token != tc.token {
			t.Errorf("%s: %q %q %v, want %q %q", tc.url, name, token, err, tc.name, tc.token)
		}
	}
}

func TestRedact(t *testing.T) {
	err := errors.New(`unexpected command: {publish [<nil> cam?token=s3cret&x=1 live]} tcUrl "rtmp://h/live?TOKEN=abc"`)
	got := redact(err)
	if strings.Contains(got, "s3cret") || strings.Contains(got, "abc\"") || !strings.Contains(got, "token=REDACTED&x=1") {
		t.Errorf("redact: %s", got)
	}
}

// Codec ids onMetaData carries that name nothing known refuse nothing: the
// sequence headers and frames decide.
func TestIngestUnknownMetadataCodecs(t *testing.T) {
	for _, m := range []*message.DataAMF0{
		metadataMsg("H264", "AAC "), metadataMsg(float64(99), float64(1<<40)), metadataMsg(float64(0), float64(0)), metadataMsg(true, nil),
	} {
		h := newIngestHarness()
		if err := h.send(m, 0); err != nil {
			t.Errorf("%v: %v", m.Payload, err)
		}
		_ = h.send(videoConfigMsg(), 0)
		_ = h.send(aacConfigMsg(), 0)
		if len(h.published) != 1 {
			t.Errorf("%v: not published on both sequence headers", m.Payload)
		}
	}
}
