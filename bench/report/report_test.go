package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/bench/procstat"
)

func TestSplice(t *testing.T) {
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"empty", "", "# Benchmarks\n\n" + BeginMarker + "\nNEW\n" + EndMarker + "\n"},
		{"no markers", "# B\n\nhand text\n", "# B\n\nhand text\n\n" + BeginMarker + "\nNEW\n" + EndMarker + "\n"},
		{"replace", "top\n" + BeginMarker + "\nOLD\n" + EndMarker + "\nbottom\n",
			"top\n" + BeginMarker + "\nNEW\n" + EndMarker + "\nbottom\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Splice(tc.doc, "NEW\n"); got != tc.want {
				t.Errorf("Splice:\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

func TestUpdateKeepsHandText(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	r := Report{Machine: procstat.Machine{Cores: 2, CPU: "test cpu"}, Command: "make bench", Started: time.Unix(0, 0),
		Tables: []Table{{Title: "fan-out", Header: []string{"viewers", "loss"}, Rows: [][]string{{"50", "0.0%"}}}}}
	if err := Update(path, r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hand := string(b) + "\n## What we changed\nkeep me\n"
	if err := os.WriteFile(path, []byte(hand), 0o644); err != nil {
		t.Fatal(err)
	}
	r.Tables[0].Rows[0][0] = "1000"
	if err := Update(path, r); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{"keep me", "| 1000 | 0.0% |", "2 cores, test cpu", "`make bench`"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "| 50 |") || strings.Count(got, BeginMarker) != 1 {
		t.Errorf("old table kept or markers doubled:\n%s", got)
	}
	if !strings.Contains(r.Text(), "1000") {
		t.Errorf("text rendering lost the rows:\n%s", r.Text())
	}
}
