package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		env        []string
		serveErr   error
		wantCode   int
		wantServe  bool   // serve was called
		wantStdout string // substring
		wantStderr string // substring
	}{
		{name: "version", args: []string{"version"}, wantCode: exitOK, wantStdout: "frontrow v9.9.9-test\n"},
		{name: "--version", args: []string{"--version"}, wantCode: exitOK, wantStdout: "frontrow v9.9.9-test\n"},
		{name: "version with argument", args: []string{"version", "x"}, wantCode: exitUsage, wantStderr: "version takes no arguments"},
		{name: "no arguments", wantCode: exitUsage, wantStderr: "Usage:\n  frontrow serve"},
		{name: "help", args: []string{"help"}, wantCode: exitOK, wantStdout: "Usage:\n  frontrow serve"},
		{name: "-h", args: []string{"-h"}, wantCode: exitOK, wantStdout: "Usage:\n  frontrow serve"},
		{name: "help serve", args: []string{"help", "serve"}, wantCode: exitOK, wantStdout: "--hls-part-target duration"},
		{name: "help unknown", args: []string{"help", "bogus"}, wantCode: exitUsage, wantStderr: `no help for ["bogus"]`},
		{name: "unknown command", args: []string{"bogus"}, wantCode: exitUsage, wantStderr: "frontrow: unknown command \"bogus\"\n\nfrontrow: a WebRTC"},
		{name: "serve -h", args: []string{"serve", "-h"}, wantCode: exitOK, wantStdout: "Usage: frontrow serve"},
		{name: "serve unknown flag", args: []string{"serve", "--bogus"}, wantCode: exitUsage, wantStderr: "frontrow serve: unknown flag: --bogus"},
		{name: "serve bad flag value", args: []string{"serve", "--hls-part-target=abc"}, wantCode: exitUsage, wantStderr: `invalid argument "abc" for "--hls-part-target" flag`},
		{name: "serve stray argument", args: []string{"serve", "extra"}, wantCode: exitUsage, wantStderr: `unexpected argument "extra"`},
		{
			name:       "serve invalid config",
			args:       []string{"serve"},
			env:        []string{"FRONTROW_HLS_PART_TARGET=abc"},
			wantCode:   exitError,
			wantStderr: "frontrow: config: hls.part_target: time: invalid duration \"abc\"\n",
		},
		{name: "serve", args: []string{"serve", "--http-addr=:0"}, wantCode: exitOK, wantServe: true},
		{
			name:       "serve fails",
			args:       []string{"serve"},
			serveErr:   errors.New("listen: boom"),
			wantCode:   exitError,
			wantServe:  true,
			wantStderr: "listen: boom",
		},
	}
	defer func(v string) { version = v }(version)
	version = "v9.9.9-test"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			served := false
			serve := func(ctx context.Context, cfg Config, log *slog.Logger) error {
				served = true
				return tt.serveErr
			}
			code := run(context.Background(), tt.args, tt.env, &stdout, &stderr, serve)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, &stdout, &stderr)
			}
			if served != tt.wantServe {
				t.Errorf("serve called: %v, want %v", served, tt.wantServe)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("stdout %q does not contain %q", &stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q does not contain %q", &stderr, tt.wantStderr)
			}
			if tt.wantStdout == "" && stdout.Len() > 0 {
				t.Errorf("unexpected stdout %q", &stdout)
			}
		})
	}
}

// TestRunServeConfig checks that serve gets the layered config and a logger at its level.
func TestRunServeConfig(t *testing.T) {
	path := writeConfig(t, "hls:\n  part_target: 100ms\nlog:\n  level: warn\n  format: json\n")
	var got Config
	var stderr bytes.Buffer
	serve := func(ctx context.Context, cfg Config, log *slog.Logger) error {
		got = cfg
		log.Info("hidden")
		log.Warn("shown")
		return nil
	}
	args := []string{"serve", "--config", path, "--http-addr=127.0.0.1:0"}
	env := []string{"FRONTROW_HLS_SEGMENT_TARGET=500ms"}
	if code := run(context.Background(), args, env, &bytes.Buffer{}, &stderr, serve); code != exitOK {
		t.Fatalf("exit code %d: %s", code, &stderr)
	}
	if got.HTTP.Addr != "127.0.0.1:0" || got.HLS.PartTarget != 100*time.Millisecond || got.HLS.SegmentTarget != 500*time.Millisecond || got.Demo.Enabled {
		t.Errorf("serve got %+v", got)
	}
	if log := stderr.String(); strings.Contains(log, "hidden") || !strings.Contains(log, `"msg":"shown"`) {
		t.Errorf("log at warn in json: %q", log)
	}
}
