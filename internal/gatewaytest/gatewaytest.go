// Package gatewaytest runs a whole gateway in the test's process, on
// loopback, for the tests of packages that drive it as clients do (e2e,
// bench/loadgen).
package gatewaytest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/app"
	"github.com/frontrow-live/frontrow/gateway/rtc"
)

// Config is a gateway on loopback: HTTP and ICE on free 127.0.0.1 ports,
// ICE advertising only 127.0.0.1, the default 200 ms parts and 1 s
// segments, state in dataDir.
func Config(dataDir string) app.Config {
	return app.Config{
		HTTPAddr:      "127.0.0.1:0",
		WebRTC:        rtc.Config{UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", Hosts: []string{"127.0.0.1"}},
		PartTarget:    200 * time.Millisecond,
		SegmentTarget: time.Second,
		GracePeriod:   10 * time.Second,
		DataDir:       dataDir,
	}
}

// Start runs a gateway built from cfg until the test ends, and checks that
// it stops cleanly then.
func Start(t testing.TB, cfg app.Config) *app.App {
	t.Helper()
	a, err := app.New(cfg)
	if err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("gateway run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("gateway did not stop within 15 s")
		}
	})
	return a
}
