package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/app"
)

// The browser tests drive Debian's Chromium through e2e/browser/driver.mjs
// (npm playwright-core, pinned in e2e/browser/package-lock.json). They skip
// when Chromium or Node.js is missing, except in CI (CI=true), where a
// missing browser is a failure: .ci/run installs it.
const (
	chromiumPath = "/usr/bin/chromium"
	browserDir   = "browser" // relative to e2e/, the package directory go test runs in
	// npmInstallTimeout bounds `npm ci` of playwright-core (one small package).
	npmInstallTimeout = 3 * time.Minute
	// browserStartTimeout bounds Node plus a Chromium launch (~1 s here).
	browserStartTimeout = 30 * time.Second
	// browserStopTimeout is how long the driver gets to close Chromium after
	// its stdin closes, before it is signalled.
	browserStopTimeout = 10 * time.Second
)

// needBrowser skips the test when Chromium or node is missing outside CI.
func needBrowser(t testing.TB) {
	t.Helper()
	var missing []string
	if _, err := os.Stat(chromiumPath); err != nil {
		missing = append(missing, chromiumPath)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("browser tests need %s (CI=true, so this fails: .ci/run installs chromium)", strings.Join(missing, " and "))
	}
	logMissingClient(t, strings.Join(missing, " and "))
	t.Skipf("browser tests skipped: %s not found (scripts/install-test-clients.sh installs them; they always run with CI=true)",
		strings.Join(missing, " and "))
}

// npmInstall runs `npm ci` in e2e/browser once, when node_modules lacks the
// playwright-core version package-lock.json pins. It installs into a
// temporary directory and renames it into place, so a concurrent test run
// in the same tree never sees half a node_modules.
func npmInstall(t testing.TB) {
	t.Helper()
	want, err := lockedVersion(filepath.Join(browserDir, "package-lock.json"), "playwright-core")
	if err != nil {
		t.Fatal(err)
	}
	installed := func() bool {
		v, err := packageVersion(filepath.Join(browserDir, "node_modules", "playwright-core", "package.json"))
		return err == nil && v == want
	}
	if installed() {
		return
	}
	tmp, err := os.MkdirTemp(browserDir, ".install-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for _, f := range []string{"package.json", "package-lock.json"} {
		data, err := os.ReadFile(filepath.Join(browserDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), npmInstallTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", browserDir, err, out)
	}
	dst := filepath.Join(browserDir, "node_modules")
	if installed() {
		return // another run got there first
	}
	_ = os.RemoveAll(dst) // a stale version
	if err := os.Rename(filepath.Join(tmp, "node_modules"), dst); err != nil && !installed() {
		t.Fatalf("install playwright-core: %v", err)
	}
}

func packageVersion(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var p struct{ Version string }
	if err := json.Unmarshal(data, &p); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return p.Version, nil
}

func lockedVersion(lockPath, pkg string) (string, error) {
	data, err := os.ReadFile(lockPath)
	if err != nil {
		return "", err
	}
	var lock struct {
		Packages map[string]struct{ Version string }
	}
	if err := json.Unmarshal(data, &lock); err != nil {
		return "", fmt.Errorf("%s: %w", lockPath, err)
	}
	v := lock.Packages["node_modules/"+pkg].Version
	if v == "" {
		return "", fmt.Errorf("%s pins no %s", lockPath, pkg)
	}
	return v, nil
}

// browser is one headless Chromium behind driver.mjs; its pages run
// window.frontrowTest functions (e2e/browser/page/harness.js).
type browser struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser

	mu      sync.Mutex
	nextID  int
	pending map[int]chan driverReply
	logs    map[int][]string // page -> console lines
	exited  chan struct{}    // closed when the driver's stdout ends
	readErr error
	stderr  strings.Builder
}

