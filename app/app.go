// Package app wires frontrow's rooms into one gateway: the WebRTC engine, the
// stream registry, WHIP and WHEP signalling, the packager, the HLS origin,
// the player and the demo publisher. cmd/frontrow and the end-to-end tests
// both start the gateway through it.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/gateway/rtc"
	"github.com/frontrow-live/frontrow/gateway/rtmp"
	"github.com/frontrow-live/frontrow/gateway/signaling"
	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/gateway/whep"
	"github.com/frontrow-live/frontrow/gateway/whip"
	"github.com/frontrow-live/frontrow/origin"
	"github.com/frontrow-live/frontrow/origin/api"
	"github.com/frontrow-live/frontrow/packager"
	"github.com/frontrow-live/frontrow/player"
)

// shutdownTimeout bounds how long in-flight HTTP requests (blocked playlist
// reloads among them) may hold up a shutdown.
const shutdownTimeout = 5 * time.Second

// Config is everything the gateway needs, already validated by the caller.
type Config struct {
	HTTPAddr      string
	RTMPAddr      string // the RTMP ingest's TCP address; empty leaves RTMP off
	WebRTC        rtc.Config
	ICEServers    []webrtc.ICEServer
	PartTarget    time.Duration
	SegmentTarget time.Duration
	GracePeriod   time.Duration
	PublishToken  string
	// AdminToken opens the distribution API; empty leaves it answering 503.
	AdminToken string
	// ViewerTokenKey signs viewer tokens; empty: generated and kept in DataDir.
	ViewerTokenKey string
	// DataDir keeps distributions and keys across restarts.
	DataDir string
	// Demo publishes the looping demo stream named DemoStream.
	Demo   bool
	Logger *slog.Logger
}

// DemoStream is the name the demo publisher uses.
const DemoStream = "demo"

// App is a running gateway.
type App struct {
	cfg      Config
	log      *slog.Logger
	engine   *rtc.Engine
	registry *stream.Registry
	whip     *signaling.Handler
	whep     *signaling.Handler
	listener net.Listener
	server   *http.Server
	rtmp     *rtmp.Server // nil when RTMP is off
	store    *api.Store

	closeOnce sync.Once
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// New binds the gateway's ports and builds its parts; Run serves.
func New(cfg Config) (*App, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	cfg.WebRTC.Logger = cfg.Logger
	a := &App{cfg: cfg, log: cfg.Logger}
	var err error
	if a.engine, err = rtc.New(cfg.WebRTC); err != nil {
		return nil, err
	}
	a.registry = stream.NewRegistry(stream.Config{
		GracePeriod: cfg.GracePeriod,
		// WebRTC encoders send keyframes only when asked: ask once per
		// segment so every HLS segment can start on one.
		KeyframeInterval: cfg.SegmentTarget,
		Logger:           cfg.Logger,
		NewSink: func(name string, epoch time.Time) (stream.UnitSink, error) {
			return packager.NewMuxer(packager.Config{
				PartTarget: cfg.PartTarget, SegmentTarget: cfg.SegmentTarget, Epoch: epoch,
				Logger: cfg.Logger.With("stream", name),
			})
		},
	})
	a.whip = signaling.NewHandler(signaling.Config{
		Name: "whip", Token: cfg.PublishToken, ICEServers: cfg.ICEServers, Logger: cfg.Logger,
		Start: whip.NewServer(whip.Config{Engine: a.engine, Registry: a.registry, Logger: cfg.Logger}).Start,
	})
	a.whep = signaling.NewHandler(signaling.Config{
		Name: "whep", ICEServers: cfg.ICEServers, Logger: cfg.Logger,
		Start: whep.NewServer(whep.Config{Engine: a.engine, Registry: a.registry, Logger: cfg.Logger}).Start,
	})
	if a.store, err = api.Open(api.StoreConfig{Dir: cfg.DataDir, TokenKey: []byte(cfg.ViewerTokenKey)}); err != nil {
		_ = a.engine.Close()
		return nil, fmt.Errorf("data.dir: %w", err)
	}
	if cfg.AdminToken == "" {
		a.log.Warn("auth.admin_token is empty: the distribution API (/api/v1) is off and answers 503")
	}
	if a.listener, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		_ = a.engine.Close()
		return nil, fmt.Errorf("http: listen %s: %w", cfg.HTTPAddr, err)
	}
	if cfg.RTMPAddr != "" {
		a.rtmp, err = rtmp.New(rtmp.Config{
			Addr: cfg.RTMPAddr, Registry: a.registry, PublishToken: cfg.PublishToken, Logger: cfg.Logger,
		})
		if err != nil {
			_ = a.listener.Close()
			_ = a.engine.Close()
			return nil, err
		}
	}
	a.server = &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}
	return a, nil
}

