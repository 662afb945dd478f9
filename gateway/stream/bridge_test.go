package stream

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/thesyncim/gopus"
	aac "github.com/tphakala/go-aac"

	"github.com/frontrow-live/frontrow/gateway/audio"
	"github.com/frontrow-live/frontrow/packager"
	"github.com/frontrow-live/frontrow/testdata"
)

// aacFrameDur is one AAC-LC frame at 48 kHz.
const aacFrameDur = time.Second * 1024 / 48000

// bridgeOn is a registry configuration with the audio bridge on and a
// queue long enough for tests that write faster than real time.
var bridgeOn = Config{AudioQueueLen: 4096}

// aacTone encodes n AAC-LC frames (48 kHz stereo) of a 1 kHz tone with
// go-aac, as units an RTMP ingest would write from stream time start.
func aacTone(t *testing.T, n int, start time.Duration) (*packager.AudioInfo, []packager.Unit) {
	t.Helper()
	enc, err := aac.NewEncoder(aac.EncoderConfig{SampleRate: 48000, Channels: 2, Bitrate: 128000})
	if err != nil {
		t.Fatal(err)
	}
	l := make([]float32, aac.FrameSize)
	var units []packager.Unit
	for i := 0; len(units) < n; i++ {
		for j := range l {
			l[j] = float32(0.25 * math.Sin(2*math.Pi*1000*float64(i*aac.FrameSize+j)/48000))
		}
		au, err := enc.EncodeFrame(nil, [][]float32{l, l})
		if err != nil {
			t.Fatal(err)
		}
		if len(au) == 0 {
			continue
		}
		pts := start + time.Duration(len(units))*aacFrameDur
		units = append(units, packager.Unit{Kind: packager.KindAudio, DTS: pts, PTS: pts, Keyframe: true, Payload: au, Arrival: gwBase.Add(pts)})
	}
	info := &packager.AudioInfo{Codec: packager.CodecAAC, SampleRate: 48000, Channels: 2, Config: enc.AudioSpecificConfig()}
	return info, units
}

// keyUnit is a video keyframe at stream time at.
func keyUnit(at time.Duration) packager.Unit {
	return packager.Unit{Kind: packager.KindVideo, DTS: at, PTS: at, Keyframe: true,
		NALUs: [][]byte{testSPS, testPPS, nalu(hdrIDR, 3000)}, Arrival: gwBase.Add(at)}
}