type driverReply struct {
	ID     int             `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
	Event  string          `json:"event"`
	Page   int             `json:"page"`
	Text   string          `json:"text"`
}

// startBrowser installs the driver's dependencies if needed, launches
// Chromium with a fresh profile and closes it when the test ends.
func startBrowser(t testing.TB) *browser {
	t.Helper()
	needBrowser(t)
	npmInstall(t)
	profile, err := os.MkdirTemp("", "frontrow-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", filepath.Join(browserDir, "driver.mjs"), profile)
	b := &browser{cmd: cmd, pending: map[int]chan driverReply{}, logs: map[int][]string{}, exited: make(chan struct{})}
	cmd.Stderr = &browserStderr{mu: &b.mu, w: &b.stderr}
	if b.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", cmd, err)
	}
	ready := make(chan struct{})
	go b.read(stdout, ready)
	t.Cleanup(func() {
		b.stop(t)
		_ = os.RemoveAll(profile)
	})
	select {
	case <-ready:
	case <-b.exited:
		t.Fatalf("browser driver exited before it was ready: %v\n%s", b.readErr, b.stderrText())
	case <-time.After(browserStartTimeout):
		t.Fatalf("browser driver not ready within %v\n%s", browserStartTimeout, b.stderrText())
	}
	return b
}

// read dispatches the driver's replies and collects page console lines.
func (b *browser) read(stdout io.Reader, ready chan struct{}) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		var r driverReply
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue // not ours: a library printing on stdout
		}
		b.mu.Lock()
		switch r.Event {
		case "ready":
			close(ready)
		case "console":
			b.logs[r.Page] = append(b.logs[r.Page], r.Text)
		case "":
			if ch, ok := b.pending[r.ID]; ok {
				delete(b.pending, r.ID)
				ch <- r
			}
		}
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.readErr = sc.Err()
	b.mu.Unlock()
	close(b.exited)
}

// stop closes stdin (the driver then closes Chromium and exits), signals
// it if it lingers, and reaps it.
func (b *browser) stop(t testing.TB) {
	_ = b.stdin.Close()
	waited := make(chan error, 1)
	go func() { waited <- b.cmd.Wait() }()
	select {
	case <-waited:
		return
	case <-time.After(browserStopTimeout):
	}
	t.Errorf("browser driver still running %v after its stdin closed; signalling it", browserStopTimeout)
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-waited:
	case <-time.After(browserStopTimeout):
		_ = b.cmd.Process.Kill()
		<-waited
	}
}

func (b *browser) stderrText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

// do sends one command and waits for its reply.
func (b *browser) do(ctx context.Context, cmd map[string]any, out any) error {
	ch := make(chan driverReply, 1)
	b.mu.Lock()
	b.nextID++
	id := b.nextID
	b.pending[id] = ch
	cmd["id"] = id
	line, err := json.Marshal(cmd)
	if err == nil {
		_, err = b.stdin.Write(append(line, '\n'))
	}
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("browser driver: %w", err)
	}
	select {
	case r := <-ch:
		if r.Error != "" {
			return errors.New(r.Error)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-b.exited:
		return fmt.Errorf("browser driver exited: %s", b.stderrText())
	case <-ctx.Done():
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("browser %s: %w", cmd["op"], ctx.Err())
	}
}

// browserPage is one tab.
type browserPage struct {
	b  *browser
	id int
}

// open loads url in a new tab, closed (running its pagehide handlers) when
// the test ends; the tab's console is logged if the test failed.
func (b *browser) open(t testing.TB, ctx context.Context, url string) *browserPage {
	t.Helper()
	return b.openWith(t, ctx, url, map[string]any{"op": "open", "url": url})
}

// openWith sends an open command (with options such as a viewport) and
// arranges the tab's closing and console dump.
func (b *browser) openWith(t testing.TB, ctx context.Context, url string, cmd map[string]any) *browserPage {
	t.Helper()
	var r struct{ Page int }
	if err := b.do(ctx, cmd, &r); err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	p := &browserPage{b: b, id: r.Page}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.do(ctx, map[string]any{"op": "close", "page": p.id}, nil); err != nil {
			t.Logf("close page %s: %v", url, err)
		}
		if t.Failed() {
			b.mu.Lock()
			logs := b.logs[p.id]
			b.mu.Unlock()
			t.Logf("console of %s:\n\t%s", url, strings.Join(logs, "\n\t"))
		}
	})
	return p
}

// call runs window.frontrowTest[fn](arg) in the page and decodes what it
// resolves to into out.
func (p *browserPage) call(ctx context.Context, fn string, arg, out any) error {
	if err := p.b.do(ctx, map[string]any{"op": "call", "page": p.id, "fn": fn, "arg": arg}, out); err != nil {
		return fmt.Errorf("%s: %w", fn, err)
	}
	return nil
}

type browserStderr struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w *browserStderr) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// The shapes harness.js returns.
type (
	browserRTPStats struct {
		MimeType              string
		PacketsSent           int
		PacketsReceived       int
		PacketsLost           int
		FramesEncoded         int
		KeyFramesEncoded      int
		FramesDecoded         int
		KeyFramesDecoded      int
		PLICount              int `json:"pliCount"`
		FrameWidth            int
		FrameHeight           int
		EncoderImplementation string
		TotalAudioEnergy      float64
		TotalSamplesReceived  int
		ConcealedSamples      int
	}
	browserFirstFrame struct {
		GatherMs, AnswerMs, ConnectedMs, FirstFrameMs float64
	}
)

// publishFromBrowser opens a tab on the gateway (127.0.0.1 is a secure
// context, so getUserMedia works without TLS) and publishes its fake camera
// and microphone to /whip/{name}.
func publishFromBrowser(t testing.TB, ctx context.Context, br *browser, g *gateway, name string) *browserPage {
	t.Helper()
	p := br.open(t, ctx, g.base+"/healthz")
	var r struct{ Location string }
	if err := p.call(ctx, "publish", map[string]any{"url": g.base + "/whip/" + name, "token": testToken}, &r); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitHLSReady GETs a playlist until the origin has it: before a stream's
// first segment it answers 503 with Retry-After, which gohlslib's client
// treats as fatal. Retries follow Retry-After (at most 1 s apart), as a
// player would, until ctx ends.
func waitHLSReady(ctx context.Context, url string) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			return nil
		case http.StatusServiceUnavailable:
		default:
			return fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		wait := time.Second
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			wait = min(wait, time.Duration(s)*time.Second)
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return fmt.Errorf("GET %s: still 503: %w", url, ctx.Err())
		}
	}
}

// TestBrowser runs real Chromium against the gateway, one launch for all
// subtests.
func TestBrowser(t *testing.T) {
	br := startBrowser(t)
	t.Run("WHIPPublish", func(t *testing.T) { testBrowserWHIPPublish(t, br) })
	t.Run("PlayerPage", func(t *testing.T) { testBrowserPlayerPage(t, br) })
}

// testBrowserWHIPPublish: Chromium publishes over WHIP as a web page would;
// a pion WHEP viewer and gohlslib's LL-HLS client both get its media, and
// HLS segments stay near the 1 s target because the gateway asks the
// browser's encoder (which sends keyframes only on request) for keyframes.
func testBrowserWHIPPublish(t *testing.T, br *browser) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := startGateway(t)
	pub := publishFromBrowser(t, ctx, br, g, "browser")
	st, ok := g.Registry().Get("browser")
	if !ok || !st.Live() {
		t.Fatalf("stream browser not live after the WHIP session connected (found %v)", ok)
	}

	viewer := newWHEPClient(t, clientAPI(t))
	if err := viewer.play(ctx, g.base, "browser"); err != nil {
		t.Fatalf("WHEP play: %v", err)
	}
	if err := viewer.got.waitFor(ctx, "30 video units and 50 audio packets over WHEP", func(v [][][]byte, a [][]byte) bool {
		return len(v) >= 30 && len(a) >= 50
	}); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := viewer.got.snapshot(); !isKeyframe(v[0]) {
		t.Errorf("the first video unit the WHEP viewer got is not a keyframe")
	}
	// The WHEP viewer has a second of video: the first HLS segment is due.
	hlsCtx, hlsCancel := context.WithTimeout(ctx, 10*time.Second)
	defer hlsCancel()
	if err := waitHLSReady(hlsCtx, g.base+"/hls/browser/index.m3u8"); err != nil {
		t.Fatalf("no LL-HLS for the browser's stream while WHEP plays it (is the packager waiting for a keyframe nobody asked the encoder for?): %v", err)
	}
	hls := readHLS(t, g.base+"/hls/browser/index.m3u8")
	if _, _, err := hls.waitUnits(ctx, 30, 50); err != nil {
		t.Fatalf("LL-HLS: %v", err)
	}

	// Wait (blocking playlist reloads) until segments 1-5 are complete
	// (numbering starts at 1), then check their durations.
	const wantSegments = 5
	const maxSegment = 1500 * time.Millisecond
	pl, err := fetchPlaylist(ctx, g.base+"/hls/browser/video.m3u8")
	for err == nil && pl.MediaSequence+len(pl.Segments)-1 < wantSegments {
		next := pl.MediaSequence + len(pl.Segments) + 1
		pl, err = fetchPlaylist(ctx, fmt.Sprintf("%s/hls/browser/video.m3u8?_HLS_msn=%d", g.base, next))
	}
	if err != nil {
		t.Fatalf("waiting for %d segments: %v", wantSegments, err)
	}
	var durations []string
	for i, s := range pl.Segments {
		durations = append(durations, s.Duration.String())
		if s.Duration > maxSegment {
			t.Errorf("segment %d lasts %v, want at most %v: the browser's encoder was not asked for keyframes in time",
				pl.MediaSequence+i, s.Duration, maxSegment)
		}
	}
	t.Logf("segments %d-%d: %s", pl.MediaSequence, pl.MediaSequence+len(pl.Segments)-1, strings.Join(durations, " "))

	var stats map[string]browserRTPStats
	if err := pub.call(ctx, "publisherStats", nil, &stats); err != nil {
		t.Fatal(err)
	}
	v := stats["video"]
	if !strings.EqualFold(v.MimeType, "video/H264") {
		t.Errorf("the browser sends video as %q, want video/H264", v.MimeType)
	}
	if a := stats["audio"]; !strings.EqualFold(a.MimeType, "audio/opus") {
		t.Errorf("the browser sends audio as %q, want audio/opus", a.MimeType)
	}
	t.Logf("browser outbound video: %s %dx%d by %s, %d frames, %d keyframes, %d PLIs received",
		v.MimeType, v.FrameWidth, v.FrameHeight, v.EncoderImplementation, v.FramesEncoded, v.KeyFramesEncoded, v.PLICount)

	var status int
	if err := pub.call(ctx, "unpublish", nil, &status); err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK {
		t.Errorf("WHIP DELETE: status %d, want 200", status)
	}
}

// testBrowserPlayerPage: the side-by-side page at /compare plays the demo
// stream in two of the viewers' players, one held to WebRTC (with sound) and
// one to LL-HLS, each showing its latency from capture.
func testBrowserPlayerPage(t *testing.T, br *browser) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := startGateway(t, withDemo())
	p := br.open(t, ctx, g.base+"/compare")
	inFrame := func(frame, fn string, arg, out any) {
		t.Helper()
		if err := p.call(ctx, "inFrame", map[string]any{"selector": frame, "fn": fn, "arg": arg}, out); err != nil {
			t.Fatalf("%s: %v", frame, err)
		}
	}

	var plays [2]playerPlays
	for i, side := range []struct{ frame, tier string }{{"#webrtc-player", "webrtc"}, {"#hls-player", "hls"}} {
		inFrame(side.frame, "playerPlays", map[string]any{"tier": side.tier, "frames": 10, "timeoutMs": 10000}, &plays[i])
		if r := plays[i]; r.Width == 0 || r.Height == 0 || r.Player.Tier != side.tier {
			t.Errorf("%s: %+v, want %s playing with a picture", side.frame, r, side.tier)
		}
	}
	// The demo's audio is a 1 kHz sine: energy above zero means sound was
	// decoded and played out, not concealment or silence. The player starts
	// muted (autoplay), and Chromium measures the energy after the element's
	// volume, so unmute first as a viewer would.
	inFrame("#webrtc-player", "click", map[string]any{"selector": "#unmute"}, nil)
	var stats map[string]browserRTPStats
	inFrame("#webrtc-player", "receiverStats", nil, &stats)
	v, a := stats["video"], stats["audio"]
	if !strings.EqualFold(v.MimeType, "video/H264") || !strings.EqualFold(a.MimeType, "audio/opus") {
		t.Errorf("WHEP codecs %q and %q, want video/H264 and audio/opus", v.MimeType, a.MimeType)
	}

	// Each side's latency from capture on the gateway's clock: on loopback
	// WebRTC is tens of milliseconds, LL-HLS a few parts.
	var w, h playerState
	inFrame("#webrtc-player", "playerWaits", map[string]any{"want": map[string]any{"latencySource": "capture"}}, &w)
	// PROGRAM-DATE-TIME's capture -> playout needs the clock synced too.
	inFrame("#hls-player", "playerWaits", map[string]any{"want": map[string]any{"latencySource": "hls.js", "has": "captureToPlayoutMs"}}, &h)
	t.Logf("side by side: WebRTC %.0f ms from capture (video %d packets, %d lost; audio energy %.3g, %d of %d samples concealed); LL-HLS %.0f ms from capture, hls.js latency %.0f ms",
		deref(w.LatencyMs), v.PacketsReceived, v.PacketsLost, a.TotalAudioEnergy, a.ConcealedSamples, a.TotalSamplesReceived,
		deref(h.CaptureToPlayoutMs), deref(h.LatencyMs))
	t.Logf("side-by-side screenshot: %s", screenshot(t, ctx, p, "compare.png"))
	if wl, hl := deref(w.LatencyMs), deref(h.CaptureToPlayoutMs); wl < 0 || wl > 500 || hl < 0 || wl >= hl {
		t.Errorf("latency from capture: WebRTC %.0f ms, LL-HLS %.0f ms; want WebRTC 0-500 ms, below LL-HLS", wl, hl)
	}
	// The LL-HLS side's latency, measured by the harness itself every
	// 250 ms: Date.now() - hls.playingDate (PROGRAM-DATE-TIME, on the
	// gateway's clock: the same machine). The player joins behind the live
	// edge and catches up at up to 1.5x (1.4 s to 0.6 s takes 1.6 s), so
	// only the last compareSteady of compareRun counts. README claims 0.6 s
	// (TestPlayerLLHLSLatency, without -race, after a 5 s catch-up); here,
	// under -race beside a WebRTC player, the median may be up to one part
	// (200 ms) above it, the excursion TestPlayerLLHLSLatency allows.
	// Measured over 12 runs: medians 610-624 ms; one run, on a machine
	// loaded 9 deep, stalled (a 1.4 s frame gap; hls.js raised its target
	// to 1.1 s) and failed.
	var run latencyRun
	const every = 250 * time.Millisecond
	inFrame("#hls-player", "hlsLatency", map[string]any{"durationMs": compareRun.Milliseconds(), "sampleMs": every.Milliseconds()}, &run)
	n := int(compareSteady / every)
	if len(run.PDTLatencyMs) < n {
		t.Fatalf("LL-HLS: %d PROGRAM-DATE-TIME latency samples in %v, want at least %d", len(run.PDTLatencyMs), compareRun, n)
	}
	steady := run.PDTLatencyMs[len(run.PDTLatencyMs)-n:]
	med := percentile(steady, 50)
	t.Logf("LL-HLS latency from capture by the harness, every %v for %v: %.0f ms; the last %v: median %.0f ms (hls.js target %.0f ms, %d waiting events, longest frame gap %.0f ms)",
		every, compareRun, run.PDTLatencyMs, compareSteady, med, run.TargetLatencyMs, run.Waiting, run.MaxFrameGapMs)
	if limit := float64((latencyMax + partTarget).Milliseconds()); med > limit {
		t.Errorf("LL-HLS latency from capture: median %.0f ms, want at most %.0f ms (README's 0.6 s and one part; hls.js target %.0f ms, %d waiting events)",
			med, limit, run.TargetLatencyMs, run.Waiting)
	}
	// The figure on screen (refreshed once a second) is one the harness
	// measured meanwhile, give or take compareAgree.
	inFrame("#hls-player", "playerState", nil, &h)
	lo, hi := percentile(steady, 0)-compareAgree, percentile(steady, 100)+compareAgree
	if on := deref(h.CaptureToPlayoutMs); on < lo || on > hi {
		t.Errorf("LL-HLS latency from capture on screen %.0f ms, the harness measured %.0f-%.0f ms meanwhile: want it within %.0f ms of that",
			on, lo+compareAgree, hi-compareAgree, compareAgree)
	}
}

const (
	compareRun    = 4 * time.Second // the LL-HLS latency measured this long
	compareSteady = 2 * time.Second // the end of compareRun, after the catch-up
	compareAgree  = 50.0            // ms between the player's figure and the harness's
)

// BenchmarkBrowserWHEPFirstFrame measures, per Chromium WHEP viewer, the time
// from its POST to the first video frame the page presents
// (requestVideoFrameCallback), and to ICE+DTLS connected. Each try is a
// fresh peer connection and video element in one viewer tab, joining at a
// random point of the GOP as real viewers do. Two publishers: "chromium", a
// second tab publishing over WHIP whose encoder answers the viewer's
// keyframe request at once, and "file", the demo stream (a file that
// answers by rewinding to its current GOP's keyframe, as an encoder would).
// Run: go test ./e2e -run '^$' -bench BrowserWHEP -benchtime=20x
func BenchmarkBrowserWHEPFirstFrame(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	br := startBrowser(b)
	g := startGateway(b, withDemo())
	publishFromBrowser(b, ctx, br, g, "browser")
	viewer := br.open(b, ctx, g.base+"/healthz")
	for _, tc := range []struct{ name, stream string }{
		{"publisher=chromium", "browser"},
		{"publisher=file", app.DemoStream},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var first, connected, gather []time.Duration
			ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
			for b.Loop() {
				b.StopTimer()
				time.Sleep(rand.N(time.Second)) // a random join phase, not synchronisation
				b.StartTimer()
				var r browserFirstFrame
				if err := viewer.call(ctx, "whepFirstFrame", map[string]any{"url": g.base + "/whep/" + tc.stream}, &r); err != nil {
					b.Fatal(err)
				}
				first = append(first, ms(r.FirstFrameMs))
				connected = append(connected, ms(r.ConnectedMs))
				gather = append(gather, ms(r.GatherMs))
			}
			b.StopTimer()
			sorted := slices.Sorted(slices.Values(first))
			b.Logf("%s first frames, sorted: %v", tc.stream, sorted)
			reportDurations(b, "first-frame", first)
			reportDurations(b, "connected", connected)
			reportDurations(b, "ice-gathering", gather)
		})
	}
}
