// Command frontrow is the gateway: WHIP and RTMP in, WebRTC (WHEP) and
// LL-HLS out, from one process.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/app"
	"github.com/frontrow-live/frontrow/gateway/rtc"
)

// shutdownSlack is how long past shutdown.timeout serve waits for the
// gateway before giving up on it: the gateway cuts what is left at the
// timeout and needs a moment to close its ports.
const shutdownSlack = 2 * time.Second

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first signal starts a graceful shutdown; a second one means
		// "now": exit without waiting for anything.
		<-sigs
		cancel()
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "frontrow: second signal (%v): exiting at once\n", sig)
		os.Exit(exitForced)
	}()
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr, serve)
	os.Exit(code)
}

// serve runs the gateway until ctx ends, then shuts it down within
// shutdown.timeout.
func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	a, err := app.New(appConfig(cfg, log))
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("signal received: shutting down; a second signal exits at once", "timeout", cfg.Shutdown.Timeout)
	select {
	case err := <-done:
		return err
	case <-time.After(cfg.Shutdown.Timeout + shutdownSlack):
		return fmt.Errorf("shutdown did not finish within shutdown.timeout (%v)", cfg.Shutdown.Timeout)
	}
}

// appConfig translates the user's configuration into the gateway's.
func appConfig(cfg Config, log *slog.Logger) app.Config {
	ice := make([]webrtc.ICEServer, 0, len(cfg.WebRTC.ICEServers))
	for _, s := range cfg.WebRTC.ICEServers {
		ice = append(ice, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	tokens := make(map[string]string, len(cfg.Auth.Streams))
	for name, s := range cfg.Auth.Streams {
		tokens[name] = s.PublishToken
	}
	l := cfg.Limits
	return app.Config{
		HTTPAddr:        cfg.HTTP.Addr,
		TLSCert:         cfg.HTTP.TLSCert,
		TLSKey:          cfg.HTTP.TLSKey,
		RTMPAddr:        cfg.RTMP.Addr,
		RTMPSAddr:       cfg.RTMPS.Addr,
		WebRTC:          webrtcConfig(cfg.WebRTC),
		ICEServers:      ice,
		PartTarget:      cfg.HLS.PartTarget,
		SegmentTarget:   cfg.HLS.SegmentTarget,
		GracePeriod:     cfg.WebRTC.GracePeriod,
		PublishToken:    cfg.Auth.PublishToken,
		PublishTokens:   tokens,
		AdminToken:      cfg.Auth.AdminToken,
		ViewerTokenKey:  cfg.Auth.ViewerTokenKey,
		AdminAddr:       cfg.Admin.Addr,
		ShutdownTimeout: cfg.Shutdown.Timeout,
		Limits: app.Limits{
			MaxBody: l.MaxBodyBytes, SessionsPerIP: l.SessionsPerIP, ViewersPerStream: l.ViewersPerStream,
			Viewers: l.Viewers, Publishers: l.Publishers, PostRate: l.PostRate, PostBurst: l.PostBurst,
			HLSBlocking: l.HLSBlocking,
		},
		DataDir: cfg.Data.Dir,
		Demo:    cfg.Demo.Enabled,
		Logger:  log,
	}
}

// webrtcConfig is the WebRTC tier's part of the configuration (0 turns the
// publishers' bitrate hint off, which rtc.Config says with a negative).
func webrtcConfig(c WebRTCConfig) rtc.Config {
	start := c.PublishBitrate
	if start == 0 {
		start = -1
	}
	return rtc.Config{UDPAddr: c.UDPAddr, TCPAddr: c.TCPAddr, Hosts: c.Hosts, DisconnectTimeout: c.DisconnectTimeout, PublishBitrate: start}
}
