package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/app"
)

// buildRace is set when the tests run under -race (shutdown_race_test.go).
var buildRace bool

// buildFrontrow builds the real binary into dir, with the test build's
// -race setting so the build cache has every package already.
func buildFrontrow(t *testing.T, dir string) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(dir, "frontrow")
	args := []string{"build", "-o", bin}
	if buildRace {
		args = append(args, "-race")
	}
	cmd := exec.Command(goBin, append(args, "../cmd/frontrow")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// process is the frontrow binary running with a config on loopback ports.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when it exited
	err  error         // its exit status, once done

	mu    sync.Mutex
	lines []map[string]any // JSON log lines so far
	raw   strings.Builder  // stderr as written
	addrs chan map[string]any
}

// startFrontrow runs bin with a config whose shutdown.timeout is timeout,
// and waits until it listens.
func startFrontrow(t *testing.T, ctx context.Context, bin string, timeout time.Duration) *process {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`
http: {addr: "127.0.0.1:0"}
rtmp: {addr: "127.0.0.1:0"}
webrtc: {udp_addr: "127.0.0.1:0", tcp_addr: "127.0.0.1:0", hosts: [127.0.0.1]}
auth: {admin_token: %s}
admin: {addr: "127.0.0.1:0"}
shutdown: {timeout: %s}
demo: {enabled: true}
data: {dir: %q}
log: {level: info, format: json}
`, testAdminToken, timeout, filepath.Join(dir, "data"))
	path := filepath.Join(dir, "frontrow.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: exec.Command(bin, "serve", "--config", path), done: make(chan struct{}), addrs: make(chan map[string]any, 1)}
	// A race build reports a data race with exit code 66; it need not
	// sleep a second before exiting.
	p.cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go p.readLog(stderr)
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("frontrow's log:\n%s", p.log())
		}
	})
	return p
}

// readLog collects the JSON log lines; the "listening" one gives the addresses.
func (p *process) readLog(r io.Reader) {
	defer func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var line map[string]any
		_ = json.Unmarshal(sc.Bytes(), &line)
		p.mu.Lock()
		p.raw.WriteString(sc.Text() + "\n")
		p.lines = append(p.lines, line)
		p.mu.Unlock()
		if line["msg"] == "listening" {
			p.addrs <- line
		}
	}
}

func (p *process) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.raw.String()
}

// listening waits for the addresses the process listens on.
func (p *process) listening(t *testing.T, ctx context.Context) (httpAddr, adminAddr string) {
	t.Helper()
	select {
	case l := <-p.addrs:
		h, _ := l["http"].(string)
		a, _ := l["admin"].(string)
		return h, a
	case <-p.done:
		t.Fatalf("frontrow exited before listening: %v\n%s", p.err, p.log())
	case <-ctx.Done():
		t.Fatalf("frontrow not listening: %v\n%s", ctx.Err(), p.log())
	}
	return "", ""
}

func (p *process) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// exit waits up to d for the process to exit and returns its exit code.
func (p *process) exit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("frontrow still running %v later\n%s", d, p.log())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatalf("wait: %v", p.err)
	}
	return 0
}

// apiStream reads a stream's status from the distribution API.
func apiStream(ctx context.Context, base, name string) (live bool, hlsWaiting int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/streams/"+name, nil)
	if err != nil {
		return false, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+testAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, 0, err
	}
	defer resp.Body.Close()
	var st struct {
		Live    bool `json:"live"`
		Viewers struct {
			HLS int `json:"hls"`
		} `json:"viewers"`
	}
	if resp.StatusCode != http.StatusOK {
		return false, 0, nil
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st.Live, st.Viewers.HLS, err
}

// pollAPI polls a stream's status until cond holds.
func pollAPI(ctx context.Context, base, name, what string, cond func(live bool, hlsWaiting int) bool) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if live, n, err := apiStream(ctx, base, name); err == nil && cond(live, n) {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("stream %s: %s: %w", name, what, ctx.Err())
		}
	}
}

