package origin

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"

	"github.com/frontrow-live/frontrow/packager"
)

// testdata/demo-h264-opus.mp4's parameter sets.
var (
	testSPS, _ = hex.DecodeString("6742c01eda0280bfe5c044000003000400000300f23c58ba80")
	testPPS, _ = hex.DecodeString("68ce3c80")
)

const (
	testFPS   = 30
	opusFrame = 20 * time.Millisecond
	// requestBound is a failsafe for one HTTP request in these tests.
	requestBound = 10 * time.Second
)

// feeder writes a synthetic 30 fps, 1 s GOP H264 + Opus stream.
type feeder struct{ vi, ai int }

func (f *feeder) next() packager.Unit {
	vd := time.Duration(f.vi) * time.Second / testFPS
	if ad := time.Duration(f.ai) * opusFrame; ad < vd {
		f.ai++
		return packager.Unit{Kind: packager.KindAudio, DTS: ad, PTS: ad, Keyframe: true, Payload: []byte{0xfc, byte(f.ai)}}
	}
	u := packager.Unit{Kind: packager.KindVideo, DTS: vd, PTS: vd, Keyframe: f.vi%testFPS == 0}
	if u.Keyframe {
		u.NALUs = [][]byte{testSPS, testPPS, {0x65, 0x88, byte(f.vi)}}
	} else {
		u.NALUs = [][]byte{{0x41, 0x9a, byte(f.vi)}}
	}
	f.vi++
	return u
}

func (f *feeder) write(t testing.TB, m *packager.Muxer, until time.Duration) {
	t.Helper()
	for time.Duration(f.vi)*time.Second/testFPS < until {
		if err := m.WriteUnit(f.next()); err != nil {
			t.Fatal(err)
		}
	}
}

