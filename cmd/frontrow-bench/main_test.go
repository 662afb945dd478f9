package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{"defaults", nil, true},
		{"steps", []string{"-steps", "10,20"}, true},
		{"steps must rise", []string{"-steps", "20,10"}, false},
		{"steps must be counts", []string{"-steps", "10,x"}, false},
		{"zero", []string{"-hls-clients", "0"}, false},
		{"unknown part", []string{"-only", "fanout,video"}, false},
		{"unknown flag", []string{"-viewers", "10"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags(tc.args, &bytes.Buffer{})
			if (err == nil) != tc.ok {
				t.Errorf("parseFlags(%q) = %v, want ok %v", tc.args, err, tc.ok)
			}
		})
	}
}

// TestBenchTiny runs the whole benchmark once at a tiny size against the
// real gateway binary: every part must produce its table, with figures a
// broken measurement would not give.
func TestBenchTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the gateway and runs it: not in -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "frontrow")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/frontrow-live/frontrow/cmd/frontrow")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build gateway: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "BENCHMARKS.md")
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-gateway", bin, "-steps", "2,4", "-hold", "1s", "-probes", "2",
		"-hls-clients", "5", "-hls-duration", "1s", "-cost-media", "2s", "-out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	md := string(b)
	for _, want := range []string{"### WebRTC fan-out", "| 4 | yes |", "### LL-HLS origin", "| 5 |", "### Cost per stream",
		"audio transcoder opus-to-aac", "cores", "-steps 2,4"} {
		if !strings.Contains(md, want) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(stdout.String(), "written to "+out) {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}
