package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/app"
	"github.com/frontrow-live/frontrow/gateway/demo"
	"github.com/frontrow-live/frontrow/packager"
	"github.com/frontrow-live/frontrow/testdata"
)

// TestDisconnectTimeout checks webrtc.disconnect_timeout end to end: a
// viewer (WHEP) and, on its own, a publisher (WHIP) vanish (their UDP
// socket closes: no DELETE, no DTLS close_notify, no packet at all), and the
// gateway must close the session (log line, session count, stream state)
// no sooner than the timeout after the last packet the client sent and no
// later than disconnectSlack after that.
//
// The clock starts at the client's last packet, not at the socket's close:
// the gateway hears the client last then, and a consent check answered just
// before the close would otherwise make the timeout look up to a keepalive
// interval short.
//
// The README's "counted disconnected after half of it" is not checked: the
// gateway keeps no trace of a session's disconnected state (no log line,
// metric or status; gateway/whep and gateway/whip act on ICE failed and
// closed only).
func TestDisconnectTimeout(t *testing.T) {
	const (
		timeout = 3 * time.Second
		// disconnectSlack: pion compares the silence with the timeouts on
		// its keepalive tick (timeout/4 here, gateway/rtc iceTimeouts), and
		// the session then takes a moment to close.
		disconnectSlack = 1500 * time.Millisecond
	)
	for _, tc := range []struct {
		name string
		// connect starts a client on sock, connected, its media flowing.
		connect func(t *testing.T, ctx context.Context, g *gateway, sock net.PacketConn) error
		// event is the gateway's log line when the session closes.
		event string
		// closed reports the gateway's state once the session is gone.
		closed func(g *gateway) error
	}{
		{
			name: "viewer", event: "viewer leave",
			connect: func(t *testing.T, ctx context.Context, g *gateway, sock net.PacketConn) error {
				startPublisher(t, ctx, g, "live")
				v, err := socketViewer(ctx, g, sock)
				if err != nil {
					return fmt.Errorf("viewer: %w", err)
				}
				t.Cleanup(v.close)
				return v.waitVideo(ctx)
			},
			closed: func(g *gateway) error {
				if r := g.Registries(); r.WHEPSessions != 0 || r.Viewers != 0 {
					return fmt.Errorf("%d WHEP sessions, %d viewers of the stream", r.WHEPSessions, r.Viewers)
				}
				return nil
			},
		},
		{
			name: "publisher", event: "unpublish",
			connect: vanishingPublisher,
			closed: func(g *gateway) error {
				if _, ok := g.Registry().Get("live"); ok {
					return fmt.Errorf("stream still there")
				}
				if n := g.Registries().WHIPSessions; n != 0 {
					return fmt.Errorf("%d WHIP sessions", n)
				}
				return nil
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			logs := newLogEvents(testLogger().Handler(), tc.event)
			g := startGateway(t, withGrace(0), withDisconnectTimeout(timeout), withLogHandler(logs))
			raw, err := net.ListenPacket("udp4", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			sock := &vanishingConn{PacketConn: raw}
			if err := tc.connect(t, ctx, g, sock); err != nil {
				t.Fatal(err)
			}
			lastSent, err := sock.vanish()
			closedAt := time.Now()
			if err != nil {
				t.Fatalf("close the client's socket: %v", err)
			}
			wctx, wcancel := context.WithTimeout(ctx, timeout+disconnectSlack+5*time.Second)
			defer wcancel()
			ev, err := logs.wait(wctx, tc.event)
			if err != nil {
				t.Fatalf("no %q from the gateway %v after the client vanished (webrtc.disconnect_timeout %v): %v", tc.event, time.Since(closedAt).Round(time.Millisecond), timeout, err)
			}
			took := ev.at.Sub(lastSent)
			t.Logf("%s closed %v after the client's last packet (%v after its socket closed), reason %q",
				tc.name, took.Round(time.Millisecond), ev.at.Sub(closedAt).Round(time.Millisecond), ev.attrs["reason"])
			if ev.attrs["reason"] != "ice failed" {
				t.Errorf("%s closed for %q, want \"ice failed\"", tc.name, ev.attrs["reason"])
			}
			if took < timeout || took > timeout+disconnectSlack {
				t.Errorf("%s closed %v after the client's last packet, want within [%v, %v] (webrtc.disconnect_timeout)",
					tc.name, took.Round(time.Millisecond), timeout, timeout+disconnectSlack)
			}
			// The log line comes as the session ends: the gateway's tables
			// follow within moments.
			sctx, scancel := context.WithTimeout(ctx, 2*time.Second)
			defer scancel()
			var state error
			if waitCond(sctx, func() bool { state = tc.closed(g); return state == nil }) != nil {
				t.Errorf("%s: the gateway still holds the session 2 s after %q: %v", tc.name, tc.event, state)
			}
		})
	}
}

// vanishingPublisher publishes the test file from a pion WHIP client whose
// ICE runs on sock, and waits until the gateway gets its video.
func vanishingPublisher(t *testing.T, ctx context.Context, g *gateway, sock net.PacketConn) error {
	quiet := &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}
	mux := webrtc.NewICEUDPMux(quiet.NewLogger("ice"), sock)
	t.Cleanup(func() { _ = mux.Close() })
	pub := newWHIPClient(t, clientAPIWith(t, func(s *webrtc.SettingEngine) {
		s.SetICEUDPMux(mux)
		s.LoggerFactory = quiet
	}))
	src, err := demo.NewSource(bytes.NewReader(testdata.DemoMP4))
	if err != nil {
		return fmt.Errorf("demo source: %w", err)
	}
	if err := pub.publish(ctx, g.base, "live", testToken); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = src.Run(runCtx, pub) // ends with an error once the socket is gone
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	if err := waitCond(wctx, func() bool {
		s, ok := g.Registry().Get("live")
		return ok && s.Counters().In[packager.KindVideo].Packets > 0
	}); err != nil {
		return fmt.Errorf("no video reached the gateway: %w", err)
	}
	return nil
}