func newStream(t testing.TB, cfg packager.Config) *packager.Muxer {
	t.Helper()
	cfg.ID = "t"
	m, err := packager.NewMuxer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	err = m.SetTracks(packager.Tracks{Video: &packager.VideoInfo{},
		Audio: &packager.AudioInfo{Codec: packager.CodecOpus, SampleRate: 48000, Channels: 2}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// serve starts an origin on loopback with the given streams.
func serve(t testing.TB, streams map[string]*packager.Muxer) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(NewHLS(HLSConfig{Lookup: func(s string) (*packager.Muxer, bool) {
		m, ok := streams[s]
		return m, ok
	}}))
	t.Cleanup(srv.Close)
	return srv
}

// do sends one request; the transport never adds Accept-Encoding itself.
func do(t testing.TB, method, url string, hdr http.Header) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestBound)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

// TestHLSResponses: status codes, content types and Cache-Control for every
// response kind (spec: LL-HLS origin, Appendix B.1 table), CORS on all of them.
func TestHLSResponses(t *testing.T) {
	live := newStream(t, packager.Config{})
	var f feeder
	f.write(t, live, 3*time.Second+250*time.Millisecond) // segments 1-3 complete, 4.0 published (numbering starts at 1)
	slow := newStream(t, packager.Config{BlockTimeout: 30 * time.Millisecond})
	var f2 feeder
	f2.write(t, slow, 2*time.Second+100*time.Millisecond)
	empty := newStream(t, packager.Config{BlockTimeout: 30 * time.Millisecond})
	srv := serve(t, map[string]*packager.Muxer{"live": live, "slow": slow, "empty": empty})

	const (
		m3u8 = "application/vnd.apple.mpegurl"
		td   = 2 // TARGETDURATION of the default config
	)
	cases := []struct {
		name, method, path string
		status             int
		contentType        string
		cacheControl       string
		retryAfter         bool
	}{
		{"multivariant", "GET", "/hls/live/index.m3u8", 200, m3u8, "max-age=1", false},
		{"media playlist", "GET", "/hls/live/video.m3u8", 200, m3u8, "max-age=1", false},
		{"audio playlist", "GET", "/hls/live/audio.m3u8", 200, m3u8, "max-age=1", false},
		{"delta update", "GET", "/hls/live/video.m3u8?_HLS_skip=YES", 200, m3u8, "max-age=1", false},
		{"blocking, available", "GET", "/hls/live/video.m3u8?_HLS_msn=4&_HLS_part=0", 200, m3u8, "max-age=12", false},
		{"blocking, skip v2", "GET", "/hls/live/video.m3u8?_HLS_msn=3&_HLS_skip=v2", 200, m3u8, "max-age=12", false},
		{"blocking, old msn", "GET", "/hls/live/video.m3u8?_HLS_msn=0", 200, m3u8, "max-age=12", false},
		{"other parameters ignored", "GET", "/hls/live/video.m3u8?token=abc", 200, m3u8, "max-age=1", false},
		{"part without msn", "GET", "/hls/live/video.m3u8?_HLS_part=1", 400, "", "max-age=2", false},
		{"msn not a number", "GET", "/hls/live/video.m3u8?_HLS_msn=abc", 400, "", "max-age=8", false},
		{"msn negative", "GET", "/hls/live/video.m3u8?_HLS_msn=-1", 400, "", "max-age=8", false},
		{"msn with sign", "GET", "/hls/live/video.m3u8?_HLS_msn=%2B1", 400, "", "max-age=8", false},
		{"msn fraction", "GET", "/hls/live/video.m3u8?_HLS_msn=1.5", 400, "", "max-age=8", false},
		{"msn empty", "GET", "/hls/live/video.m3u8?_HLS_msn=", 400, "", "max-age=8", false},
		{"msn overflow", "GET", "/hls/live/video.m3u8?_HLS_msn=99999999999999999999999", 400, "", "max-age=8", false},
		{"msn twice", "GET", "/hls/live/video.m3u8?_HLS_msn=1&_HLS_msn=2", 400, "", "max-age=8", false},
		{"part not a number", "GET", "/hls/live/video.m3u8?_HLS_msn=1&_HLS_part=x", 400, "", "max-age=8", false},
		{"skip unknown", "GET", "/hls/live/video.m3u8?_HLS_skip=NO", 400, "", "max-age=2", false},
		{"bad escape (directives unreadable)", "GET", "/hls/live/video.m3u8?_HLS_msn=%zz", 400, "", "max-age=2", false},
		{"msn beyond last + 2", "GET", "/hls/live/video.m3u8?_HLS_msn=7", 400, "", "max-age=8", false},
		{"blocked too long", "GET", "/hls/slow/video.m3u8?_HLS_msn=3&_HLS_part=3", 503, "", "max-age=8", true},
		{"no first segment yet", "GET", "/hls/empty/video.m3u8", 503, "", "max-age=2", true},
		{"multivariant not ready", "GET", "/hls/empty/index.m3u8", 503, "", "max-age=2", true},
		{"unknown rendition", "GET", "/hls/live/subtitles.m3u8", 404, "", "max-age=2", false},
		{"unknown stream", "GET", "/hls/nope/index.m3u8", 404, "", "max-age=1", false},
		{"video init", "GET", "/hls/live/video_t_init0.mp4", 200, "video/mp4", "max-age=3600, immutable", false},
		{"audio init", "GET", "/hls/live/audio_t_init0.mp4", 200, "audio/mp4", "max-age=3600, immutable", false},
		{"segment", "GET", "/hls/live/video_t_1.mp4", 200, "video/mp4", "max-age=3600, immutable", false},
		{"part", "GET", "/hls/live/audio_t_4.0.mp4", 200, "audio/mp4", "max-age=3600, immutable", false},
		{"hinted part, never completes", "GET", "/hls/slow/video_t_3.0.mp4", 503, "", "no-store", true},
		{"unknown part", "GET", "/hls/live/video_t_9.0.mp4", 404, "", "no-store", false},
		{"another muxer's part", "GET", "/hls/live/video_old_1.0.mp4", 404, "", "no-store", false},
		{"unknown file", "GET", "/hls/live/passwd", 404, "", "no-store", false},
		{"no file", "GET", "/hls/live/", 404, "", "", false},
		{"POST", "POST", "/hls/live/index.m3u8", 405, "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, body := do(t, tc.method, srv.URL+tc.path, nil)
			if res.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.status, body)
			}
			h := res.Header
			if tc.contentType != "" && h.Get("Content-Type") != tc.contentType {
				t.Errorf("Content-Type %q, want %q", h.Get("Content-Type"), tc.contentType)
			}
			if h.Get("Cache-Control") != tc.cacheControl {
				t.Errorf("Cache-Control %q, want %q", h.Get("Cache-Control"), tc.cacheControl)
			}
			if got := h.Get("Retry-After"); (got != "") != tc.retryAfter || (tc.retryAfter && got != strconv.Itoa(td)) {
				t.Errorf("Retry-After %q, want one: %t", got, tc.retryAfter)
			}
			if h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Access-Control-Expose-Headers") != "Age" {
				t.Errorf("CORS headers missing: %v", h)
			}
			if _, ok := h["Age"]; ok {
				t.Error("the origin must never send Age")
			}
			if tc.status == 200 && tc.contentType == m3u8 {
				if _, err := playlist.Unmarshal(body); err != nil {
					t.Errorf("gohlslib cannot read it: %v\n%s", err, body)
				}
			}
		})
	}
}

