package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/app"
)

// scrape reads /metrics into series ("name{labels}" as the text format
// prints them, labels sorted) and values.
func scrape(t testing.TB, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// get fetches url and returns its status and body.
func get(t testing.TB, ctx context.Context, url string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetrics publishes over WHIP, watches over WHEP and LL-HLS, and reads
// /metrics: every figure the traffic must have moved is there and above
// zero, on the public and the admin address; once the stream ends its
// series are gone.
func TestMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	g := startGateway(t, withGrace(100*time.Millisecond), func(c *app.Config) { c.AdminAddr = "127.0.0.1:0" })
	pub, stop := startPublisher(t, ctx, g, "live")
	viewer := newWHEPClient(t, clientAPI(t))
	if err := viewer.play(ctx, g.base, "live"); err != nil {
		t.Fatalf("play: %v", err)
	}
	if err := viewer.got.waitFor(ctx, "units", func(v [][][]byte, a [][]byte) bool { return len(v) >= 30 && len(a) >= 50 }); err != nil {
		t.Fatal(err)
	}

	// LL-HLS: the multivariant playlist, a media playlist with parts, one
	// part, and a blocking reload.
	hls := g.base + "/hls/live/"
	if code, _ := get(t, ctx, hls+"index.m3u8"); code != http.StatusOK {
		t.Fatalf("multivariant: %d", code)
	}
	var partURI string
	var msn int
	for partURI == "" {
		code, body := get(t, ctx, hls+"video.m3u8")
		if code != http.StatusOK {
			t.Fatalf("video.m3u8: %d", code)
		}
		for _, line := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(line, "#EXT-X-MEDIA-SEQUENCE:"); ok {
				msn, _ = strconv.Atoi(v)
			}
			if strings.HasPrefix(line, "#EXT-X-PART:") {
				_, uri, _ := strings.Cut(line, `URI="`)
				partURI, _, _ = strings.Cut(uri, `"`)
			}
		}
		if ctx.Err() != nil {
			t.Fatal("no part in the playlist")
		}
		if partURI == "" {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if code, _ := get(t, ctx, hls+partURI); code != http.StatusOK {
		t.Fatalf("part %s: %d", partURI, code)
	}
	if code, _ := get(t, ctx, fmt.Sprintf("%svideo.m3u8?_HLS_msn=%d", hls, msn)); code != http.StatusOK {
		t.Fatalf("blocking playlist: %d", code)
	}
	get(t, ctx, hls+"nothing.txt")

	const live = `stream="live"`
	m := scrape(t, g.base+"/metrics")
	for _, series := range []string{
		`frontrow_publishers{protocol="whip"}`,
		`frontrow_streams`,
		`frontrow_viewers{stream="live",tier="webrtc"}`,
		`frontrow_ingest_packets_total{kind="video",stream="live"}`,
		`frontrow_ingest_packets_total{kind="audio",stream="live"}`,
		`frontrow_ingest_bytes_total{kind="video",stream="live"}`,
		`frontrow_egress_packets_total{stream="live",tier="webrtc"}`,
		`frontrow_egress_bytes_total{stream="live",tier="webrtc"}`,
		`frontrow_webrtc_forward_delay_seconds_count{stream="live"}`,
		`frontrow_webrtc_forward_delay_seconds_bucket{stream="live",le="+Inf"}`,
		`frontrow_keyframe_requests_sent_total{stream="live"}`,
		`frontrow_hls_parts_total{stream="live"}`,
		`frontrow_hls_segments_total{stream="live"}`,
		`frontrow_hls_part_build_delay_seconds_count`,
		`frontrow_hls_requests_total{kind="multivariant",status="200"}`,
		`frontrow_hls_requests_total{kind="playlist",status="200"}`,
		`frontrow_hls_requests_total{kind="blocking_playlist",status="200"}`,
		`frontrow_hls_requests_total{kind="part",status="200"}`,
		`frontrow_hls_requests_total{kind="other",status="404"}`,
		`frontrow_audio_transcoder{from="opus",state="transcoding",stream="live",to="aac"}`,
		`frontrow_audio_transcoder_frames_total{direction="in",stream="live"}`,
		`frontrow_audio_transcoder_frames_total{direction="out",stream="live"}`,
		`go_goroutines`,
	} {
		if v, ok := m[series]; !ok || v <= 0 {
			t.Errorf("%s = %v (present %v), want > 0", series, v, ok)
		}
	}
	// Present, zero or not: nothing forces loss on loopback.
	for _, series := range []string{
		`frontrow_publishers{protocol="rtmp"}`,
		`frontrow_hls_blocked_requests{stream="live"}`,
		`frontrow_webrtc_nacks_received_total{stream="live"}`,
		`frontrow_webrtc_retransmissions_total{stream="live"}`,
		`frontrow_webrtc_keyframe_requests_received_total{stream="live"}`,
		`frontrow_drops_total{reason="viewer_queue_full",stream="live"}`,
		`frontrow_drops_total{reason="packager",stream="live"}`,
		`frontrow_drops_total{reason="ingest_incomplete_unit",stream="live"}`,
		`frontrow_drops_total{reason="audio_bridge_queue_full",stream="live"}`,
		`frontrow_drops_total{reason="audio_bridge_corrupt",stream="live"}`,
		`frontrow_drops_total{reason="audio_bridge_late",stream="live"}`,
	} {
		if _, ok := m[series]; !ok {
			t.Errorf("%s missing", series)
		}
	}
	if n, out := m[`frontrow_webrtc_forward_delay_seconds_count{stream="live"}`], m[`frontrow_egress_packets_total{stream="live",tier="webrtc"}`]; n > out {
		t.Errorf("forward delay observed %v packets, more than the %v sent", n, out)
	}
	if sum, n := m[`frontrow_webrtc_forward_delay_seconds_sum{stream="live"}`], m[`frontrow_webrtc_forward_delay_seconds_count{stream="live"}`]; n > 0 && (sum <= 0 || sum/n > 1) {
		t.Errorf("mean forward delay %v s over %v packets: not a delay on loopback", sum/n, n)
	}
	if sent, got := m[`frontrow_ingest_packets_total{kind="video",stream="live"}`], m[`frontrow_egress_packets_total{stream="live",tier="webrtc"}`]; got > 2*sent {
		t.Errorf("%v packets out to one viewer for %v video packets in", got, sent)
	}
	if _, ok := scrape(t, "http://"+g.AdminAddr().String()+"/metrics")[`frontrow_viewers{stream="live",tier="webrtc"}`]; !ok {
		t.Errorf("admin /metrics lacks the stream's viewers")
	}

	// The publisher leaves; after the grace period the stream ends and its
	// series go with it.
	stop()
	del(t, ctx, g.base+pub.location, testToken, http.StatusOK)
	for {
		if _, ok := g.Registry().Get("live"); !ok {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("stream did not end")
		}
		time.Sleep(50 * time.Millisecond)
	}
	m = scrape(t, g.base+"/metrics")
	for series := range m {
		if strings.Contains(series, live) {
			t.Errorf("%s still reported after the stream ended", series)
		}
	}
	if v := m[`frontrow_publishers{protocol="whip"}`]; v != 0 {
		t.Errorf("frontrow_publishers{protocol=\"whip\"} = %v after the publisher left", v)
	}
}
