package metrics

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/packager"
)

func TestHLSAndParts(t *testing.T) {
	var streams []Stream
	m := New(Config{Streams: func() []Stream { return streams }, Protocols: []string{"whip"}})
	h := m.HLS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".mp4") {
			http.Error(w, "gone", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte("#EXTM3U\n")) // no WriteHeader: 200
	}))
	for _, target := range []string{"/hls/a/video.m3u8?_HLS_msn=3", "/hls/a/video.m3u8?_HLS_msn=4", "/hls/a/video_ab_3.1.mp4"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", target, nil))
	}
	now := time.Now()
	m.ObservePart(packager.PartInfo{FirstArrival: now, Completed: now.Add(250 * time.Millisecond)})
	m.ObservePart(packager.PartInfo{Completed: now}) // no arrival: not observed
	streams = []Stream{{Name: "cam1", Live: true, Protocol: "whip", Viewers: 2}}
	body := scrape(t, m)
	for _, want := range []string{
		`frontrow_hls_requests_total{kind="blocking_playlist",status="200"} 2`,
		`frontrow_hls_requests_total{kind="part",status="404"} 1`,
		`frontrow_hls_part_build_delay_seconds_count 1`,
		`frontrow_hls_part_build_delay_seconds_bucket{le="0.3"} 1`,
		`frontrow_hls_part_build_delay_seconds_bucket{le="0.2"} 0`,
		`frontrow_publishers{protocol="whip"} 1`,
		`frontrow_viewers{stream="cam1",tier="webrtc"} 2`,
		`frontrow_audio_transcoder{from="",state="none",stream="cam1",to=""} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// A stream's series exist while it is listed, and only then.
	streams = nil
	body = scrape(t, m)
	if strings.Contains(body, "cam1") || !strings.Contains(body, `frontrow_publishers{protocol="whip"} 0`) {
		t.Errorf("/metrics after the stream ended:\n%s", body)
	}
}

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	return rec.Body.String()
}