// Handler is the gateway's whole HTTP face.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/whip/", a.whip)
	// A distribution's security rules hold on both tiers (issue 5): the
	// guard checks viewer tokens, IPs and referrers before WHEP and HLS.
	mux.Handle("/whep/", a.store.Guard(api.WHEPStream, a.whep))
	mux.Handle("/hls/", a.store.Guard(api.HLSStream, origin.NewHLS(origin.HLSConfig{Lookup: a.lookupMuxer, Logger: a.log})))
	mux.Handle(api.Prefix, api.NewHandler(api.HandlerConfig{
		Store: a.store, Streams: streamLister{a.registry}, AdminToken: a.cfg.AdminToken, Logger: a.log,
	}))
	mux.HandleFunc("GET /play/{id}/config", a.playerConfig)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ready\n")) })
	mux.Handle("/", player.Handler())
	return mux
}

func (a *App) lookupMuxer(name string) (*packager.Muxer, bool) {
	s, ok := a.registry.Get(name)
	if !ok {
		return nil, false
	}
	m, ok := s.Sink().(*packager.Muxer)
	return m, ok
}

// HTTPAddr is the address the HTTP server listens on.
func (a *App) HTTPAddr() net.Addr { return a.listener.Addr() }

// RTMPAddr is the address the RTMP ingest listens on; nil when RTMP is off.
func (a *App) RTMPAddr() net.Addr {
	if a.rtmp == nil {
		return nil
	}
	return a.rtmp.Addr()
}

// UDPAddr is the address every ICE session shares.
func (a *App) UDPAddr() net.Addr { return a.engine.LocalAddr() }

// Registry is the stream registry (tests and status use it).
func (a *App) Registry() *stream.Registry { return a.registry }

// Run serves until ctx is done, then shuts down gracefully.
func (a *App) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	a.cancel = cancel
	defer cancel()
	if a.cfg.Demo {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.runDemo(ctx)
		}()
	}
	rtmpAddr := "off"
	if a.rtmp != nil {
		rtmpAddr = a.rtmp.Addr().String()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := a.rtmp.Serve(ctx); err != nil {
				a.log.Error("rtmp: serve", "err", err)
			}
		}()
	}
	errc := make(chan error, 1)
	go func() { errc <- a.server.Serve(a.listener) }()
	a.log.Info("listening", "http", a.HTTPAddr().String(), "rtmp", rtmpAddr, "webrtc_udp", a.UDPAddr().String(), "demo", a.cfg.Demo)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
	}
	return errors.Join(err, a.Close())
}

// Close stops everything: sessions, streams, the HTTP server, the RTMP port
// and the UDP port.
// Idempotent.
func (a *App) Close() error {
	var err error
	a.closeOnce.Do(func() {
		if a.cancel != nil {
			a.cancel()
		}
		a.wg.Wait()
		if a.rtmp != nil {
			err = errors.Join(err, a.rtmp.Close())
		}
		a.whip.Close()
		a.whep.Close()
		a.registry.Close()
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if e := a.server.Shutdown(ctx); e != nil {
			err = errors.Join(err, fmt.Errorf("http: shutdown: %w", e))
		}
		err = errors.Join(err, a.engine.Close())
	})
	return err
}
