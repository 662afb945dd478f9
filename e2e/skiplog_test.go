package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// skipLogEnv names the file where a test skipped for a missing real client
// appends one line; `make test` sets it and prints the file at the end, so
// a run without -v does not hide the skips behind "ok".
const skipLogEnv = "SKIPPED_CLIENTS_LOG"

// logMissingClient appends "missing<TAB>test" to $SKIPPED_CLIENTS_LOG, if set.
// missing names the clients, e.g. "ffmpeg". A line under PIPE_BUF written
// with O_APPEND is not interleaved with other test processes' lines.
func logMissingClient(t testing.TB, missing string) {
	t.Helper()
	path := os.Getenv(skipLogEnv)
	if path == "" {
		return
	}
	line := fmt.Sprintf("%s\t%s\n", strings.ReplaceAll(missing, "\t", " "), t.Name())
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Logf("%s: %v", skipLogEnv, err)
		return
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		t.Logf("%s: write %s: %v", skipLogEnv, path, err)
	}
}
