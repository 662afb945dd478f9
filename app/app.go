// Package app wires frontrow's rooms into one gateway: the WebRTC engine, the
// stream registry, WHIP and WHEP signalling, the packager, the HLS origin,
// the player and the demo publisher. cmd/frontrow and the end-to-end tests
// both start the gateway through it.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
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
	"github.com/frontrow-live/frontrow/origin/metrics"
	"github.com/frontrow-live/frontrow/packager"
	"github.com/frontrow-live/frontrow/player"
)

// DefaultShutdownTimeout bounds a shutdown when Config.ShutdownTimeout is
// zero: streams end, sessions close, in-flight requests finish within it.
const DefaultShutdownTimeout = 10 * time.Second

// Config is everything the gateway needs, already validated by the caller.
type Config struct {
	HTTPAddr      string
	RTMPAddr      string // the RTMP ingest's TCP address; empty leaves RTMP off
	WebRTC        rtc.Config
	ICEServers    []webrtc.ICEServer
	PartTarget    time.Duration
	SegmentTarget time.Duration
	GracePeriod   time.Duration
	// TLSCert and TLSKey are PEM files; set, HTTPAddr serves HTTPS (with
	// HTTP/2) and RTMPSAddr may be used.
	TLSCert, TLSKey string
	// RTMPSAddr is the RTMPS ingest's TCP address (RTMP inside TLS, with
	// TLSCert); empty leaves RTMPS off.
	RTMPSAddr string
	// PublishToken is the publish token of every stream without one in
	// PublishTokens; empty leaves those streams open.
	PublishToken string
	// PublishTokens are per-stream publish tokens, by stream name (matched
	// without regard to case, as configuration keys are).
	PublishTokens map[string]string
	// AdminAddr serves pprof and the probes; empty leaves it off. Keep it
	// on a private interface.
	AdminAddr string
	// ShutdownTimeout bounds Close; DefaultShutdownTimeout if zero.
	ShutdownTimeout time.Duration
	// Limits bound what clients can take; zero fields take DefaultLimits.
	Limits Limits
	// AdminToken opens the distribution API; empty leaves it answering 503.
	AdminToken string
	// ViewerTokenKey signs viewer tokens; empty: generated and kept in DataDir.
	ViewerTokenKey string
	// DataDir keeps distributions and keys across restarts.
	DataDir string
	// Demo publishes the looping demo stream named DemoStream.
	Demo bool
	// OnPart, if set, observes every part a stream's packager publishes, as
	// well as the metrics, so benchmarks can time a part from its
	// completion. It runs with the stream's packager locked (see
	// packager.Config.OnPart): it must be quick and must not call into it.
	OnPart func(stream string, p packager.PartInfo)
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
	viewers  *whep.Server // the WHEP sessions' send workers
	listener net.Listener
	server   *http.Server
	rtmp     *rtmp.Server // nil when RTMP is off
	rtmps    *rtmp.Server // nil when RTMPS is off
	store    *api.Store
	admin    *http.Server // nil when the admin address is off
	adminLn  net.Listener
	tokens   *publishTokens
	limits   *admission
	metrics  *metrics.Metrics

	// serving is set once every listener serves; draining once Close starts.
	serving, draining atomic.Bool
	// ended holds the muxers of the streams a shutdown ended, so playlist
	// requests still get their EXT-X-ENDLIST while the server drains.
	ended atomic.Pointer[map[string]*packager.Muxer]

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
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	cfg.Limits = cfg.Limits.withDefaults()
	a := &App{cfg: cfg, log: cfg.Logger, tokens: newPublishTokens(cfg.PublishToken, cfg.PublishTokens)}
	a.limits = newAdmission(cfg.Limits, a.draining.Load)
	var tlsConfig *tls.Config
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("http.tls_cert, http.tls_key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if cfg.RTMPSAddr != "" && tlsConfig == nil {
		return nil, errors.New("rtmps: needs a certificate (http.tls_cert, http.tls_key)")
	}
	var err error
	if a.engine, err = rtc.New(cfg.WebRTC); err != nil {
		return nil, err
	}
	// fail closes what New opened so far.
	fail := func(err error) (*App, error) {
		for _, srv := range []*rtmp.Server{a.rtmp, a.rtmps} {
			if srv != nil {
				_ = srv.Close()
			}
		}
		for _, ln := range []net.Listener{a.adminLn, a.listener} {
			if ln != nil {
				_ = ln.Close()
			}
		}
		if a.viewers != nil {
			_ = a.viewers.Close()
		}
		_ = a.engine.Close()
		return nil, err
	}
	a.metrics = a.newMetrics()
	a.registry = stream.NewRegistry(stream.Config{
		GracePeriod: cfg.GracePeriod,
		// WebRTC encoders send keyframes only when asked: ask once per
		// segment so every HLS segment can start on one.
		KeyframeInterval: cfg.SegmentTarget,
		Logger:           cfg.Logger,
		NewSink: func(name string, epoch time.Time) (stream.UnitSink, error) {
			onPart := a.metrics.ObservePart
			if observe := cfg.OnPart; observe != nil {
				onPart = func(p packager.PartInfo) {
					a.metrics.ObservePart(p)
					observe(name, p)
				}
			}
			return packager.NewMuxer(packager.Config{
				PartTarget: cfg.PartTarget, SegmentTarget: cfg.SegmentTarget, Epoch: epoch,
				Logger: cfg.Logger.With("stream", name), OnPart: onPart,
			})
		},
	})
	a.whip = signaling.NewHandler(signaling.Config{
		Name: "whip", Token: a.tokens.forStream, TokenElsewhere: a.tokens.elsewhere, Admit: a.limits.publisher,
		ICEServers: cfg.ICEServers, MaxBody: cfg.Limits.MaxBody, Logger: cfg.Logger,
		Start: whip.NewServer(whip.Config{Engine: a.engine, Registry: a.registry, Logger: cfg.Logger}).Start,
	})
	if a.viewers, err = whep.NewServer(whep.Config{Engine: a.engine, Registry: a.registry, Logger: cfg.Logger}); err != nil {
		return fail(err)
	}
	a.whep = signaling.NewHandler(signaling.Config{
		Name: "whep", Admit: a.limits.viewer, ICEServers: cfg.ICEServers, MaxBody: cfg.Limits.MaxBody, Logger: cfg.Logger,
		Start: a.viewers.Start,
	})
	if a.store, err = api.Open(api.StoreConfig{Dir: cfg.DataDir, TokenKey: []byte(cfg.ViewerTokenKey)}); err != nil {
		return fail(fmt.Errorf("data.dir: %w", err))
	}
	if cfg.AdminToken == "" {
		a.log.Warn("auth.admin_token is empty: the distribution API (/api/v1) is off and answers 503")
	}
	if a.tokens.open() {
		a.log.Warn("auth.publish_token is empty: streams without a token in auth.streams can be published by anyone")
	}
	if a.listener, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
		return fail(fmt.Errorf("http: listen %s: %w", cfg.HTTPAddr, err))
	}
	ingest := func(addr string, tc *tls.Config) (*rtmp.Server, error) {
		return rtmp.New(rtmp.Config{
			Addr: addr, Registry: a.registry, Token: a.tokens.forStream, Admit: a.limits.rtmpPublisher,
			TLS: tc, Logger: cfg.Logger,
		})
	}
	if cfg.RTMPAddr != "" {
		if a.rtmp, err = ingest(cfg.RTMPAddr, nil); err != nil {
			return fail(err)
		}
	}
	if cfg.RTMPSAddr != "" {
		if a.rtmps, err = ingest(cfg.RTMPSAddr, tlsConfig.Clone()); err != nil {
			return fail(err)
		}
	}
	if cfg.AdminAddr != "" {
		if a.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return fail(fmt.Errorf("admin: listen %s: %w", cfg.AdminAddr, err))
		}
		a.admin = &http.Server{Handler: a.adminHandler(), ReadHeaderTimeout: 10 * time.Second}
	}
	a.server = &http.Server{
		Handler:           a.Handler(),
		TLSConfig:         tlsConfig, // ServeTLS adds HTTP/2 (ALPN h2)
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
	// Counted outermost, so refusals (token, limits) are counted too.
	mux.Handle("/hls/", a.metrics.HLS(a.store.Guard(api.HLSStream, a.limits.limitBlocking(origin.NewHLS(origin.HLSConfig{Lookup: a.lookupMuxer, Logger: a.log})))))
	mux.Handle(api.Prefix, api.NewHandler(api.HandlerConfig{
		Store: a.store, Streams: streamLister{a.registry}, AdminToken: a.cfg.AdminToken, Logger: a.log,
	}))
	mux.HandleFunc("GET /play/{id}/config", a.playerConfig)
	mux.HandleFunc("GET /clock", a.clock)
	players := player.Handler(player.Config{Streams: publicStreams{a}})
	mux.Handle("GET /play/{id}", a.embedGuard(players))
	mux.HandleFunc("/healthz", a.healthz)
	mux.HandleFunc("/readyz", a.readyz)
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.Handle("/", players)
	return a.limits.limitWrites(mux)
}

