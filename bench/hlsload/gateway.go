package hlsload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/frontrow-live/frontrow/app"
	"github.com/frontrow-live/frontrow/gateway/rtc"
	"github.com/frontrow-live/frontrow/packager"
)

const (
	// limitHeadroom is added to the gateway's blocking-request limit over
	// what the clients take, for the probes of the start.
	limitHeadroom = 100
	// shutdownTimeout bounds the gateway's stop.
	shutdownTimeout = 5 * time.Second
	// retryPause spaces the probes of the start, and a failed client's retries.
	retryPause = 50 * time.Millisecond
)

// partKey names a part of the video rendition.
type partKey struct{ msn, index int }

// partTimes is when a part was completed and its first and last samples arrived.
type partTimes struct {
	completed, firstArrival, lastArrival time.Time
}

// parts records the demo stream's video parts as the packager publishes them.
type parts struct {
	mu     sync.Mutex
	byKey  map[partKey]partTimes
	latest partKey
	any    bool
}

// observe is app.Config.OnPart: it runs with the muxer locked, so it only
// stores.
func (p *parts) observe(stream string, info packager.PartInfo) {
	if stream != app.DemoStream || info.Rendition != packager.RenditionVideo {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := partKey{info.MSN, info.Index}
	p.byKey[k] = partTimes{completed: info.Completed, firstArrival: info.FirstArrival, lastArrival: info.LastArrival}
	p.latest, p.any = k, true
}

// newest is the newest video part, if any.
func (p *parts) newest() (partKey, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.latest, p.any
}

// completedIn lists the parts completed in [from, to).
func (p *parts) completedIn(from, to time.Time) map[partKey]partTimes {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[partKey]partTimes{}
	for k, t := range p.byKey {
		if !t.completed.Before(from) && t.completed.Before(to) {
			out[k] = t
		}
	}
	return out
}

// gateway is the gateway under test and the one HTTP client pool its
// clients share.
type gateway struct {
	app     *app.App
	base    string // http://127.0.0.1:port/hls/demo/
	dataDir string
	parts   *parts
	client  *http.Client
	tr      *http.Transport
	// prefix is what the video part URIs start with before "{msn}.{part}.mp4"
	// (packager/names.go), learned by ready.
	prefix string
	cancel context.CancelFunc
	done   chan error
}

// startGateway starts the gateway as e2e's startGateway does, with the demo
// stream and limits raised for cfg's clients.
func startGateway(ctx context.Context, cfg Config) (*gateway, error) {
	dir, err := os.MkdirTemp("", "frontrow-hlsload-")
	if err != nil {
		return nil, fmt.Errorf("hlsload: data dir: %w", err)
	}
	g := &gateway{dataDir: dir, parts: &parts{byKey: map[partKey]partTimes{}}}
	conns := cfg.Clients + cfg.ServeClients + limitHeadroom
	a, err := app.New(app.Config{
		HTTPAddr:        "127.0.0.1:0",
		WebRTC:          rtc.Config{UDPAddr: "127.0.0.1:0", Hosts: []string{"127.0.0.1"}},
		PartTarget:      partTarget,
		SegmentTarget:   segmentTarget,
		GracePeriod:     10 * time.Second,
		DataDir:         dir,
		ShutdownTimeout: shutdownTimeout,
		// Only blocking playlist requests are limited on the HLS tier (no
		// per-address limit there): let every client block.
		Limits: app.Limits{HLSBlocking: conns},
		Demo:   true,
		OnPart: g.parts.observe,
		Logger: cfg.Logger,
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("hlsload: start gateway: %w", err), os.RemoveAll(dir))
	}
	g.app = a
	g.base = "http://" + a.HTTPAddr().String() + "/hls/" + app.DemoStream + "/"
	// One pool with a keep-alive connection for every client, so no
	// request waits for a connection another client holds.
	g.tr = &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
	}
	g.client = &http.Client{Transport: g.tr}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.cancel, g.done = cancel, make(chan error, 1)
	go func() { g.done <- a.Run(runCtx) }()
	return g, nil
}

// stop shuts the gateway down and removes its data directory.
func (g *gateway) stop() error {
	g.tr.CloseIdleConnections()
	g.cancel()
	err := <-g.done
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("hlsload: gateway: %w", err)
	}
	return errors.Join(err, os.RemoveAll(g.dataDir))
}

