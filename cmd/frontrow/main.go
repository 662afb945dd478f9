// Command frontrow is the gateway: WHIP and RTMP in, WebRTC (WHEP) and
// LL-HLS out, from one process.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/app"
	"github.com/frontrow-live/frontrow/gateway/rtc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr, serve)
	stop()
	os.Exit(code)
}

// serve runs the gateway until ctx ends.
func serve(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.Auth.PublishToken == "" {
		log.Warn("auth.publish_token is empty: anyone who can reach this gateway can publish")
	}
	a, err := app.New(appConfig(cfg, log))
	if err != nil {
		return err
	}
	return a.Run(ctx)
}

// appConfig translates the user's configuration into the gateway's.
func appConfig(cfg Config, log *slog.Logger) app.Config {
	ice := make([]webrtc.ICEServer, 0, len(cfg.WebRTC.ICEServers))
	for _, s := range cfg.WebRTC.ICEServers {
		ice = append(ice, webrtc.ICEServer{URLs: s.URLs, Username: s.Username, Credential: s.Credential})
	}
	return app.Config{
		HTTPAddr:       cfg.HTTP.Addr,
		RTMPAddr:       cfg.RTMP.Addr,
		WebRTC:         rtc.Config{UDPAddr: cfg.WebRTC.UDPAddr, Hosts: cfg.WebRTC.Hosts},
		ICEServers:     ice,
		PartTarget:     cfg.HLS.PartTarget,
		SegmentTarget:  cfg.HLS.SegmentTarget,
		GracePeriod:    cfg.WebRTC.GracePeriod,
		PublishToken:   cfg.Auth.PublishToken,
		AdminToken:     cfg.Auth.AdminToken,
		ViewerTokenKey: cfg.Auth.ViewerTokenKey,
		DataDir:        cfg.Data.Dir,
		Demo:           cfg.Demo.Enabled,
		Logger:         log,
	}
}