// An AAC publication (RTMP) gets a WebRTC audio track fed by the bridge:
// viewers receive Opus packets, one per 20 ms, that decode, stamped on the
// stream clock where their audio was (the encoder's look-ahead taken off),
// while the packager gets the AAC units untouched.
func TestBridgeAACToWebRTC(t *testing.T) {
	info, units := aacTone(t, 60, time.Second)
	p, sink := newTestPublisherWith(t, gwBase, packager.Tracks{Video: &packager.VideoInfo{}, Audio: info}, bridgeOn)
	viewer := newRecordingViewer()
	if _, err := p.Stream().Subscribe(viewer); err != nil {
		t.Fatal(err)
	}
	if st := p.Stream().Status(); !st.WebRTCAudio || p.Stream().Track(packager.KindAudio) == nil {
		t.Fatalf("an AAC stream has no WebRTC audio track (status %+v)", st)
	}
	if err := p.WriteUnit(keyUnit(time.Second)); err != nil {
		t.Fatal(err)
	}
	for _, u := range units {
		if err := p.WriteUnit(u); err != nil {
			t.Fatal(err)
		}
	}
	p.Close() // the bridge has transcoded everything when Close returns
	base := p.audio.packetizer.tsBase

	if got := sink.unitsOf(packager.KindAudio); !reflect.DeepEqual(got, units) {
		t.Errorf("packager got %d audio units, want the %d AAC units as written", len(got), len(units))
	}
	pkts := kindPackets(viewer.received(), packager.KindAudio)
	// 60 frames of 1024 samples, less the encoder's look-ahead: 63 packets of 960.
	if len(pkts) < 60 || len(pkts) > 64 {
		t.Fatalf("%d Opus packets for 60 AAC frames (1.28 s)", len(pkts))
	}
	dec, err := gopus.NewDecoder(gopus.DefaultDecoderConfig(48000, 2))
	if err != nil {
		t.Fatal(err)
	}
	pcm := make([]float32, 5760*2)
	for i, vp := range pkts {
		h := vp.p.Header
		if n, err := dec.Decode(vp.p.Payload, pcm); err != nil || n != 960 {
			t.Fatalf("packet %d: %d samples, %v", i, n, err)
		}
		if h.Marker != (i == 0) {
			t.Errorf("packet %d: marker %v", i, h.Marker)
		}
		// Its capture time is where its audio is on the stream clock, as
		// its timestamp says (viewers' sender reports map it), not when
		// the transcoder got it out.
		at := time.Duration(int64(h.Timestamp-base)) * time.Second / 48000
		if d := vp.p.Capture.Sub(gwBase) - at; d.Abs() > 21*time.Microsecond {
			t.Errorf("packet %d: captured at stream time %v, its timestamp says %v", i, vp.p.Capture.Sub(gwBase), at)
		}
		if i > 0 && (h.Timestamp-pkts[i-1].p.Header.Timestamp != 960 || h.SequenceNumber != pkts[i-1].p.Header.SequenceNumber+1) {
			t.Errorf("packet %d: timestamp +%d, sequence +%d; want 960 and 1", i,
				h.Timestamp-pkts[i-1].p.Header.Timestamp, h.SequenceNumber-pkts[i-1].p.Header.SequenceNumber)
		}
	}
	// The first packet's decoded audio starts where the first AAC frame's
	// does: its timestamp is the frame's time less the Opus look-ahead.
	first := time.Duration(int64(pkts[0].p.Header.Timestamp-base)) * time.Second / 48000
	if want := units[0].PTS - 2500*time.Microsecond; (first - want).Abs() > 21*time.Microsecond {
		t.Errorf("first Opus packet at stream time %v, want %v (the first AAC frame, less 2.5 ms of look-ahead)", first, want)
	}
	b := p.Stream().AudioBridge()
	if b.From != packager.CodecAAC || b.To != packager.CodecOpus || b.In != 60 || b.Out != uint64(len(pkts)) || b.Corrupt+b.Dropped+b.Late != 0 {
		t.Errorf("bridge %+v", b)
	}
}

// An Opus publication (WHIP, through the demo file's RTP and sender
// reports) is packaged as AAC-LC: the packager is told AAC 48 kHz with its
// AudioSpecificConfig, and gets AAC frames every 1024 samples that start
// where the Opus audio did on the stream clock (the AAC priming taken off).
func TestBridgeOpusToHLS(t *testing.T) {
	// The stream is 10 s old, so the first AAC frame (the encoder's
	// priming, 21 ms before the first Opus sample) is not before its epoch.
	p, sink, samples := playFileWith(t, testdata.DemoMP4, 60, 10*time.Second, bridgeOn)
	p.Close()
	tr := sink.tracks[0].Audio
	if tr == nil || tr.Codec != packager.CodecAAC || tr.SampleRate != 48000 || tr.Channels != 2 || string(tr.Config) != "\x11\x90" {
		t.Fatalf("packager told %+v, want AAC-LC 48 kHz stereo (ASC 1190)", tr)
	}
	got := sink.unitsOf(packager.KindAudio)
	if len(got) < 60 {
		t.Fatalf("%d AAC units for 2 s of Opus", len(got))
	}
	for i := 1; i < len(got); i++ {
		if d := got[i].PTS - got[i-1].PTS; (d-aacFrameDur).Abs() > time.Microsecond || got[i].DTS != got[i].PTS {
			t.Fatalf("AAC units %d and %d are %v apart, want %v", i-1, i, d, aacFrameDur)
		}
	}
	// The output's sample 0 is an Opus packet's first sample: where one of
	// the file's audio samples sits, on the video's offset.
	video := sink.unitsOf(packager.KindVideo)
	var fileVideo, fileAudio []time.Duration
	for _, s := range samples {
		if s.Kind == packager.KindVideo {
			fileVideo = append(fileVideo, s.PTS)
		} else {
			fileAudio = append(fileAudio, s.PTS)
		}
	}
	offset := video[0].PTS - fileVideo[0]
	start := got[0].PTS + aacFrameDur - offset
	if !slices.ContainsFunc(fileAudio, func(a time.Duration) bool { return (a - start).Abs() < 25*time.Microsecond }) {
		t.Errorf("AAC output starts at media time %v: no Opus packet of the file starts there", start)
	}
	if b := p.Stream().AudioBridge(); b.From != packager.CodecOpus || b.To != packager.CodecAAC || b.Out != uint64(len(got)) || b.Corrupt != 0 {
		t.Errorf("bridge %+v", b)
	}
}

