package e2e

import (
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/app"
	"github.com/frontrow-live/frontrow/internal/gatewaytest"
)

const (
	testToken      = "e2e-secret"
	testAdminToken = "e2e-admin"
)

// gateway is a frontrow instance on loopback for one test.
type gateway struct {
	*app.App
	base string // http://127.0.0.1:port
}

type gatewayOption func(*app.Config)

func withGrace(d time.Duration) gatewayOption { return func(c *app.Config) { c.GracePeriod = d } }
func withDemo() gatewayOption                 { return func(c *app.Config) { c.Demo = true } }
func withICEServers(s ...webrtc.ICEServer) gatewayOption {
	return func(c *app.Config) { c.ICEServers = s }
}

// withRTMP turns on the RTMP ingest on a free loopback port.
func withRTMP() gatewayOption { return func(c *app.Config) { c.RTMPAddr = "127.0.0.1:0" } }

// startGateway runs a gateway with ICE restricted to 127.0.0.1 and stops it
// when the test ends.
func startGateway(t testing.TB, opts ...gatewayOption) *gateway {
	t.Helper()
	cfg := gatewaytest.Config(t.TempDir())
	cfg.PublishToken, cfg.AdminToken, cfg.Logger = testToken, testAdminToken, testLogger()
	for _, o := range opts {
		o(&cfg)
	}
	a := gatewaytest.Start(t, cfg)
	return &gateway{App: a, base: "http://" + a.HTTPAddr().String()}
}

// testLogger shows the gateway's logs with -v when FRONTROW_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("FRONTROW_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
