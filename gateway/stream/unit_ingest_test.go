package stream

import (
	"bytes"
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/rtp/codecs"

	"github.com/frontrow-live/frontrow/packager"
)

// depacketize rebuilds the NAL units of one access unit from its RTP
// packets with pion's H264 depacketizer (RFC 6184: single NAL, STAP-A, FU-A).
func depacketize(t *testing.T, pkts []viewerPacket) [][]byte {
	t.Helper()
	d := &codecs.H264Packet{IsAVC: true}
	var avcc []byte
	for _, p := range pkts {
		out, err := d.Unmarshal(p.p.Payload)
		if err != nil {
			t.Fatalf("depacketize seq %d: %v", p.p.Header.SequenceNumber, err)
		}
		avcc = append(avcc, out...)
	}
	var au h264.AVCC
	if err := au.Unmarshal(avcc); err != nil {
		t.Fatalf("split NAL units: %v", err)
	}
	return au
}

func kindPackets(pkts []viewerPacket, kind packager.Kind) []viewerPacket {
	var out []viewerPacket
	for _, p := range pkts {
		if p.kind == kind {
			out = append(out, p)
		}
	}
	return out
}

func aacTracks() packager.Tracks {
	return packager.Tracks{
		Video: &packager.VideoInfo{},
		Audio: &packager.AudioInfo{Codec: packager.CodecAAC, SampleRate: 48000, Channels: 2, Config: []byte{0x11, 0x90}},
	}
}

// A keyframe access unit reaches viewers as RTP built once: the packets
// depacketize to the same NAL units, the first is flagged as a keyframe
// start (where a joining viewer begins), the marker ends the unit (RFC 6184 section 5.1), every packet has
// the unit's timestamp and consecutive sequence numbers. The packager gets
// the unit as it was written.
func TestWriteUnitVideoKeyframe(t *testing.T) {
	epoch := gwBase
	p, sink := newTestPublisher(t, epoch, aacTracks())
	viewer := newRecordingViewer()
	if _, err := p.Stream().Subscribe(viewer); err != nil {
		t.Fatal(err)
	}
	key := packager.Unit{
		Kind: packager.KindVideo, DTS: time.Second, PTS: time.Second, Keyframe: true,
		NALUs:   [][]byte{testSPS, testPPS, nalu(0x06, 20), nalu(hdrIDR, 5000)},
		Arrival: epoch.Add(time.Second + 5*time.Millisecond),
	}
	next := packager.Unit{
		Kind: packager.KindVideo, DTS: time.Second + 40*time.Millisecond, PTS: time.Second + 40*time.Millisecond,
		NALUs: [][]byte{nalu(hdrNonIDR, 700)}, Arrival: epoch.Add(time.Second + 40*time.Millisecond),
	}
	for _, u := range []packager.Unit{key, next} {
		if err := p.WriteUnit(u); err != nil {
			t.Fatal(err)
		}
	}

	pkts := kindPackets(viewer.received(), packager.KindVideo)
	var first, second []viewerPacket
	for _, vp := range pkts {
		if vp.p.Header.Timestamp == pkts[0].p.Header.Timestamp {
			first = append(first, vp)
		} else {
			second = append(second, vp)
		}
	}
	if len(first) < 5 || len(second) != 1 {
		t.Fatalf("%d and %d packets for a 5 kB keyframe and a 700 B frame", len(first), len(second))
	}
	if got := depacketize(t, first); !slices.EqualFunc(got, key.NALUs, bytes.Equal) {
		t.Errorf("keyframe depacketizes to %d NAL units (types %v), want the %d written", len(got), naluTypes(got), len(key.NALUs))
	}
	if got := depacketize(t, second); !slices.EqualFunc(got, next.NALUs, bytes.Equal) {
		t.Errorf("second unit depacketizes to %d NAL units", len(got))
	}
	for i, vp := range first {
		h := vp.p.Header
		if len(vp.p.Payload) > rtpMTU {
			t.Errorf("packet %d: payload %d bytes, over %d", i, len(vp.p.Payload), rtpMTU)
		}
		if h.Marker != (i == len(first)-1) {
			t.Errorf("packet %d of %d: marker %v", i, len(first), h.Marker)
		}
		if i == 0 && !vp.p.Keyframe {
			t.Errorf("the keyframe's first packet is not flagged: a joining viewer cannot start at it")
		}
		if i > 0 && h.SequenceNumber != first[i-1].p.Header.SequenceNumber+1 {
			t.Errorf("packet %d: sequence %d after %d", i, h.SequenceNumber, first[i-1].p.Header.SequenceNumber)
		}
		if !vp.p.Arrival.Equal(key.Arrival) {
			t.Errorf("packet %d: arrival %v, want the unit's", i, vp.p.Arrival)
		}
	}
	if !second[0].p.Header.Marker || second[0].p.Keyframe {
		t.Errorf("second unit's packet: marker %v keyframe %v", second[0].p.Header.Marker, second[0].p.Keyframe)
	}
	if d := second[0].p.Header.Timestamp - first[0].p.Header.Timestamp; d != 3600 {
		t.Errorf("RTP timestamps %d apart for 40 ms, want 3600 (90 kHz)", d)
	}

	units := sink.unitsOf(packager.KindVideo)
	if len(units) != 2 || !reflect.DeepEqual(units[0], key) || !reflect.DeepEqual(units[1], next) {
		t.Errorf("packager got %+v, want the units as written", units)
	}
}

