package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/frontrow-live/frontrow/bench/cost"
	"github.com/frontrow-live/frontrow/bench/hlsload"
	"github.com/frontrow-live/frontrow/bench/report"
)

// benchHLS measures blocked LL-HLS clients at each count in o.hlsClients.
func benchHLS(ctx context.Context, o options, log *slog.Logger) (report.Table, error) {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) }
	t := report.Table{
		Title: "LL-HLS origin: M players blocked on the next part (demo stream, 200 ms parts), in-process gateway",
		Header: []string{"blocked clients", "parts", "answers", "skipped", "failed", "completion->last p50 ms", "completion->last p99 ms",
			"completion->median p50 ms", "last sample->served p50 ms", "last sample->served p99 ms", "parts served/s (64 clients)"},
	}
	for _, m := range o.hlsClients {
		res, err := runHLSLevel(ctx, o, m, log)
		if err != nil {
			return t, err
		}
		if res.Parts == 0 || res.Answers == 0 || res.ClientsAnswered != m {
			return t, fmt.Errorf("%d clients: %d parts, %d answers, %d clients answered: the measurement is broken",
				m, res.Parts, res.Answers, res.ClientsAnswered)
		}
		t.Rows = append(t.Rows, []string{
			strconv.Itoa(m), strconv.Itoa(res.Parts), strconv.Itoa(res.Answers), strconv.Itoa(res.Skipped), strconv.Itoa(res.Failed),
			ms(res.LastP50), ms(res.LastP99), ms(res.MedianP50), ms(res.ServedP50), ms(res.ServedP99),
			fmt.Sprintf("%.0f", res.PartsPerSecond),
		})
	}
	t.Notes = []string{
		fmt.Sprintf("Each level measured for %v; clients and gateway share the process and its cores, so the figures include the clients' own work.", o.hlsDuration),
		"completion->last: from the packager closing a part to the last of the M clients having read the playlist that lists it.",
		"last sample->served: from the part's last sample arriving to the first client's answer; a part closes when the next sample arrives (about one frame, 33 ms).",
		"skipped: (part, client) pairs a client never saw because its previous answer came after the next part was out.",
	}
	return t, nil
}

// runHLSLevel runs one LL-HLS level; with -cpuprofile it profiles this
// process (gateway and clients) during it, as prefix-hls-M.pprof.
func runHLSLevel(ctx context.Context, o options, m int, log *slog.Logger) (hlsload.Result, error) {
	if o.cpuprofile == "" {
		return hlsload.Run(ctx, hlsload.Config{Clients: m, Duration: o.hlsDuration, Logger: log})
	}
	path := fmt.Sprintf("%s-hls-%d.pprof", o.cpuprofile, m)
	f, err := os.Create(path)
	if err != nil {
		return hlsload.Result{}, fmt.Errorf("hls: cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return hlsload.Result{}, fmt.Errorf("hls: cpu profile: %w", err)
	}
	res, err := hlsload.Run(ctx, hlsload.Config{Clients: m, Duration: o.hlsDuration, Logger: log})
	pprof.StopCPUProfile()
	if cerr := f.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("hls: cpu profile: %w", cerr))
	}
	log.Info("hls: cpu profile written", "path", path)
	return res, err
}

// benchCost measures the per-stream CPU of the packager and each audio
// transcoder direction.
func benchCost(ctx context.Context, o options) (report.Table, error) {
	t := report.Table{
		Title:  "Cost per stream (mCPU: thousandths of a core per second of media)",
		Header: []string{"component", "mCPU"},
	}
	pk, err := cost.Packager(ctx, o.costMedia)
	if err != nil {
		return t, err
	}
	t.Rows = append(t.Rows, []string{"packager (CMAF parts + playlist renders, gzipped)", fmt.Sprintf("%.1f", float64(pk))})
	for _, d := range []cost.Direction{cost.AACToOpus, cost.OpusToAAC} {
		c, err := cost.Transcode(ctx, d)
		if err != nil {
			return t, err
		}
		t.Rows = append(t.Rows, []string{"audio transcoder " + string(d), fmt.Sprintf("%.1f", float64(c))})
	}
	for _, r := range t.Rows {
		if v, err := strconv.ParseFloat(r[1], 64); err != nil || v <= 0 {
			return t, fmt.Errorf("%s: %s mCPU: the measurement is broken", r[0], r[1])
		}
	}
	t.Notes = []string{fmt.Sprintf("Work run as fast as it goes, process CPU time divided by media time; packager over %v of the demo stream, transcoders over 10 s of stereo music-like audio.", o.costMedia)}
	return t, nil
}