// Audio the bridge cannot decode (HE-AAC) leaves the WebRTC tier without
// sound, says why, and costs nothing else: the packager gets it as it is
// and the video goes on.
func TestBridgeUnsupported(t *testing.T) {
	heaac := &packager.AudioInfo{Codec: packager.CodecAAC, SampleRate: 44100, Channels: 2, Config: []byte{0x2b, 0x12, 0x08, 0x00}}
	p, sink := newTestPublisherWith(t, gwBase, packager.Tracks{Video: &packager.VideoInfo{}, Audio: heaac}, bridgeOn)
	viewer := newRecordingViewer()
	if _, err := p.Stream().Subscribe(viewer); err != nil {
		t.Fatal(err)
	}
	if p.Stream().Status().WebRTCAudio || p.Stream().Track(packager.KindAudio) != nil {
		t.Error("an HE-AAC stream has a WebRTC audio track")
	}
	if b := p.Stream().AudioBridge(); b.Unsupported == "" || b.From != "" {
		t.Errorf("bridge %+v, want it off and the reason given", b)
	}
	au := packager.Unit{Kind: packager.KindAudio, DTS: time.Second, PTS: time.Second, Keyframe: true, Payload: []byte{1, 2, 3}}
	for _, u := range []packager.Unit{keyUnit(time.Second), au} {
		if err := p.WriteUnit(u); err != nil {
			t.Fatal(err)
		}
	}
	if len(sink.unitsOf(packager.KindAudio)) != 1 || len(kindPackets(viewer.received(), packager.KindVideo)) == 0 {
		t.Error("the packager lost the audio, or viewers the video")
	}
	if n := len(kindPackets(viewer.received(), packager.KindAudio)); n != 0 {
		t.Errorf("viewers got %d audio packets", n)
	}
}