// TestHLSGzip: playlists are gzipped when the client accepts it, media never.
func TestHLSGzip(t *testing.T) {
	m := newStream(t, packager.Config{})
	var f feeder
	f.write(t, m, 3*time.Second)
	srv := serve(t, map[string]*packager.Muxer{"s": m})
	_, plain := do(t, "GET", srv.URL+"/hls/s/video.m3u8", nil)
	for _, tc := range []struct {
		accept string
		gzip   bool
	}{
		{"gzip", true},
		{"br, gzip;q=0.5", true},
		{"GZIP", true},
		{"*", true},
		{"gzip;q=0", false},
		{"gzip;q=0, *", false},
		{"identity", false},
		{"", false},
	} {
		t.Run(tc.accept, func(t *testing.T) {
			res, body := do(t, "GET", srv.URL+"/hls/s/video.m3u8", http.Header{"Accept-Encoding": {tc.accept}})
			if !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
				t.Error("playlists vary by Accept-Encoding")
			}
			if got := res.Header.Get("Content-Encoding") == "gzip"; got != tc.gzip {
				t.Fatalf("gzipped: %t, want %t", got, tc.gzip)
			}
			if res.Header.Get("Content-Length") != strconv.Itoa(len(body)) {
				t.Error("Content-Length does not match the body")
			}
			if tc.gzip {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				body, err = io.ReadAll(zr)
				if err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(body, plain) {
				t.Fatal("decoded body differs from the plain one")
			}
		})
	}
	res, _ := do(t, "GET", srv.URL+"/hls/s/video_t_0.mp4", http.Header{"Accept-Encoding": {"gzip"}})
	if res.Header.Get("Content-Encoding") != "" {
		t.Error("media must not be gzipped")
	}
}

// TestHLSHead: HEAD answers like GET without a body.
func TestHLSHead(t *testing.T) {
	m := newStream(t, packager.Config{})
	var f feeder
	f.write(t, m, 3*time.Second)
	srv := serve(t, map[string]*packager.Muxer{"s": m})
	for _, path := range []string{"/hls/s/index.m3u8", "/hls/s/video.m3u8", "/hls/s/video_t_1.mp4", "/hls/s/video_t_1.2.mp4"} {
		get, getBody := do(t, "GET", srv.URL+path, nil)
		head, headBody := do(t, "HEAD", srv.URL+path, nil)
		if head.StatusCode != 200 || len(headBody) != 0 {
			t.Fatalf("HEAD %s: %d with %d body bytes", path, head.StatusCode, len(headBody))
		}
		if head.Header.Get("Content-Length") != strconv.Itoa(len(getBody)) || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") ||
			head.Header.Get("Cache-Control") != get.Header.Get("Cache-Control") {
			t.Fatalf("HEAD %s headers differ from GET: %v vs %v", path, head.Header, get.Header)
		}
	}
}