// SIGTERM to the real binary during a live stream with a WebRTC viewer and
// a blocked LL-HLS request: the request gets the playlist with
// EXT-X-ENDLIST, the viewer's connection is closed (DTLS close_notify, not
// a timeout), and the process exits 0 within shutdown.timeout. A second
// signal during a slow shutdown exits at once with code 3; a request still
// running at shutdown.timeout is cut and the exit code is 1.
func TestShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildFrontrow(t, t.TempDir())

	t.Run("graceful", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		const timeout = 10 * time.Second
		p := startFrontrow(t, ctx, bin, timeout)
		httpAddr, _ := p.listening(t, ctx)
		base := "http://" + httpAddr
		if err := pollAPI(ctx, base, "demo", "live", func(live bool, _ int) bool { return live }); err != nil {
			t.Fatal(err)
		}

		// A WebRTC viewer, receiving.
		v := newWHEPClient(t, clientAPI(t))
		connected, closed := make(chan struct{}), make(chan webrtc.PeerConnectionState, 1)
		var once sync.Once
		v.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			switch s {
			case webrtc.PeerConnectionStateConnected:
				once.Do(func() { close(connected) })
			case webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateDisconnected:
				select {
				case closed <- s:
				default:
				}
			}
		})
		if err := v.play(ctx, base, "demo"); err != nil {
			t.Fatal(err)
		}
		select {
		case <-v.got.keyReady:
		case <-ctx.Done():
			t.Fatal("the viewer got no keyframe")
		}
		<-connected

		// An LL-HLS request blocked on a segment seconds away.
		pl, err := fetchPlaylist(ctx, base+"/hls/demo/video.m3u8")
		if err != nil {
			t.Fatal(err)
		}
		msn, _ := nextPart(pl)
		type answer struct {
			status int
			body   string
			err    error
		}
		blocked := make(chan answer, 1)
		go func() {
			resp, err := http.Get(fmt.Sprintf("%s/hls/demo/video.m3u8?_HLS_msn=%d", base, msn+2))
			if err != nil {
				blocked <- answer{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			blocked <- answer{status: resp.StatusCode, body: string(b), err: err}
		}()
		if err := pollAPI(ctx, base, "demo", "a blocked playlist request", func(_ bool, n int) bool { return n >= 1 }); err != nil {
			t.Fatal(err)
		}

		start := time.Now()
		p.signal(t, syscall.SIGTERM)
		select {
		case a := <-blocked:
			switch {
			case a.err != nil:
				t.Errorf("blocked playlist request: %v", a.err)
			case a.status != http.StatusOK || !strings.Contains(a.body, "#EXT-X-ENDLIST"):
				t.Errorf("blocked playlist request: status %d, want 200 ending with EXT-X-ENDLIST:\n%s", a.status, a.body)
			}
		case <-ctx.Done():
			t.Fatal("the blocked playlist request got no answer")
		}
		select {
		case s := <-closed:
			if s != webrtc.PeerConnectionStateClosed {
				t.Errorf("viewer's connection went %s; want closed by the gateway", s)
			}
		case <-ctx.Done():
			t.Fatal("the viewer's connection was not closed")
		}
		if code := p.exit(t, timeout+2*time.Second); code != 0 {
			t.Fatalf("exit code %d after SIGTERM, want 0\n%s", code, p.log())
		}
		took := time.Since(start)
		if took > timeout {
			t.Errorf("shutdown took %v, over shutdown.timeout %v", took, timeout)
		}
		t.Logf("shut down in %v", took.Round(time.Millisecond))
		if !strings.Contains(p.log(), `"msg":"stopped"`) {
			t.Errorf("no \"stopped\" log line:\n%s", p.log())
		}
	})

	t.Run("second signal", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p := startFrontrow(t, ctx, bin, 5*time.Minute)
		httpAddr, adminAddr := p.listening(t, ctx)

		holdShutdown(t, httpAddr)

		p.signal(t, syscall.SIGTERM)
		// The admin address answers to the end: /readyz turns 503.
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			resp, err := http.Get("http://" + adminAddr + "/readyz")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "" {
					break
				}
			}
			select {
			case <-tick.C:
			case <-p.done:
				t.Fatalf("frontrow exited during a shutdown held by a request\n%s", p.log())
			case <-ctx.Done():
				t.Fatalf("/readyz never said 503 while shutting down\n%s", p.log())
			}
		}

		start := time.Now()
		p.signal(t, syscall.SIGTERM)
		code := p.exit(t, 2*time.Second)
		if code != exitSecondSignal {
			t.Fatalf("exit code %d after a second signal; README says %d\n%s", code, exitSecondSignal, p.log())
		}
		t.Logf("second signal: exit code %d after %v", code, time.Since(start).Round(time.Millisecond))
		if !strings.Contains(p.log(), "second signal") {
			t.Errorf("no word of the second signal on stderr:\n%s", p.log())
		}
	})

	t.Run("cut at the timeout", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		const timeout = 2 * time.Second
		p := startFrontrow(t, ctx, bin, timeout)
		httpAddr, _ := p.listening(t, ctx)
		holdShutdown(t, httpAddr)

		start := time.Now()
		p.signal(t, syscall.SIGTERM)
		code := p.exit(t, timeout+cutSlack+time.Second)
		took := time.Since(start)
		if code != exitCut {
			t.Fatalf("exit code %d after a shutdown held past shutdown.timeout; README says %d\n%s", code, exitCut, p.log())
		}
		// The deadline starts when the process takes the signal, after
		// start: it cannot have cut earlier.
		if took < timeout || took > timeout+cutSlack {
			t.Errorf("exited %v after SIGTERM; want at shutdown.timeout %v (within %v after it)", took, timeout, cutSlack)
		}
		t.Logf("cut: exit code %d after %v", code, took.Round(time.Millisecond))
		// The gateway's own cut, not serve's fallback a moment later.
		if !strings.Contains(p.log(), "requests still in flight after shutdown.timeout") {
			t.Errorf("no word of the requests cut at the timeout:\n%s", p.log())
		}
	})
}

