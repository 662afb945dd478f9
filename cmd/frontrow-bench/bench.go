package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/frontrow-live/frontrow/bench/procstat"
	"github.com/frontrow-live/frontrow/bench/report"
)

// benchmark runs the parts o.only selects and gathers their tables.
func benchmark(ctx context.Context, o options, log *slog.Logger) (report.Report, error) {
	rep := report.Report{Machine: procstat.ReadMachine(), Command: o.command, Started: time.Now()}
	if o.only["fanout"] {
		t, err := benchFanout(ctx, o, log)
		if err != nil {
			return rep, fmt.Errorf("fan-out: %w", err)
		}
		rep.Tables = append(rep.Tables, t)
	}
	if o.only["hls"] {
		t, err := benchHLS(ctx, o, log)
		if err != nil {
			return rep, fmt.Errorf("LL-HLS: %w", err)
		}
		rep.Tables = append(rep.Tables, t)
	}
	if o.only["cost"] {
		t, err := benchCost(ctx, o)
		if err != nil {
			return rep, fmt.Errorf("cost: %w", err)
		}
		rep.Tables = append(rep.Tables, t)
	}
	rep.Duration = time.Since(rep.Started)
	return rep, nil
}

func reportUpdate(path string, r report.Report) error { return report.Update(path, r) }
