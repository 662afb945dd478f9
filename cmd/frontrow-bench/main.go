// Command frontrow-bench is the load benchmark behind `make bench`: it runs
// the gateway binary as a child process on loopback, publishes the bench
// stream into it over WHIP, steps WHEP viewers up, measures the LL-HLS
// origin and the per-stream costs, prints one report and writes it into
// BENCHMARKS.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command's flags.
type options struct {
	gateway     string
	steps       []int
	hold        time.Duration
	probes      int
	hlsClients  []int
	hlsDuration time.Duration
	costMedia   time.Duration
	out         string
	only        map[string]bool
	cpuprofile  string
	command     string
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("frontrow-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var steps, hlsClients, only string
	fs.StringVar(&o.gateway, "gateway", "bin/frontrow", "the gateway `binary` to run and measure")
	fs.StringVar(&steps, "steps", "50,200,500,1000,1500", "WebRTC viewer counts, rising")
	fs.DurationVar(&o.hold, "hold", 15*time.Second, "how long each viewer step is measured")
	fs.IntVar(&o.probes, "probes", 20, "viewers joined at each step's load to time the first frame")
	fs.StringVar(&hlsClients, "hls-clients", "100,1000", "blocked LL-HLS client counts")
	fs.DurationVar(&o.hlsDuration, "hls-duration", 10*time.Second, "how long each LL-HLS level is measured")
	fs.DurationVar(&o.costMedia, "cost-media", 30*time.Second, "media time fed to the packager and transcoders for their cost")
	fs.StringVar(&o.out, "out", "BENCHMARKS.md", "Markdown `file` the report is written into (empty: print only)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "save profiles as `prefix`-N.pprof: the gateway's CPU during each fan-out step's hold (N viewers) and its heap at the hold's start (prefix-N.heap), and this process (gateway and clients) during each LL-HLS level (prefix-hls-M.pprof)")
	fs.StringVar(&only, "only", "fanout,hls,cost", "which parts to run")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	var err error
	if o.steps, err = parseInts(steps); err != nil {
		return o, fmt.Errorf("-steps: %w", err)
	}
	if o.hlsClients, err = parseInts(hlsClients); err != nil {
		return o, fmt.Errorf("-hls-clients: %w", err)
	}
	o.only = map[string]bool{}
	for _, p := range strings.Split(only, ",") {
		switch p = strings.TrimSpace(p); p {
		case "fanout", "hls", "cost":
			o.only[p] = true
		case "":
		default:
			return o, fmt.Errorf("-only: unknown part %q (fanout, hls, cost)", p)
		}
	}
	o.command = "frontrow-bench " + strings.Join(args, " ")
	return o, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive count", f)
		}
		if len(out) > 0 && n <= out[len(out)-1] {
			return nil, fmt.Errorf("%d after %d: counts must rise", n, out[len(out)-1])
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "frontrow-bench: %v\n", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rep, err := benchmark(ctx, o, log)
	if err != nil {
		fmt.Fprintf(stderr, "frontrow-bench: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, rep.Text())
	if o.out != "" {
		if err := reportUpdate(o.out, rep); err != nil {
			fmt.Fprintf(stderr, "frontrow-bench: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "\nwritten to %s\n", o.out)
	}
	return 0
}
