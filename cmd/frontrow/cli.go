package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/spf13/pflag"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

// Exit codes of run.
const (
	exitOK    = 0
	exitError = 1 // invalid configuration, or serve failed
	exitUsage = 2 // unknown command, bad flag, stray argument
	// exitForced: a second signal cut the graceful shutdown short.
	exitForced = 3
)

// serveFunc runs the gateway with a valid Config until ctx ends (nil error on a clean
// shutdown). main passes the real one; tests pass a fake.
type serveFunc func(ctx context.Context, cfg Config, log *slog.Logger) error

const usage = `frontrow: a WebRTC (WHIP/WHEP) and LL-HLS live gateway

Usage:
  frontrow serve [--config FILE] [flags]   run the gateway
  frontrow version                         print the version
  frontrow help [serve]                    print this help, or serve's flags

Configuration, each layer overriding the one before:
  defaults < YAML file (--config FILE, or $FRONTROW_CONFIG) < FRONTROW_* environment < flags
A key such as hls.part_target is FRONTROW_HLS_PART_TARGET in the environment and
--hls-part-target as a flag. See configs/frontrow.yaml for every key.
`

// run is the whole command line: it dispatches args (without the program name) to a
// subcommand and returns the process exit code. environ is os.Environ() in main.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer, serve serveFunc) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, environ, stdout, stderr, serve)
	case "version", "--version":
		if len(rest) > 0 {
			return usageError(stderr, "version takes no arguments")
		}
		fmt.Fprintf(stdout, "frontrow %s\n", version)
		return exitOK
	case "help", "-h", "--help":
		switch {
		case len(rest) == 0:
			fmt.Fprint(stdout, usage)
		case len(rest) == 1 && rest[0] == "serve":
			printServeUsage(stdout, newServeFlags())
		default:
			return usageError(stderr, fmt.Sprintf("no help for %q", rest))
		}
		return exitOK
	default:
		return usageError(stderr, fmt.Sprintf("unknown command %q", cmd))
	}
}

func usageError(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "frontrow: %s\n\n%s", msg, usage)
	return exitUsage
}

// newServeFlags is serve's flag set: --config and one flag per scalar config key.
// Parse errors are returned, never printed or exited on.
func newServeFlags() *pflag.FlagSet {
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	fs.SortFlags = false
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	addConfigFlags(fs)
	return fs
}

func printServeUsage(w io.Writer, fs *pflag.FlagSet) {
	fmt.Fprintf(w, `Usage: frontrow serve [--config FILE] [flags]

Runs the gateway. Flags override FRONTROW_* variables, which override the config file.
The auth.* secrets, auth.streams and webrtc.ice_servers have no flag: set them in the file
or environment. SIGTERM or SIGINT shuts down gracefully within --shutdown-timeout; a second
one exits at once.

Flags:
%s`, fs.FlagUsages())
}

func runServe(ctx context.Context, args, environ []string, stdout, stderr io.Writer, serve serveFunc) int {
	fs := newServeFlags()
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			printServeUsage(stdout, fs)
			return exitOK
		}
		fmt.Fprintf(stderr, "frontrow serve: %v\nRun 'frontrow help serve' for the flags.\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "frontrow serve: unexpected argument %q\nRun 'frontrow help serve' for the flags.\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := loadConfig(fs, environ)
	if err != nil {
		fmt.Fprintf(stderr, "frontrow: %v\n", err)
		return exitError
	}
	log := newLogger(cfg.Log, stderr)
	if err := serve(ctx, cfg, log); err != nil {
		log.Error("frontrow stopped", "err", err)
		return exitError
	}
	return exitOK
}

// newLogger builds the process logger from a validated LogConfig.
func newLogger(c LogConfig, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