// publicStreams lists on the player's front page the streams anyone may
// watch: none of their distributions asks for a token or limits IPs or sites.
type publicStreams struct{ a *App }

func (p publicStreams) PublicStreams() []player.Stream {
	var out []player.Stream
	for _, s := range p.a.registry.Streams() {
		ds := p.a.store.ListStream(s.Name())
		if slices.ContainsFunc(ds, func(d api.Distribution) bool { return d.Security.Restricted() }) {
			continue
		}
		ps := player.Stream{Name: s.Name(), Live: s.Live()}
		if len(ds) > 0 {
			ps.Distribution = ds[0].ID
		}
		out = append(out, ps)
	}
	return out
}

func (a *App) lookupMuxer(name string) (*packager.Muxer, bool) {
	s, ok := a.registry.Get(name)
	if !ok {
		if ended := a.ended.Load(); ended != nil {
			m, ok := (*ended)[name]
			return m, ok
		}
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

// RTMPSAddr is the address the RTMPS ingest listens on; nil when RTMPS is off.
func (a *App) RTMPSAddr() net.Addr {
	if a.rtmps == nil {
		return nil
	}
	return a.rtmps.Addr()
}

// AdminAddr is the admin address (pprof, probes); nil when it is off.
func (a *App) AdminAddr() net.Addr {
	if a.adminLn == nil {
		return nil
	}
	return a.adminLn.Addr()
}

// UDPAddr is the address every ICE session shares.
func (a *App) UDPAddr() net.Addr { return a.engine.LocalAddr() }

// Registry is the stream registry (tests and status use it).
func (a *App) Registry() *stream.Registry { return a.registry }

// WHEPSessions is the number of WHEP (viewer) sessions open: ones ended by
// DELETE, by ICE failure (webrtc.disconnect_timeout) or by the stream's end
// are gone from it.
func (a *App) WHEPSessions() int { return a.whep.Sessions() }

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
	addrs := map[string]string{"rtmp": "off", "rtmps": "off", "admin": "off"}
	for name, srv := range map[string]*rtmp.Server{"rtmp": a.rtmp, "rtmps": a.rtmps} {
		if srv == nil {
			continue
		}
		addrs[name] = srv.Addr().String()
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := srv.Serve(ctx); err != nil {
				a.log.Error(name+": serve", "err", err)
			}
		}()
	}
	if a.admin != nil {
		addrs["admin"] = a.adminLn.Addr().String()
		go func() {
			if err := a.admin.Serve(a.adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("admin: serve", "err", err)
			}
		}()
	}
	errc := make(chan error, 1)
	scheme := "http"
	if a.server.TLSConfig != nil {
		scheme = "https"
		go func() { errc <- a.server.ServeTLS(a.listener, "", "") }()
	} else {
		go func() { errc <- a.server.Serve(a.listener) }()
	}
	a.serving.Store(true)
	a.log.Info("listening", scheme, a.HTTPAddr().String(), "rtmp", addrs["rtmp"], "rtmps", addrs["rtmps"],
		"webrtc_udp", a.UDPAddr().String(), "admin", addrs["admin"], "demo", a.cfg.Demo)
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

// Close shuts the gateway down gracefully within ShutdownTimeout. It is
// idempotent:
//
//  1. new sessions are refused (503 + Retry-After) and /readyz says 503;
//  2. the RTMP ports close, cutting their publishers;
//  3. every stream ends: WebRTC viewers' connections are closed, playlists
//     get EXT-X-ENDLIST and blocked playlist requests are answered with it;
//  4. WHIP and WHEP sessions are closed;
//  5. the HTTP server stops accepting and waits for in-flight requests (the
//     ENDLIST answers among them), cutting what is left at the deadline;
//  6. the UDP port and the admin address close.
func (a *App) Close() error {
	var err error
	a.closeOnce.Do(func() {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
		a.draining.Store(true)
		a.log.Info("shutting down: new sessions refused, streams ending", "timeout", a.cfg.ShutdownTimeout)
		if a.cancel != nil {
			a.cancel()
		}
		a.wg.Wait()
		for _, srv := range []*rtmp.Server{a.rtmp, a.rtmps} {
			if srv != nil {
				err = errors.Join(err, srv.Close())
			}
		}
		a.keepEndedPlaylists()
		a.registry.Close()
		a.whip.Close()
		a.whep.Close()
		err = errors.Join(err, a.viewers.Close())
		if e := a.server.Shutdown(ctx); e != nil {
			_ = a.server.Close()
			err = errors.Join(err, fmt.Errorf("http: requests still in flight after shutdown.timeout (%v) were cut: %w", a.cfg.ShutdownTimeout, e))
		}
		_ = a.listener.Close() // in case Run never served it
		err = errors.Join(err, a.engine.Close())
		if a.admin != nil {
			_ = a.admin.Close()
			_ = a.adminLn.Close()
		}
		a.log.Info("stopped", "took", time.Since(start).Round(time.Millisecond))
	})
	return err
}

// keepEndedPlaylists keeps the muxers of the streams about to end
// reachable by name, so players polling during the shutdown read the
// playlist with EXT-X-ENDLIST rather than a 404.
func (a *App) keepEndedPlaylists() {
	ended := map[string]*packager.Muxer{}
	for _, s := range a.registry.Streams() {
		if m, ok := s.Sink().(*packager.Muxer); ok {
			ended[s.Name()] = m
		}
	}
	a.ended.Store(&ended)
}
