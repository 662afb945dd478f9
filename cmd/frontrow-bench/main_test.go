package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
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
	for _, want := range []string{"audio transcoder opus-to-aac", "cores", "-steps 2,4"} {
		if !strings.Contains(md, want) {
			t.Errorf("BENCHMARKS.md lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(stdout.String(), "written to "+out) {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	tables := parseTables(t, md)
	checkFanout(t, tables.get(t, "WebRTC fan-out"), []int{2, 4})
	checkHLS(t, tables.get(t, "LL-HLS origin"), 5)
	checkCost(t, tables.get(t, "Cost per stream"))
	if t.Failed() {
		t.Logf("BENCHMARKS.md:\n%s", md)
	}
}

// mdTable is one Markdown table of BENCHMARKS.md: its header and its rows,
// each a map from column name to cell.
type mdTable struct {
	title  string
	name   string // the title's prefix get found it by, for messages
	header []string
	rows   []map[string]string
}

type mdTables []mdTable

// get returns the table whose "### " title starts with prefix.
func (ts mdTables) get(t *testing.T, prefix string) mdTable {
	t.Helper()
	for _, tb := range ts {
		if strings.HasPrefix(tb.title, prefix) {
			tb.name = prefix
			return tb
		}
	}
	t.Fatalf("no table titled %q...", prefix)
	return mdTable{}
}

// parseTables reads the tables report.Markdown writes: a "### title" line,
// a blank line, "| h1 | h2 |", "|---|---|", then "| c1 | c2 |" rows.
func parseTables(t *testing.T, md string) mdTables {
	t.Helper()
	cells := func(line string) []string {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") || !strings.HasSuffix(line, "|") {
			return nil
		}
		cs := strings.Split(line[1:len(line)-1], "|")
		for i := range cs {
			cs[i] = strings.TrimSpace(cs[i])
		}
		return cs
	}
	var ts mdTables
	lines := strings.Split(md, "\n")
	for i := 0; i < len(lines); i++ {
		title, ok := strings.CutPrefix(lines[i], "### ")
		if !ok {
			continue
		}
		tb := mdTable{title: title}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j+1 >= len(lines) || cells(lines[j]) == nil || !strings.HasPrefix(lines[j+1], "|---") {
			t.Fatalf("table %q: no header and separator after the title", title)
		}
		tb.header = cells(lines[j])
		for j += 2; j < len(lines); j++ {
			cs := cells(lines[j])
			if cs == nil {
				break
			}
			if len(cs) != len(tb.header) {
				t.Fatalf("table %q: row %q has %d cells, the header %d", title, lines[j], len(cs), len(tb.header))
			}
			row := make(map[string]string, len(cs))
			for k, c := range cs {
				row[tb.header[k]] = c
			}
			tb.rows = append(tb.rows, row)
		}
		ts = append(ts, tb)
		i = j - 1
	}
	return ts
}

// num reads the number in column col of row, which must lie within
// [lo, hi]; a dash or a missing column where a figure is claimed fails.
func (tb mdTable) num(t *testing.T, row map[string]string, col string, lo, hi float64) float64 {
	t.Helper()
	cell, ok := row[col]
	if !ok {
		t.Errorf("%s: no column %q (header %q)", tb.name, col, tb.header)
		return 0
	}
	v, err := strconv.ParseFloat(cell, 64)
	switch {
	case err != nil:
		t.Errorf("%s, row %q: %s = %q, want a figure", tb.name, tb.header[0]+" "+row[tb.header[0]], col, cell)
	case v < lo || v > hi:
		t.Errorf("%s, row %q: %s = %v, want within [%v, %v]", tb.name, tb.header[0]+" "+row[tb.header[0]], col, v, lo, hi)
	}
	return v
}

// rangeCheck is a column and the range its figure must lie in.
type rangeCheck struct {
	col    string
	lo, hi float64
}

// checkFanout: a no-viewer baseline row, then one row per step, held, with
// a figure in every column. The ranges are wide (any machine, -race, a
// loaded CI box) but a broken measurement (nothing received, no scrape,
// a unit off by 1000) falls outside them.
func checkFanout(t *testing.T, tb mdTable, steps []int) {
	t.Helper()
	maxMilliCPU := float64(1500 * runtime.NumCPU()) // a process uses at most every core
	if len(tb.rows) != 1+len(steps) {
		t.Fatalf("fan-out: %d rows, want the baseline and %d steps", len(tb.rows), len(steps))
	}
	base := tb.rows[0]
	if base["viewers"] != "0" {
		t.Errorf("fan-out: first row is %q viewers, want the 0-viewer baseline", base["viewers"])
	}
	for _, c := range []rangeCheck{{"gateway mCPU", 0, maxMilliCPU}, {"RSS MiB", 5, 4096}, {"loadgen mCPU", 0, maxMilliCPU}} {
		tb.num(t, base, c.col, c.lo, c.hi)
	}
	for i, viewers := range steps {
		row := tb.rows[1+i]
		if got := row["viewers"]; got != strconv.Itoa(viewers) {
			t.Errorf("fan-out row %d: %s viewers, want %d", 1+i, got, viewers)
			continue
		}
		if row["held"] != "yes" {
			t.Errorf("fan-out, %d viewers: held %q, want yes", viewers, row["held"])
		}
		for _, c := range []rangeCheck{
			{"KiB/viewer", -1 << 20, 1 << 20}, // RSS growth: may be negative after a GC
			{"loss %", 0, 20},
			{"queue drops", 0, 1e6},
			{"Mbit/s/viewer", 0.3, 10}, // the file is ~1.6 Mbit/s
			{"pkts/msg", 1, 64},        // a UDP GSO train holds at most 64
			{"pkts/call", 1, 1024},
			{"connect p50 ms", 0.01, 10000},
			{"loadgen mCPU", 0, maxMilliCPU},
		} {
			tb.num(t, row, c.col, c.lo, c.hi)
		}
		gw := tb.num(t, row, "gateway mCPU", 1, maxMilliCPU)
		per := tb.num(t, row, "mCPU/viewer", 0.01, maxMilliCPU)
		if d := per*float64(viewers) - gw; d < -1 || d > 1 { // both rounded
			t.Errorf("fan-out, %d viewers: mCPU/viewer %v is not gateway mCPU %v / %d", viewers, per, gw, viewers)
		}
		tb.num(t, row, "RSS MiB", 5, 4096)
		// Pairs of percentiles: the forwarding delay (loopback, a few
		// viewers: well under a second) and the first frame.
		for _, p := range []struct {
			lo, hi  string
			min, mx float64
		}{
			{"fwd p50 ms", "fwd p99 ms", 0.001, 1000},
			{"1st frame p50 ms", "1st frame p95 ms", 0.01, 10000},
		} {
			a, b := tb.num(t, row, p.lo, p.min, p.mx), tb.num(t, row, p.hi, p.min, p.mx)
			if a > b {
				t.Errorf("fan-out, %d viewers: %s %v above %s %v", viewers, p.lo, a, p.hi, b)
			}
		}
	}
}

// checkHLS: one row for the clients level, every client answered, figures
// in every latency column.
func checkHLS(t *testing.T, tb mdTable, clients int) {
	t.Helper()
	if len(tb.rows) != 1 {
		t.Fatalf("LL-HLS: %d rows, want 1 (%d clients)", len(tb.rows), clients)
	}
	row := tb.rows[0]
	if got := row["blocked clients"]; got != strconv.Itoa(clients) {
		t.Fatalf("LL-HLS: row for %s clients, want %d", got, clients)
	}
	parts := tb.num(t, row, "parts", 2, 100) // 200 ms parts over 1 s
	answers := tb.num(t, row, "answers", 1, parts*float64(clients))
	skipped := tb.num(t, row, "skipped", 0, parts*float64(clients))
	if answers+skipped != parts*float64(clients) {
		t.Errorf("LL-HLS: %v answers + %v skipped, want %v parts x %d clients", answers, skipped, parts, clients)
	}
	tb.num(t, row, "failed", 0, 0)
	tb.num(t, row, "parts served/s (64 clients)", 1, 1e6)
	for _, p := range []struct {
		lo, hi string
		min    float64
	}{
		{"completion->last p50 ms", "completion->last p99 ms", 0},
		// A part closes when the next sample comes (a frame, ~33 ms).
		{"last sample->served p50 ms", "last sample->served p99 ms", 0.1},
		// The median client is no later than the last, part by part.
		{"completion->median p50 ms", "completion->last p50 ms", 0},
	} {
		a, b := tb.num(t, row, p.lo, p.min, 5000), tb.num(t, row, p.hi, p.min, 5000)
		if a > b {
			t.Errorf("LL-HLS: %s %v above %s %v", p.lo, a, p.hi, b)
		}
	}
}

// checkCost: the packager and both transcoder directions, each a positive
// figure.
func checkCost(t *testing.T, tb mdTable) {
	t.Helper()
	var names []string
	for _, row := range tb.rows {
		names = append(names, row["component"])
		tb.num(t, row, "mCPU", 0.1, 100000)
	}
	want := []string{"packager (CMAF parts + playlist renders, gzipped)", "audio transcoder aac-to-opus", "audio transcoder opus-to-aac"}
	if !slices.Equal(names, want) {
		t.Errorf("cost rows %q, want %q", names, want)
	}
}
