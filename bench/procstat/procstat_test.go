package procstat

import (
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		name string
		line string
		want time.Duration
		ok   bool
	}{
		{"plain", "123 (frontrow) S 1 123 123 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 100 0 0", 3 * time.Second, true},
		{"spaces and parens in name", "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1 0 0", 30 * time.Millisecond, true},
		{"truncated", "7 (x) R 1 2", 0, false},
		{"no name", "garbage", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStat([]byte(tc.line))
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("parseStat = %v, %v; want %v (ok %v)", got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestReadSelf(t *testing.T) {
	before, err := Read(0)
	if err != nil {
		t.Fatal(err)
	}
	// Burn a little CPU so the counter must move (bounded: 2 s at most).
	deadline := time.Now().Add(2 * time.Second)
	x := 0
	for {
		for i := range 1_000_000 {
			x ^= i
		}
		after, err := Read(0)
		if err != nil {
			t.Fatal(err)
		}
		if u := after.Since(before); u.CPU > 0 {
			if after.RSS <= 0 || u.MilliCPU() <= 0 {
				t.Fatalf("RSS %d, %v mCPU", after.RSS, u.MilliCPU())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("CPU time did not advance in 2 s of work (x=%d)", x)
		}
	}
}

func TestReadMachine(t *testing.T) {
	if m := ReadMachine(); m.Cores < 1 || m.GoVer == "" {
		t.Errorf("machine %+v", m)
	}
}