// Corrupt AAC frames cost themselves: counted, their time filled with
// silence so the Opus timeline runs on, the video and the packager's AAC
// untouched.
func TestBridgeCorruptAAC(t *testing.T) {
	info, units := aacTone(t, 40, time.Second)
	p, sink := newTestPublisherWith(t, gwBase, packager.Tracks{Video: &packager.VideoInfo{}, Audio: info}, bridgeOn)
	viewer := newRecordingViewer()
	if _, err := p.Stream().Subscribe(viewer); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{10, 11, 25} {
		units[i].Payload = []byte{0xde, 0xad, 0xbe, 0xef, 0, 0, 0}
	}
	for i, u := range units {
		if i%2 == 0 {
			if err := p.WriteUnit(keyUnit(u.PTS)); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.WriteUnit(u); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	b := p.Stream().AudioBridge()
	if b.Corrupt != 3 || b.Filled != 2 || b.In != 40 {
		t.Errorf("bridge %+v, want 3 corrupt frames in 2 holes", b)
	}
	pkts := kindPackets(viewer.received(), packager.KindAudio)
	for i := 1; i < len(pkts); i++ {
		if d := pkts[i].p.Header.Timestamp - pkts[i-1].p.Header.Timestamp; d != 960 {
			t.Fatalf("Opus packet %d is %d ticks after the previous, want 960: the timeline broke", i, d)
		}
	}
	if len(pkts) < 40 {
		t.Errorf("%d Opus packets for 40 frames of audio", len(pkts))
	}
	if n := len(sink.unitsOf(packager.KindVideo)); n != 20 {
		t.Errorf("packager got %d video units, want 20", n)
	}
	if n := len(sink.unitsOf(packager.KindAudio)); n != 40 {
		t.Errorf("packager got %d AAC units, want all 40 as they came", n)
	}
}

// stuckCodecs decode nothing until released: a bridge that cannot keep up.
type stuckCodecs struct{ release chan struct{} }

type stuckDecoder struct{ release chan struct{} }

func (c stuckCodecs) NewDecoder(audio.Params) (audio.Decoder, error) {
	return stuckDecoder(c), nil
}

func (stuckCodecs) NewEncoder(codec string, f audio.Format) (audio.Encoder, error) {
	return audio.PureGo.NewEncoder(codec, f)
}

func (stuckDecoder) Format() audio.Format { return audio.Format{Rate: 48000, Channels: 2} }

func (d stuckDecoder) Decode([]byte) ([]float32, error) {
	<-d.release
	return nil, errors.New("stuck")
}

// The ingest path never waits for the bridge: with the transcoder stuck,
// writes return at once, the queue's overflow is dropped and counted, and
// Close still ends the session.
func TestBridgeNeverBlocksIngest(t *testing.T) {
	info, units := aacTone(t, 100, time.Second)
	codecs := stuckCodecs{release: make(chan struct{})}
	p, sink := newTestPublisherWith(t, gwBase, packager.Tracks{Video: &packager.VideoInfo{}, Audio: info}, Config{AudioCodecs: codecs})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, u := range units {
			_ = p.WriteUnit(u)
		}
	}()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("WriteUnit blocked behind a stuck transcoder")
	}
	// One frame is in the decoder, DefaultQueueLen wait; the rest dropped.
	if b := p.Stream().AudioBridge(); b.Dropped < uint64(100-audio.DefaultQueueLen-1) {
		t.Errorf("bridge %+v, want the queue's overflow dropped and counted", b)
	}
	if n := len(sink.unitsOf(packager.KindAudio)); n != 100 {
		t.Errorf("packager got %d of 100 AAC units", n)
	}
	close(codecs.release)
	p.Close()
}

// A publisher that comes back gets a new transcoder; the first one's work
// is done (nothing of it arrives later) and the figures add up, and
// viewers see one continuous audio line.
func TestBridgeReconnect(t *testing.T) {
	info, units := aacTone(t, 30, time.Second)
	var made sinks
	cfg := bridgeOn
	cfg.GracePeriod, cfg.NewSink, cfg.Logger, cfg.Now = time.Hour, made.newSink, discardLogger, func() time.Time { return gwBase }
	r := NewRegistry(cfg)
	t.Cleanup(r.Close)
	tracks := packager.Tracks{Video: &packager.VideoInfo{}, Audio: info}
	viewer := newRecordingViewer()
	for session := range 2 {
		p, err := r.Publish("live", PublishRequest{Tracks: tracks, Protocol: "rtmp"})
		if err != nil {
			t.Fatal(err)
		}
		if session == 0 {
			if _, err := p.Stream().Subscribe(viewer); err != nil {
				t.Fatal(err)
			}
		}
		shift := time.Duration(session) * 2 * time.Second
		for _, u := range units {
			u.PTS += shift
			u.DTS += shift
			if err := p.WriteUnit(u); err != nil {
				t.Fatal(err)
			}
		}
		p.Close()
		if session == 0 {
			n := len(kindPackets(viewer.received(), packager.KindAudio))
			if n == 0 {
				t.Fatal("no audio from the first session")
			}
		}
	}
	s, _ := r.Get("live")
	if b := s.AudioBridge(); b.In != 60 {
		t.Errorf("bridge %+v, want 60 frames in over two sessions", b)
	}
	pkts := kindPackets(viewer.received(), packager.KindAudio)
	for i := 1; i < len(pkts); i++ {
		if pkts[i].p.Header.SequenceNumber != pkts[i-1].p.Header.SequenceNumber+1 {
			t.Fatalf("audio sequence jumps at packet %d across the reconnect", i)
		}
	}
}