// A unit not marked as a keyframe that holds an IDR is one.
func TestWriteUnitFindsKeyframes(t *testing.T) {
	p, sink := newTestPublisher(t, gwBase, aacTracks())
	if err := p.WriteUnit(packager.Unit{Kind: packager.KindVideo, NALUs: [][]byte{testSPS, testPPS, nalu(hdrIDR, 30)}}); err != nil {
		t.Fatal(err)
	}
	if u := sink.unitsOf(packager.KindVideo); len(u) != 1 || !u[0].Keyframe {
		t.Errorf("packager got %+v, want a keyframe", u)
	}
}

// With the audio bridge off, AAC goes to the packager only: WebRTC viewers
// get no audio track and no audio packets (bridge_test.go has it on).
func TestWriteUnitAACWithoutBridge(t *testing.T) {
	p, sink := newTestPublisher(t, gwBase, aacTracks())
	viewer := newRecordingViewer()
	if _, err := p.Stream().Subscribe(viewer); err != nil {
		t.Fatal(err)
	}
	u := packager.Unit{Kind: packager.KindAudio, DTS: time.Second, PTS: time.Second, Keyframe: true, Payload: []byte{0x21, 0x10, 0x04}}
	if err := p.WriteUnit(u); err != nil {
		t.Fatal(err)
	}
	if got := sink.unitsOf(packager.KindAudio); len(got) != 1 || !reflect.DeepEqual(got[0], u) {
		t.Errorf("packager got %+v, want the AAC unit", got)
	}
	if n := len(viewer.received()); n != 0 {
		t.Errorf("viewer got %d packets for AAC", n)
	}
	if p.Stream().Track(packager.KindAudio) != nil {
		t.Errorf("an AAC stream has a WebRTC audio track")
	}
}

// One Opus unit is one RTP packet (RFC 7587 section 4.2), on a 48 kHz clock;
// the marker starts the talkspurt, so only the first packet has it.
func TestWriteUnitOpus(t *testing.T) {
	p, sink := newTestPublisher(t, gwBase, videoAudio())
	viewer := newRecordingViewer()
	if _, err := p.Stream().Subscribe(viewer); err != nil {
		t.Fatal(err)
	}
	frames := [][]byte{{0xfc, 1, 2}, {0xfc, 3, 4}}
	for i, f := range frames {
		d := time.Second + time.Duration(i)*20*time.Millisecond
		if err := p.WriteUnit(packager.Unit{Kind: packager.KindAudio, DTS: d, PTS: d, Keyframe: true, Payload: f}); err != nil {
			t.Fatal(err)
		}
	}
	pkts := kindPackets(viewer.received(), packager.KindAudio)
	if len(pkts) != len(frames) {
		t.Fatalf("%d audio packets for %d Opus units", len(pkts), len(frames))
	}
	for i, vp := range pkts {
		if !bytes.Equal(vp.p.Payload, frames[i]) || vp.p.Header.Marker != (i == 0) {
			t.Errorf("packet %d: payload %x marker %v", i, vp.p.Payload, vp.p.Header.Marker)
		}
	}
	if d := pkts[1].p.Header.Timestamp - pkts[0].p.Header.Timestamp; d != 960 {
		t.Errorf("RTP timestamps %d apart for 20 ms, want 960 (48 kHz)", d)
	}
	if n := len(sink.unitsOf(packager.KindAudio)); n != len(frames) {
		t.Errorf("packager got %d Opus units", n)
	}
}

// PTS != DTS flags the stream's B-frames; the units keep both times.
func TestWriteUnitBFrames(t *testing.T) {
	p, sink := newTestPublisher(t, gwBase, aacTracks())
	write := func(dts, pts time.Duration, n []byte) {
		t.Helper()
		if err := p.WriteUnit(packager.Unit{Kind: packager.KindVideo, DTS: dts, PTS: pts, NALUs: [][]byte{n}}); err != nil {
			t.Fatal(err)
		}
	}
	write(0, 0, nalu(hdrIDR, 40))
	if p.Stream().BFrames() {
		t.Fatal("B-frames flagged for PTS == DTS")
	}
	write(33*time.Millisecond, 100*time.Millisecond, nalu(hdrNonIDR, 40))
	if !p.Stream().BFrames() {
		t.Fatal("B-frames not flagged for PTS != DTS")
	}
	if u := sink.unitsOf(packager.KindVideo); u[1].PTS-u[1].DTS != 67*time.Millisecond {
		t.Errorf("composition offset %v reached the packager, want 67ms", u[1].PTS-u[1].DTS)
	}
}

func TestWriteUnitErrors(t *testing.T) {
	p, _ := newTestPublisher(t, gwBase, packager.Tracks{Video: &packager.VideoInfo{}})
	if err := p.WriteUnit(packager.Unit{Kind: packager.KindAudio, Payload: []byte{1}}); err == nil {
		t.Error("audio unit on a video-only publication accepted")
	}
	p.Close()
	if err := p.WriteUnit(packager.Unit{Kind: packager.KindVideo, NALUs: [][]byte{nalu(hdrIDR, 4)}}); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v, want ErrClosed", err)
	}
}

func naluTypes(nalus [][]byte) []int {
	out := make([]int, len(nalus))
	for i, n := range nalus {
		out[i] = int(n[0] & 0x1F)
	}
	return out
}
