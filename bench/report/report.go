// Package report prints the load benchmark's tables and keeps them in
// BENCHMARKS.md, between markers, so text written around them survives
// the next run.
package report

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/frontrow-live/frontrow/bench/procstat"
)

// Markers delimit the generated part of BENCHMARKS.md.
const (
	BeginMarker = "<!-- make bench: begin (generated, do not edit) -->"
	EndMarker   = "<!-- make bench: end -->"
)

// Table is one titled table of figures.
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
	Notes  []string // printed under the table
}

// Report is one benchmark run.
type Report struct {
	Machine  procstat.Machine
	Command  string
	Started  time.Time
	Duration time.Duration
	Tables   []Table
}

// Markdown renders the run as Markdown.
func (r Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s, took %s, with `%s`.\n\n", r.Started.UTC().Format("2006-01-02 15:04 MST"),
		r.Duration.Round(time.Second), r.Command)
	fmt.Fprintf(&b, "Machine: %d cores, %s, %.1f GiB RAM, Linux %s, %s. Gateway and load generator share it.\n",
		r.Machine.Cores, r.Machine.CPU, float64(r.Machine.MemTotal)/(1<<30), r.Machine.Kernel, r.Machine.GoVer)
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "\n### %s\n\n", t.Title)
		b.WriteString("| " + strings.Join(t.Header, " | ") + " |\n")
		b.WriteString("|" + strings.Repeat("---|", len(t.Header)) + "\n")
		for _, row := range t.Rows {
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
		if len(t.Notes) > 0 {
			b.WriteString("\n")
			for _, n := range t.Notes {
				b.WriteString("- " + n + "\n")
			}
		}
	}
	return b.String()
}

// Text renders the run for a terminal: aligned columns.
func (r Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "machine: %d cores, %s; %s\n", r.Machine.Cores, r.Machine.CPU, r.Machine.GoVer)
	for _, t := range r.Tables {
		fmt.Fprintf(&b, "\n%s\n", t.Title)
		width := make([]int, len(t.Header))
		for i, h := range t.Header {
			width[i] = len(h)
		}
		for _, row := range t.Rows {
			for i, c := range row {
				if i < len(width) {
					width[i] = max(width[i], len(c))
				}
			}
		}
		line := func(cells []string) {
			for i, c := range cells {
				if i < len(width) {
					fmt.Fprintf(&b, "  %*s", width[i], c)
				}
			}
			b.WriteString("\n")
		}
		line(t.Header)
		for _, row := range t.Rows {
			line(row)
		}
		for _, n := range t.Notes {
			b.WriteString("  * " + n + "\n")
		}
	}
	return b.String()
}

// Update writes the run into the file at path between the markers,
// keeping what is outside them (a new file gets a title). The file is
// replaced atomically.
func Update(path string, r Report) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("report: %w", err)
	}
	text := Splice(string(old), r.Markdown())
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bench-*.md")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op once renamed
	if _, err := tmp.WriteString(text); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("report: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("report: write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Splice puts generated between the markers of doc, or appends it with
// markers (under a title when doc is empty).
func Splice(doc, generated string) string {
	block := BeginMarker + "\n" + generated + EndMarker + "\n"
	i := strings.Index(doc, BeginMarker)
	j := strings.Index(doc, EndMarker)
	if i >= 0 && j > i {
		return doc[:i] + block + strings.TrimPrefix(doc[j+len(EndMarker):], "\n")
	}
	if strings.TrimSpace(doc) == "" {
		return "# Benchmarks\n\n" + block
	}
	return strings.TrimRight(doc, "\n") + "\n\n" + block
}