// The exit codes README's Shutdown section promises.
const (
	exitCut          = 1 // requests still running at shutdown.timeout were cut
	exitSecondSignal = 3 // a second signal exits at once
	// cutSlack bounds how long after shutdown.timeout the process may take
	// to exit once it cut the held requests (closing ports; a -race build
	// on a loaded machine). It is under serve's own fallback (2 s).
	cutSlack = 1500 * time.Millisecond
)

// holdShutdown opens a request whose body never comes, which holds the
// HTTP server's shutdown: "100 Continue" says the handler is reading it.
func holdShutdown(t *testing.T, httpAddr string) {
	t.Helper()
	c, err := net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(c, "POST /whip/slow HTTP/1.1\r\nHost: %s\r\nContent-Type: application/sdp\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n", httpAddr)
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(status, "100") {
		t.Fatalf("want 100 Continue, got %q (%v)", status, err)
	}
}

// pprof is on the admin address only; the probes are on both.
func TestAdminAddress(t *testing.T) {
	g := startGateway(t, func(c *app.Config) { c.AdminAddr = "127.0.0.1:0" })
	admin := "http://" + g.AdminAddr().String()
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(admin + "/debug/pprof/"); code != http.StatusOK || !strings.Contains(body, "goroutine") {
		t.Fatalf("admin /debug/pprof/: status %d, body %.80q", code, body)
	}
	if code, _ := get(g.base + "/debug/pprof/goroutine?debug=1"); code == http.StatusOK {
		t.Fatal("pprof is served on the public address")
	}
	for _, base := range []string{g.base, admin} {
		for _, path := range []string{"/healthz", "/readyz"} {
			if code, body := get(base + path); code != http.StatusOK {
				t.Errorf("%s%s: status %d (%s)", base, path, code, strings.TrimSpace(body))
			}
		}
	}
}