// TestHLSPreflight: CORS preflight for browser players on other origins.
func TestHLSPreflight(t *testing.T) {
	srv := serve(t, map[string]*packager.Muxer{})
	res, _ := do(t, "OPTIONS", srv.URL+"/hls/s/video.m3u8", http.Header{
		"Origin":                         {"https://player.example"},
		"Access-Control-Request-Method":  {"GET"},
		"Access-Control-Request-Headers": {"range"},
	})
	h := res.Header
	if res.StatusCode != http.StatusNoContent || h.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(h.Get("Access-Control-Allow-Methods"), "GET") || h.Get("Access-Control-Allow-Headers") != "range" ||
		h.Get("Access-Control-Max-Age") == "" {
		t.Fatalf("preflight: %d %v", res.StatusCode, h)
	}
}

// TestHLSBlockingRequest: a blocked HTTP request is answered when its part
// lands, with the part in the playlist.
func TestHLSBlockingRequest(t *testing.T) {
	m := newStream(t, packager.Config{})
	var f feeder
	f.write(t, m, 2*time.Second+50*time.Millisecond) // 3.0 is hinted
	srv := serve(t, map[string]*packager.Muxer{"s": m})
	type answer struct {
		res  *http.Response
		body []byte
	}
	done := make(chan answer, 1)
	go func() {
		res, body := do(t, "GET", srv.URL+"/hls/s/video.m3u8?_HLS_msn=3&_HLS_part=0", nil)
		done <- answer{res, body}
	}()
	waitBlocked(t, m, 1)
	f.write(t, m, 2*time.Second+250*time.Millisecond)
	a := <-done
	if a.res.StatusCode != 200 || !strings.Contains(string(a.body), `URI="video_t_2.0.mp4"`) {
		t.Fatalf("%d:\n%s", a.res.StatusCode, a.body)
	}
}

// waitBlocked waits until n requests are blocked inside the muxer.
func waitBlocked(t testing.TB, m *packager.Muxer, n int) {
	t.Helper()
	deadline := time.Now().Add(requestBound)
	for m.Stats().Waiting < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests blocked, want %d", m.Stats().Waiting, n)
		}
		runtime.Gosched()
	}
}

// Blocked playlist requests are answered when their part completes
// (README; ../shared/specs/ll-hls.md: all waiters of a part woken at once).
// TestBlockingReloadWakeup blocks blockedWaiters requests over loopback HTTP
// on the next part, completes it, and takes the time from the WriteUnit
// call that completed it to the last of them answered; wakeTries times.
//
// The median try must be within wakeBound: tens of milliseconds, so a wake
// that polls, or answers the waiters one after another at any real cost,
// fails. Every try must be within wakeCap: far below the block timeout
// (3 x TD = 6 s), so a waiter the part did not wake (left for the timeout,
// or for a later event: the test writes nothing more until all are
// answered) fails on any try. Only the median is held to tens of
// milliseconds because a loaded 2-core machine stalls a process for 100 ms
// and more now and then, which no single try can tell from a slow wake.
//
// Measured with go test -race -count=10 -run '^TestBlockingReloadWakeup$'
// ./origin on 2 cores shared with other test runs (load average 7): median
// try 5-29 ms, worst try 9-72 ms; with two more busy-looping processes
// (load average 8): median 10-20 ms, worst 30-200 ms. With 50 waiters the
// medians were 50-115 ms under that load (the time grows with the answers
// two cores must write and read), hence 10.
const (
	blockedWaiters = 10
	wakeTries      = 20
	wakeBound      = 50 * time.Millisecond
	wakeCap        = 500 * time.Millisecond
)

