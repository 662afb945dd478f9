package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestGatewayClock: GET /clock is the gateway's wall clock, uncached, which
// the player compares with its own to show latency from capture; other
// methods are refused.
func TestGatewayClock(t *testing.T) {
	g := startGateway(t)
	before := time.Now()
	res, err := http.Get(g.base + "/clock")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		UnixMs *float64 `json:"unixMs"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("GET /clock: %v", err)
	}
	after := time.Now()
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") ||
		res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("GET /clock: %d, Content-Type %q, Cache-Control %q; want 200, JSON, no-store",
			res.StatusCode, res.Header.Get("Content-Type"), res.Header.Get("Cache-Control"))
	}
	if body.UnixMs == nil {
		t.Fatal("GET /clock: no unixMs")
	}
	// The gateway runs in this process: its clock is this one.
	got := time.UnixMicro(int64(*body.UnixMs * 1000))
	if got.Before(before.Add(-time.Millisecond)) || got.After(after.Add(time.Millisecond)) {
		t.Errorf("GET /clock says %v, want between %v and %v", got, before, after)
	}

	res, err = http.Post(g.base+"/clock", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /clock: %d, want 405", res.StatusCode)
	}
}
