package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// benchToken is the bench stream's publish token: the gateway runs with
// auth on, as in production.
const benchToken = "bench-publish-token"

// gatewayProc is the gateway under test, a child process on loopback with
// limits raised past the load.
type gatewayProc struct {
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:PORT
	admin   string // http://127.0.0.1:PORT of pprof
	logPath string
	done    chan error
}

// startAttempts bounds the tries at starting the gateway: its ports are
// picked free and then released, so another process (tests of other
// packages run beside the benchmark's own) may take one in between.
const startAttempts = 3

// startGateway runs the frontrow binary with a benchmark config in dir,
// on other ports if one it was given turned out taken.
func startGateway(ctx context.Context, binary, dir string) (*gatewayProc, error) {
	for attempt := 1; ; attempt++ {
		g, err := startGatewayOnce(ctx, binary, dir)
		if err == nil || attempt == startAttempts || !errors.Is(err, errPortTaken) {
			return g, err
		}
	}
}

// errPortTaken is a gateway that exited at start because a port it was
// given was taken meanwhile.
var errPortTaken = errors.New("a port was taken")

// startGatewayOnce is one try of startGateway.
func startGatewayOnce(ctx context.Context, binary, dir string) (*gatewayProc, error) {
	httpPort, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	udpPort, err := freePort("udp")
	if err != nil {
		return nil, err
	}
	adminPort, err := freePort("tcp")
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`http:
  addr: "127.0.0.1:%d"
rtmp:
  addr: "127.0.0.1:0"
webrtc:
  udp_addr: "127.0.0.1:%d"
  tcp_addr: "127.0.0.1:0"
  hosts: ["127.0.0.1"]
auth:
  publish_token: %q
limits:
  sessions_per_ip: 100000
  viewers_per_stream: 100000
  viewers: 100000
  post_rate: 100000
  post_burst: 100000
  hls_blocking: 100000
admin:
  addr: "127.0.0.1:%d"
data:
  dir: %q
demo:
  enabled: false
log:
  level: warn
`, httpPort, udpPort, benchToken, adminPort, filepath.Join(dir, "data"))
	cfgPath := filepath.Join(dir, "frontrow.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	logPath := filepath.Join(dir, "gateway.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("gateway log: %w", err)
	}
	cmd := exec.Command(binary, "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start gateway %s: %w", binary, err)
	}
	g := &gatewayProc{cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", httpPort), admin: fmt.Sprintf("http://127.0.0.1:%d", adminPort),
		logPath: logPath, done: make(chan error, 1)}
	go func() {
		g.done <- cmd.Wait()
		_ = logFile.Close()
	}()
	if err := g.waitReady(ctx); err != nil {
		_ = g.stop()
		return nil, err
	}
	return g, nil
}

func (g *gatewayProc) pid() int { return g.cmd.Process.Pid }

// waitReady polls /readyz until the gateway takes streams (20 s at most).
func (g *gatewayProc) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/readyz", nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-g.done:
			g.done <- err
			log, _ := os.ReadFile(g.logPath)
			if bytes.Contains(log, []byte("address already in use")) {
				err = fmt.Errorf("%w: %v", errPortTaken, err)
			}
			return fmt.Errorf("gateway exited while starting (%w): %s", err, tail(log, 2000))
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("gateway not ready in 20 s; see %s", g.logPath)
		}
	}
}

// stop sends SIGTERM and waits for a clean exit (15 s, then SIGKILL).
func (g *gatewayProc) stop() error {
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop gateway: %w", err)
	}
	select {
	case err := <-g.done:
		if err != nil {
			return fmt.Errorf("gateway exit: %w (see %s)", err, g.logPath)
		}
		return nil
	case <-time.After(15 * time.Second):
		_ = g.cmd.Process.Kill()
		<-g.done
		return fmt.Errorf("gateway did not stop within 15 s of SIGTERM; killed (see %s)", g.logPath)
	}
}

// freePort asks the kernel for a free loopback port.
func freePort(network string) (int, error) {
	if network == "udp" {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("free udp port: %w", err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free tcp port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// profile saves a CPU profile of the gateway taken over d.
func (g *gatewayProc) profile(ctx context.Context, d time.Duration, path string) error {
	return g.pprof(ctx, fmt.Sprintf("profile?seconds=%d", max(1, int(d.Seconds()))), path)
}

// heapProfile saves the gateway's heap profile (live objects as of the
// last GC, after one forced) to path.
func (g *gatewayProc) heapProfile(ctx context.Context, path string) error {
	return g.pprof(ctx, "heap?gc=1", path)
}

// pprof saves the gateway's /debug/pprof/ endpoint what to path.
func (g *gatewayProc) pprof(ctx context.Context, what, path string) error {
	url := g.admin + "/debug/pprof/" + what
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("profile: %w", err)
	}
	return f.Close()
}

// tail is the end of a log, for an error message.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
