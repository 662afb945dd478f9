package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/app"
)

// gatewayProcessEnv makes the test binary a gateway for BenchmarkViewers.
const gatewayProcessEnv = "LOADGEN_GATEWAY_PROCESS"

// TestGatewayProcess is BenchmarkViewers' gateway, run in a child process
// so that the benchmark's getrusage counts the viewers alone. It prints
// its URL and serves until its stdin closes.
func TestGatewayProcess(t *testing.T) {
	if os.Getenv(gatewayProcessEnv) != "1" {
		t.Skip("the gateway process of BenchmarkViewers")
	}
	// A load generator comes from one address: lift the per-address limits.
	_, base := startGateway(t, func(c *app.Config) {
		c.Limits = app.Limits{SessionsPerIP: 5000, ViewersPerStream: 5000, Viewers: 5000, PostRate: 1000, PostBurst: 5000}
	})
	fmt.Printf("loadgen-gateway %s\n", base)
	if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
		t.Errorf("stdin: %v", err)
	}
}

// gatewayProcess starts TestGatewayProcess in a child and returns its base
// URL; the child is stopped when the benchmark ends.
func gatewayProcess(tb testing.TB) string {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestGatewayProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), gatewayProcessEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	addr := make(chan string, 1)
	drained := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "loadgen-gateway "); ok {
				addr <- u
			}
		}
		drained <- sc.Err()
	}()
	tb.Cleanup(func() {
		if err := stdin.Close(); err != nil {
			tb.Errorf("gateway stdin: %v", err)
		}
		// Wait closes stdout: read it to its end (the child's exit) first.
		exited := make(chan [2]error, 1)
		go func() {
			rerr := <-drained
			exited <- [2]error{rerr, cmd.Wait()}
		}()
		var errs [2]error
		select {
		case errs = <-exited:
		case <-time.After(20 * time.Second):
			tb.Errorf("gateway process did not stop within 20 s; killing it")
			if err := cmd.Process.Kill(); err != nil {
				tb.Errorf("kill gateway: %v", err)
			}
			errs = <-exited
		}
		if errs[0] != nil {
			tb.Errorf("gateway stdout: %v", errs[0])
		}
		if errs[1] != nil {
			tb.Errorf("gateway process: %v", errs[1])
		}
	})
	select {
	case u := <-addr:
		return u
	case <-time.After(20 * time.Second):
		tb.Fatal("gateway process did not start within 20 s")
		return ""
	}
}

// BenchmarkViewers measures what a viewer costs the load generator: CPU
// (getrusage of this process, the gateway runs in a child) and heap per
// viewer, with LOADGEN_VIEWERS (default 100) viewers of the demo stream
// and Config.ReadInterval LOADGEN_READ_INTERVAL (default 0: 100 ms), each
// draining its own socket or, with LOADGEN_DRAINER=1, all on one Drainer;
// LOADGEN_CPUPROFILE names a file for a CPU profile of the measured
// seconds alone. Each iteration is one second of watching:
//
//	go test -run '^$' -bench Viewers -benchtime 5x ./bench/loadgen
func BenchmarkViewers(b *testing.B) {
	n := 100
	if s := os.Getenv("LOADGEN_VIEWERS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("LOADGEN_VIEWERS=%q: want a positive number", s)
		}
	}
	var interval time.Duration
	if s := os.Getenv("LOADGEN_READ_INTERVAL"); s != "" {
		var err error
		if interval, err = time.ParseDuration(s); err != nil {
			b.Fatalf("LOADGEN_READ_INTERVAL=%q: %v", s, err)
		}
	}
	var drainer *Drainer
	if os.Getenv("LOADGEN_DRAINER") == "1" {
		drainer = NewDrainer(interval)
	}
	base := gatewayProcess(b)
	cert, err := NewCertificate()
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var before runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	viewers := dialAll(ctx, b, n, 16, Config{URL: base + "/whep/demo", HTTPClient: client, Certificate: cert, ReadInterval: interval, Drainer: drainer})
	for i, v := range viewers {
		select {
		case <-v.FirstFrame():
		case <-ctx.Done():
			b.Fatalf("viewer %d: no first frame: %+v", i, v.Stats())
		}
	}
	s0, t0 := sum(viewers), time.Now()
	cpu0, err := processCPU()
	if err != nil {
		b.Fatal(err)
	}
	if f := os.Getenv("LOADGEN_CPUPROFILE"); f != "" {
		w, err := os.Create(f)
		if err != nil {
			b.Fatal(err)
		}
		if err := pprof.StartCPUProfile(w); err != nil {
			b.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			if err := w.Close(); err != nil {
				b.Error(err)
			}
		}()
	}
	for b.Loop() {
		time.Sleep(time.Second) // a measurement window, not synchronisation
	}
	cpu1, err := processCPU()
	if err != nil {
		b.Fatal(err)
	}
	s1, secs := sum(viewers), time.Since(t0).Seconds()
	var after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&after)

	perViewer := func(x float64) float64 { return x / float64(n) }
	mcpu := perViewer((cpu1 - cpu0).Seconds() / secs * 1000)
	b.ReportMetric(mcpu, "mCPU/viewer")
	b.ReportMetric(perViewer(float64(s1.Packets-s0.Packets)/secs), "pkt/s/viewer")
	b.ReportMetric(perViewer(float64(s1.Bytes-s0.Bytes)*8/1000/secs), "kbit/s/viewer")
	b.ReportMetric(perViewer(float64(after.HeapInuse)-float64(before.HeapInuse))/1024, "heapKiB/viewer")
	b.ReportMetric(float64(s1.Lost), "lost")
	b.ReportMetric(perViewer(float64(s1.Trains-s0.Trains)/secs), "trains/s/viewer")
	b.Logf("%d viewers for %.1f s: %.3f mCPU each (%.1f%% of one core in all), %d packets (%d GRO trains), %d lost, %d goroutines",
		n, secs, mcpu, mcpu*float64(n)/10, s1.Packets-s0.Packets, s1.Trains-s0.Trains, s1.Lost, runtime.NumGoroutine())
}
