package demo

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/packager"
	"github.com/frontrow-live/frontrow/testdata"
)

func TestNewSourceDescribesFile(t *testing.T) {
	tests := []struct {
		name                string
		data                []byte
		duration            time.Duration
		videoUnits, audio   int
		keyframes           int
		profileLevelID      string
		reorderedTimestamps bool
	}{
		// 201 Opus samples in the file; the last starts a whole loop after the
		// first (pre-skip remainder) and would collide with the next loop's first.
		{"demo", testdata.DemoMP4, 4 * time.Second, 120, 200, 4, "42c01e", false},
		{"bframes", testdata.BFramesMP4, 2 * time.Second, 60, 100, 2, "64001e", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src, err := NewSource(bytes.NewReader(tc.data))
			if err != nil {
				t.Fatalf("NewSource: %v", err)
			}
			tracks := src.Tracks()
			wantAudio := packager.AudioInfo{Codec: packager.CodecOpus, SampleRate: 48000, Channels: 2}
			if tracks.Video == nil || tracks.Audio == nil || !reflect.DeepEqual(*tracks.Audio, wantAudio) {
				t.Fatalf("Tracks = %+v / %+v, want video and %+v", tracks.Video, tracks.Audio, wantAudio)
			}
			if got := src.Duration(); got != tc.duration {
				t.Errorf("Duration = %v, want %v", got, tc.duration)
			}
			if got := src.ProfileLevelID(); got != tc.profileLevelID {
				t.Errorf("ProfileLevelID = %q, want %q", got, tc.profileLevelID)
			}

			var video, audio, keyframes int
			reordered := false
			var last Sample
			for i, s := range src.Samples() {
				if i > 0 && s.DTS < last.DTS {
					t.Fatalf("sample %d: DTS %v before %v: not in send order", i, s.DTS, last.DTS)
				}
				last = s
				if s.Kind == packager.KindAudio {
					audio++
					if s.PTS != s.DTS || len(s.Payload) == 0 {
						t.Fatalf("audio sample %d: PTS %v DTS %v, %d bytes", i, s.PTS, s.DTS, len(s.Payload))
					}
					continue
				}
				video++
				if s.Keyframe {
					keyframes++
				}
				reordered = reordered || s.PTS != s.DTS
				if s.PTS < 0 || s.PTS >= tc.duration || len(s.NALUs) == 0 {
					t.Fatalf("video sample %d: PTS %v outside [0, %v) or empty", i, s.PTS, tc.duration)
				}
			}
			if video != tc.videoUnits || audio != tc.audio || keyframes != tc.keyframes {
				t.Errorf("%d video (%d keyframes), %d audio samples, want %d (%d), %d",
					video, keyframes, audio, tc.videoUnits, tc.keyframes, tc.audio)
			}
			if reordered != tc.reorderedTimestamps {
				t.Errorf("PTS != DTS somewhere = %v, want %v", reordered, tc.reorderedTimestamps)
			}
		})
	}
}

func TestNewSourceRejects(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		opts []Option
	}{
		{"empty", nil, nil},
		{"not mp4", []byte("this is not an mp4 file at all"), nil},
		{"truncated", testdata.DemoMP4[:len(testdata.DemoMP4)/2], nil},
		{"mtu too small", testdata.DemoMP4, []Option{WithMTU(10)}},
		{"mtu too large", testdata.DemoMP4, []Option{WithMTU(70000)}},
		{"zero report interval", testdata.DemoMP4, []Option{WithReportInterval(0)}},
		{"nil clock", testdata.DemoMP4, []Option{WithClock(nil)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewSource(bytes.NewReader(tc.data), tc.opts...); err == nil {
				t.Fatal("NewSource succeeded, want an error")
			}
		})
	}
}

func TestDurationToTicks(t *testing.T) {
	tests := []struct {
		d    time.Duration
		rate uint32
		want int64
	}{
		{0, 90000, 0},
		{time.Second / 30, 90000, 3000}, // 33.333333 ms rounds to a whole frame
		{-312 * time.Second / 48000, 48000, -312},
		{1500 * time.Microsecond, 48000, 72},
		{100 * 24 * time.Hour, 90000, 100 * 24 * 3600 * 90000}, // no overflow on long runs
	}
	for _, tc := range tests {
		if got := durationToTicks(tc.d, tc.rate); got != tc.want {
			t.Errorf("durationToTicks(%v, %d) = %d, want %d", tc.d, tc.rate, got, tc.want)
		}
	}
}
