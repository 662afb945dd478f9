// Package procstat reads a process's CPU time and memory from /proc, and
// what machine the benchmark ran on, so the load benchmark can charge the
// gateway and the load generator apart.
package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// userHZ is the unit of /proc/PID/stat's CPU times (USER_HZ, 100 on every
// Linux architecture Go supports).
const userHZ = 100

// Sample is a process's counters at one moment.
type Sample struct {
	At  time.Time
	CPU time.Duration // user + system time since the process started
	RSS int64         // resident set size, bytes
}

// Read samples process pid (0: this process).
func Read(pid int) (Sample, error) {
	dir := "/proc/self"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	now := time.Now()
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return Sample{}, fmt.Errorf("procstat: %w", err)
	}
	cpu, err := parseStat(stat)
	if err != nil {
		return Sample{}, fmt.Errorf("procstat: %s/stat: %w", dir, err)
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return Sample{}, fmt.Errorf("procstat: %w", err)
	}
	rss, err := parseRSS(status)
	if err != nil {
		return Sample{}, fmt.Errorf("procstat: %s/status: %w", dir, err)
	}
	return Sample{At: now, CPU: cpu, RSS: rss}, nil
}

// parseStat returns utime + stime from a /proc/PID/stat line. The command
// name (field 2) may hold spaces and parentheses, so fields are counted
// from its closing parenthesis.
func parseStat(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// After ")": state is field 3, utime field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, err
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

func parseRSS(b []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		f := strings.Fields(line[len("VmRSS:"):])
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmRSS %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmRSS")
}

// Usage is what a process spent between two samples.
type Usage struct {
	Wall time.Duration
	CPU  time.Duration
}

// Since is the usage from an earlier sample to s.
func (s Sample) Since(earlier Sample) Usage {
	return Usage{Wall: s.At.Sub(earlier.At), CPU: s.CPU - earlier.CPU}
}

// MilliCPU is the average load in thousandths of a core (1000 = one core busy).
func (u Usage) MilliCPU() float64 {
	if u.Wall <= 0 {
		return 0
	}
	return 1000 * u.CPU.Seconds() / u.Wall.Seconds()
}

// Machine describes where a benchmark ran.
type Machine struct {
	Cores    int
	CPU      string // model name
	Kernel   string
	GoVer    string
	MemTotal int64 // bytes
}

// ReadMachine reads /proc for the machine's description.
func ReadMachine() Machine {
	m := Machine{Cores: runtime.NumCPU(), CPU: "unknown", GoVer: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					m.MemTotal = kb << 10
				}
			}
		}
	}
	return m
}