// vanishingConn is a client's UDP socket that can vanish: vanish closes it,
// and nothing is sent after that. It notes when its last datagram left:
// the gateway cannot have heard from the client later than that.
type vanishingConn struct {
	net.PacketConn

	mu       sync.Mutex
	gone     bool
	lastSent time.Time
}

// WriteTo sends unless the socket vanished. Writes are serialised so that
// none is under way when vanish returns.
func (c *vanishingConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gone {
		return 0, net.ErrClosed
	}
	at := time.Now() // before the send: the gateway cannot get it sooner
	n, err := c.PacketConn.WriteTo(p, addr)
	if err == nil {
		c.lastSent = at
	}
	return n, err
}

// vanish closes the socket and returns when its last datagram left.
func (c *vanishingConn) vanish() (lastSent time.Time, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gone = true
	return c.lastSent, c.PacketConn.Close()
}

// withLogHandler sends the gateway's logs to h.
func withLogHandler(h slog.Handler) gatewayOption {
	return func(c *app.Config) { c.Logger = slog.New(h) }
}

// logEvents is a slog.Handler that passes every record on to next and
// hands the ones whose message is one of msgs, with their attributes, to
// the test (wait).
type logEvents struct {
	next  slog.Handler
	msgs  []string
	attrs []slog.Attr // from WithAttrs
	c     chan logEvent
}

type logEvent struct {
	at    time.Time // the record's time: when the gateway logged it
	msg   string
	attrs map[string]string
}

func newLogEvents(next slog.Handler, msgs ...string) *logEvents {
	// Never blocks the gateway: the few events a test waits for fit.
	return &logEvents{next: next, msgs: msgs, c: make(chan logEvent, 64)}
}

func (h *logEvents) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h *logEvents) Handle(ctx context.Context, r slog.Record) error {
	if slices.Contains(h.msgs, r.Message) {
		ev := logEvent{at: r.Time, msg: r.Message, attrs: map[string]string{}}
		for _, a := range h.attrs {
			ev.attrs[a.Key] = a.Value.String()
		}
		r.Attrs(func(a slog.Attr) bool {
			ev.attrs[a.Key] = a.Value.String()
			return true
		})
		select {
		case h.c <- ev:
		default:
		}
	}
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *logEvents) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(slices.Clone(h.attrs), attrs...)
	c.next = h.next.WithAttrs(attrs)
	return &c
}

func (h *logEvents) WithGroup(name string) slog.Handler {
	c := *h
	c.next = h.next.WithGroup(name)
	return &c
}

// wait returns the next event with message msg, or an error when ctx ends.
func (h *logEvents) wait(ctx context.Context, msg string) (logEvent, error) {
	for {
		select {
		case ev := <-h.c:
			if ev.msg == msg {
				return ev, nil
			}
		case <-ctx.Done():
			return logEvent{}, fmt.Errorf("waiting for log %q: %w", msg, ctx.Err())
		}
	}
}
