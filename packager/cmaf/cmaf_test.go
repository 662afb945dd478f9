package cmaf

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	mcodecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// testdata/demo-h264-opus.mp4's parameter sets: baseline 640x360.
var (
	testSPS = mustHex("6742c01eda0280bfe5c044000003000400000300f23c58ba80")
	testPPS = mustHex("68ce3c80")
	// AAC-LC, 48 kHz, stereo.
	testASC = mustHex("1190")
)

// TestInitSegments reads every init segment back with mediacommon's fMP4
// reader, the one gohlslib's client uses.
func TestInitSegments(t *testing.T) {
	cases := []struct {
		name      string
		build     func() ([]byte, error)
		timescale uint32
		check     func(t *testing.T, c mcodecs.Codec)
	}{
		{"h264", func() ([]byte, error) { return VideoInitH264(testSPS, testPPS) }, VideoTimescale, func(t *testing.T, c mcodecs.Codec) {
			h, ok := c.(*mcodecs.H264)
			if !ok || !bytes.Equal(h.SPS, testSPS) || !bytes.Equal(h.PPS, testPPS) {
				t.Fatalf("codec %#v", c)
			}
		}},
		{"opus stereo", func() ([]byte, error) { return OpusInit(2) }, OpusTimescale, func(t *testing.T, c mcodecs.Codec) {
			if o, ok := c.(*mcodecs.Opus); !ok || o.ChannelCount != 2 {
				t.Fatalf("codec %#v", c)
			}
		}},
		{"opus mono", func() ([]byte, error) { return OpusInit(1) }, OpusTimescale, func(t *testing.T, c mcodecs.Codec) {
			if o, ok := c.(*mcodecs.Opus); !ok || o.ChannelCount != 1 {
				t.Fatalf("codec %#v", c)
			}
		}},
		{"aac", func() ([]byte, error) { b, _, err := AACInit(testASC); return b, err }, 48000, func(t *testing.T, c mcodecs.Codec) {
			if a, ok := c.(*mcodecs.MPEG4Audio); !ok || a.Config.SampleRate != 48000 || a.Config.ChannelCount != 2 {
				t.Fatalf("codec %#v", c)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.build()
			if err != nil {
				t.Fatal(err)
			}
			var init fmp4.Init
			if err := init.Unmarshal(bytes.NewReader(b)); err != nil {
				t.Fatal(err)
			}
			if len(init.Tracks) != 1 || init.Tracks[0].ID != TrackID || init.Tracks[0].TimeScale != tc.timescale {
				t.Fatalf("tracks %+v", init.Tracks[0])
			}
			tc.check(t, init.Tracks[0].Codec)
			// ftyp + moov with mvex, no samples (CMAF header).
			f, err := mp4.DecodeFile(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if f.Init == nil || f.Init.Moov.Mvex == nil || f.Init.Moov.Trak.Mdia.Minf.Stbl.Stsz.SampleNumber != 0 || len(f.Segments) != 0 {
				t.Fatal("init segment is not ftyp+moov(mvex) without samples")
			}
		})
	}
}

func TestInitErrors(t *testing.T) {
	if _, err := OpusInit(3); err == nil {
		t.Error("3-channel Opus needs a channel mapping table; want an error")
	}
	if _, _, err := AACInit(nil); err == nil {
		t.Error("empty AudioSpecificConfig: want an error")
	}
	if _, err := VideoInitH264([]byte{0x67}, testPPS); err == nil {
		t.Error("truncated SPS: want an error")
	}
	if _, err := Fragment(1, 0, nil); err == nil {
		t.Error("empty fragment: want an error")
	}
}

// TestFragment checks timing, sync flags, payloads and signed composition
// offsets (B-frames) survive a round trip through mediacommon's reader.
func TestFragment(t *testing.T) {
	in := []Sample{
		{Duration: 3000, CompositionOffset: 6000, Sync: true, Data: []byte{1, 2, 3}},
		{Duration: 3000, CompositionOffset: -3000, Data: []byte{4}},
		{Duration: 3001, CompositionOffset: 0, Data: []byte{5, 6}},
	}
	const base = 1 << 33 // needs tfdt version 1
	b, err := Fragment(7, base, in)
	if err != nil {
		t.Fatal(err)
	}
	var parts fmp4.Parts
	if err := parts.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 || parts[0].SequenceNumber != 7 || len(parts[0].Tracks) != 1 {
		t.Fatalf("parts %+v", parts)
	}
	tr := parts[0].Tracks[0]
	if tr.ID != TrackID || tr.BaseTime != base || len(tr.Samples) != len(in) {
		t.Fatalf("track %+v", tr)
	}
	for i, s := range tr.Samples {
		w := in[i]
		if s.Duration != w.Duration || s.PTSOffset != w.CompositionOffset || s.IsNonSyncSample == w.Sync || !bytes.Equal(s.Payload, w.Data) {
			t.Errorf("sample %d = %+v, want %+v", i, s, w)
		}
	}
	// trun version 1 carries signed offsets (ISO/IEC 14496-12 §8.8.8).
	f, err := mp4.DecodeFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if v := f.Segments[0].Fragments[0].Moof.Traf.Trun.Version; v != 1 {
		t.Errorf("trun version %d, want 1", v)
	}
}