func TestBlockingReloadWakeup(t *testing.T) {
	m := newStream(t, packager.Config{})
	var f feeder
	f.write(t, m, 2*time.Second+50*time.Millisecond)
	srv := serve(t, map[string]*packager.Muxer{"s": m})
	tr := &http.Transport{MaxIdleConnsPerHost: blockedWaiters}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: requestBound}
	type answer struct {
		at  time.Time
		err error
	}
	var lasts []time.Duration
	for try := range wakeTries {
		resp, err := m.Playlist(context.Background(), "video", packager.Request{})
		if err != nil {
			t.Fatal(err)
		}
		var pl playlist.Media
		if err := pl.Unmarshal(resp.Body); err != nil {
			t.Fatal(err)
		}
		// The hint names the next part: ask for it by msn/part.
		var msn, part int
		if _, err := fmt.Sscanf(pl.PreloadHint.URI, "video_t_%d.%d.mp4", &msn, &part); err != nil {
			t.Fatal(err)
		}
		url := fmt.Sprintf("%s/hls/s/video.m3u8?_HLS_msn=%d&_HLS_part=%d", srv.URL, msn, part)
		got := make(chan answer, blockedWaiters)
		for range blockedWaiters {
			go func() {
				res, err := client.Get(url)
				if err != nil {
					got <- answer{err: err}
					return
				}
				defer res.Body.Close()
				b, err := io.ReadAll(res.Body)
				at := time.Now()
				switch {
				case err != nil:
				case res.StatusCode != http.StatusOK:
					err = fmt.Errorf("status %d", res.StatusCode)
				case !strings.Contains(string(b), `URI="`+pl.PreloadHint.URI+`"`):
					err = fmt.Errorf("answered without part %s:\n%s", pl.PreloadHint.URI, b)
				}
				got <- answer{at, err}
			}()
		}
		waitBlocked(t, m, blockedWaiters)
		// Write until the hinted part is complete; a part is 200 ms, at
		// most a few dozen units of the feeder's.
		before := m.Stats().Parts
		var start time.Time
		for i := 0; ; i++ {
			if i == 100 {
				t.Fatalf("try %d: 100 units written, the hinted part %s still not complete", try, pl.PreloadHint.URI)
			}
			start = time.Now()
			if err := m.WriteUnit(f.next()); err != nil {
				t.Fatal(err)
			}
			if s := m.Stats(); s.Parts > before && s.LastPart.Rendition == "video" {
				break
			}
		}
		var last time.Duration
		timeout := time.After(requestBound)
		for range blockedWaiters {
			select {
			case a := <-got:
				if a.err != nil {
					t.Fatalf("try %d: blocked request: %v", try, a.err)
				}
				last = max(last, a.at.Sub(start))
			case <-timeout:
				t.Fatalf("try %d: blocked requests unanswered %v after the part", try, requestBound)
			}
		}
		lasts = append(lasts, last)
	}
	slices.Sort(lasts)
	median, worst := lasts[len(lasts)/2], lasts[len(lasts)-1]
	t.Logf("part completed -> last of %d blocked playlist requests answered over HTTP: min %v, median %v, max %v (%d tries)",
		blockedWaiters, lasts[0], median, worst, wakeTries)
	if median > wakeBound {
		t.Errorf("the last of %d blocked requests answered a median %v after its part completed, want within %v (all tries: %v)",
			blockedWaiters, median, wakeBound, lasts)
	}
	if worst > wakeCap {
		t.Errorf("the last of %d blocked requests answered %v after its part completed, want within %v (all tries: %v)",
			blockedWaiters, worst, wakeCap, lasts)
	}
}