// ready waits until the demo stream's playlists answer, as a player
// starting does (multivariant, then the media playlist), and learns the
// part URIs' prefix from the media playlist's preload hint.
func (g *gateway) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	for {
		_, err := g.get(ctx, g.base+packager.MultivariantName)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("hlsload: the demo stream never became playable: %w", err)
		}
		if err := sleep(ctx, retryPause); err != nil {
			return fmt.Errorf("hlsload: the demo stream never became playable: %w", err)
		}
	}
	body, err := g.get(ctx, g.base+packager.PlaylistName(packager.RenditionVideo))
	if err != nil {
		return err
	}
	h, err := parseHint(body)
	if err != nil {
		return err
	}
	g.prefix = h.prefix
	return nil
}

// get fetches url whole; anything but 200 is an error.
func (g *gateway) get(ctx context.Context, url string) ([]byte, error) {
	var buf bytes.Buffer
	if err := g.fetch(ctx, url, &buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fetch reads url's body into buf, which it resets first, so a client
// reuses one buffer for all its requests; anything but 200 is an error.
func (g *gateway) fetch(ctx context.Context, url string, buf *bytes.Buffer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("hlsload: GET %s: %w", url, err)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return fmt.Errorf("hlsload: GET %s: %w", url, err)
	}
	buf.Reset()
	_, readErr := buf.ReadFrom(resp.Body)
	closeErr := resp.Body.Close()
	if err := errors.Join(readErr, closeErr); err != nil {
		return fmt.Errorf("hlsload: GET %s: read: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("hlsload: GET %s: %s", url, resp.Status)
	}
	return nil
}

// muxer is the demo stream's packager, while the stream exists.
func (g *gateway) muxer() (*packager.Muxer, bool) {
	s, ok := g.app.Registry().Get(app.DemoStream)
	if !ok {
		return nil, false
	}
	m, ok := s.Sink().(*packager.Muxer)
	return m, ok
}

// renders is how many playlists the demo stream's muxer has rendered.
func (g *gateway) renders() uint64 {
	if m, ok := g.muxer(); ok {
		return m.Stats().Renders
	}
	return 0
}

// blockingURL is the video playlist blocked on part k.
func (g *gateway) blockingURL(k partKey) string {
	return g.base + packager.PlaylistName(packager.RenditionVideo) +
		"?_HLS_msn=" + strconv.Itoa(k.msn) + "&_HLS_part=" + strconv.Itoa(k.index)
}

// partURL is video part k's URI, by the layout of packager/names.go.
func (g *gateway) partURL(k partKey) string {
	return g.base + g.prefix + strconv.Itoa(k.msn) + "." + strconv.Itoa(k.index) + ".mp4"
}

// hint is a media playlist's EXT-X-PRELOAD-HINT: the part after the last
// one listed, which the next blocking request asks for.
type hint struct {
	next   partKey
	prefix string // the URI up to its "{msn}.{part}.mp4"
}

const hintTag = "#EXT-X-PRELOAD-HINT:"

// parseHint reads the preload hint of a live media playlist without
// parsing the rest, as cheaply as a thousand clients need.
func parseHint(body []byte) (hint, error) {
	i := bytes.LastIndex(body, []byte(hintTag))
	if i < 0 {
		return hint{}, errors.New("hlsload: media playlist has no EXT-X-PRELOAD-HINT")
	}
	line := body[i+len(hintTag):]
	if j := bytes.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	_, uri, ok := strings.Cut(string(line), `URI="`)
	if ok {
		uri, _, ok = strings.Cut(uri, `"`)
	}
	if !ok {
		return hint{}, fmt.Errorf("hlsload: preload hint %q has no URI", line)
	}
	name, ok := strings.CutSuffix(uri, ".mp4")
	sep := strings.LastIndexByte(name, '_')
	if !ok || sep < 0 {
		return hint{}, fmt.Errorf("hlsload: preload hint URI %q is not a part", uri)
	}
	msn, part, ok := strings.Cut(name[sep+1:], ".")
	m, err1 := strconv.Atoi(msn)
	p, err2 := strconv.Atoi(part)
	if !ok || err1 != nil || err2 != nil {
		return hint{}, fmt.Errorf("hlsload: preload hint URI %q is not a part", uri)
	}
	return hint{next: partKey{m, p}, prefix: name[:sep+1]}, nil
}

// sleep waits d or until ctx is done, and returns ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
