package origin

import (
	"net/http/httptest"
	"testing"
)

func TestRequestKind(t *testing.T) {
	for _, tc := range []struct{ method, target, want string }{
		{"GET", "/hls/cam1/index.m3u8", KindMultivariant},
		{"GET", "/hls/cam1/video.m3u8", KindPlaylist},
		{"GET", "/hls/cam1/video.m3u8?_HLS_skip=YES", KindPlaylist},
		{"GET", "/hls/cam1/video.m3u8?_HLS_msn=12", KindBlockingPlaylist},
		{"GET", "/hls/cam1/audio.m3u8?_HLS_msn=12&_HLS_part=3&_HLS_skip=v2", KindBlockingPlaylist},
		{"GET", "/hls/cam1/video.m3u8?_HLS_msn=x", KindBlockingPlaylist}, // a 400, still a blocking request
		{"GET", "/hls/cam1/video.m3u8?%zz", KindPlaylist},                // unparsable query: the handler's 400
		{"HEAD", "/hls/cam1/video_1a2b3c4d_init0.mp4", KindInit},
		{"GET", "/hls/cam1/video_1a2b3c4d_12.mp4", KindSegment},
		{"GET", "/hls/cam1/audio_1a2b3c4d_12.3.mp4", KindPart},
		{"OPTIONS", "/hls/cam1/video.m3u8", KindPreflight},
		{"GET", "/hls/cam1/video_1a2b3c4d_012.mp4", KindOther},
		{"GET", "/hls/cam1/notes.txt", KindOther},
		{"GET", "/hls/cam1", KindOther},
		{"GET", "/hls/cam1/", KindOther},
		{"GET", "/hls/cam1/a/b.m3u8", KindOther},
		{"GET", "/elsewhere/cam1/index.m3u8", KindOther},
	} {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if got := RequestKind(r); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.method, tc.target, got, tc.want)
		}
	}
}
