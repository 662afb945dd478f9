package rtmp

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/codecs"
	"github.com/bluenviron/gortmplib/pkg/handshake"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"

	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

const (
	testToken = "t0ken"
	// waitTimeout bounds every wait on an event; a wait that succeeds
	// returns at once.
	waitTimeout = 5 * time.Second
)

// streamSink is the packager side of a test stream: it keeps the units and
// says when more came.
type streamSink struct {
	unitRecorder
	mu      sync.Mutex
	changed chan struct{}
}

func newStreamSink() *streamSink { return &streamSink{changed: make(chan struct{})} }

func (s *streamSink) SetTracks(packager.Tracks) error { return nil }
func (s *streamSink) End()                            {}

func (s *streamSink) WriteUnit(u packager.Unit) error {
	if err := s.unitRecorder.WriteUnit(u); err != nil {
		return err
	}
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

// waitUnits waits until the sink has n units of kind.
func (s *streamSink) waitUnits(t *testing.T, kind packager.Kind, n int) []packager.Unit {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		s.mu.Lock()
		ch := s.changed
		s.mu.Unlock()
		if us := s.of(kind); len(us) >= n {
			return us
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("have %d %s units after %v, want %d", len(s.of(kind)), kind, waitTimeout, n)
		}
	}
}

// testServer is a Server on loopback with a registry whose streams record
// their units.
type testServer struct {
	*Server
	reg   *stream.Registry
	mu    sync.Mutex
	sinks map[string]*streamSink
	done  chan error
	logs  *logBuffer
}

// logBuffer collects a server's log lines for tests to read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func startTestServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ts := &testServer{sinks: map[string]*streamSink{}, done: make(chan error, 1), logs: &logBuffer{}}
	// The audio bridge is off: these tests follow the publisher's own units
	// (gateway/stream tests the bridge).
	ts.reg = stream.NewRegistry(stream.Config{GracePeriod: time.Minute, Logger: discard, NoAudioBridge: true,
		NewSink: func(name string, _ time.Time) (stream.UnitSink, error) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			s := newStreamSink()
			ts.sinks[name] = s
			return s, nil
		}})
	cfg.Addr, cfg.Registry = "127.0.0.1:0", ts.reg
	cfg.Logger = slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Token == nil {
		cfg.Token = func(string) string { return testToken }
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Server = s
	go func() { ts.done <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if err := <-ts.done; err != nil {
			t.Errorf("serve: %v", err)
		}
		ts.reg.Close()
	})
	return ts
}

func (ts *testServer) sink(name string) *streamSink {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.sinks[name]
}

// waitLive polls the registry until the stream is live or not, as want says.
func (ts *testServer) waitLive(t *testing.T, name string, want bool) *stream.Stream {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitTimeout)
	for {
		s, ok := ts.reg.Get(name)
		if ok && s.Live() == want {
			return s
		}
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("stream %q not live=%v after %v", name, want, waitTimeout)
		}
	}
}

// dialClient connects gortmplib's client (publishing, or playing) to
// rtmp://addr/live/{key}; key may carry ?token=.
func dialClient(t *testing.T, addr net.Addr, key string, publish bool) (*gortmplib.Client, error) {
	t.Helper()
	u, err := url.Parse(fmt.Sprintf("rtmp://%s/%s#%s", addr, AppName, key))
	if err != nil {
		t.Fatal(err)
	}
	c := &gortmplib.Client{URL: u, Publish: publish}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.Initialize(ctx); err != nil {
		// gortmplib closes the connection when ctx ends, so a server that
		// never answers looks like a closed connection: say it timed out.
		if ctx.Err() != nil {
			return nil, fmt.Errorf("rtmp client: no answer within %v: %w (%w)", waitTimeout, ctx.Err(), err)
		}
		return nil, err
	}
	t.Cleanup(c.Close)
	_ = c.NetConn().SetDeadline(time.Now().Add(waitTimeout))
	return c, nil
}

func dial(t *testing.T, addr net.Addr) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr.String(), waitTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitClosed reads until the server closes c; it fails after waitTimeout.
func waitClosed(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitTimeout))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("%s: the server did not close the connection within %v", what, waitTimeout)
			}
			return
		}
	}
}

// expectRefused connects to addr publishing (or playing) key and asserts
// the server turns the client away with the onStatus error code, then
// closes the connection: the connect fails on that status or on the
// server's close (EOF, reset), or the publish is acknowledged (gortmplib
// accepts before the server checks the key) and the status and the close
// follow. A server that answers nothing fails the test: a timeout is not a
// refusal.
func expectRefused(t *testing.T, addr net.Addr, key string, publish bool, code string) {
	t.Helper()
	c, err := dialClient(t, addr, key, publish)
	if err != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			t.Fatalf("%s: %v; want a refusal", key, err)
		case strings.Contains(err.Error(), code):
		case closedByPeer(err):
			t.Errorf("%s: connection closed without the %s status: %v", key, code, err)
		default:
			t.Fatalf("%s: connect failed, but not with a refusal: %v", key, err)
		}
		return
	}
	var codes []string
	for range 1000 { // the acknowledgements, the status, then the close
		msg, err := c.Read()
		if err != nil {
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				t.Fatalf("%s: the server did not close the connection within %v (statuses %q)", key, waitTimeout, codes)
			case !closedByPeer(err):
				t.Fatalf("%s: read: %v; want the server's close", key, err)
			}
			if !slices.Contains(codes, code) {
				t.Errorf("%s: closed with statuses %q, want %s", key, codes, code)
			}
			return
		}
		if cmd, ok := msg.(*message.CommandAMF0); ok && cmd.Name == "onStatus" && len(cmd.Arguments) >= 2 {
			if info, ok := cmd.Arguments[1].(amf0.Object); ok {
				if lvl, _ := info.GetString("level"); lvl == "error" {
					got, _ := info.GetString("code")
					codes = append(codes, got)
				}
			}
		}
	}
	t.Fatalf("%s: 1000 messages and no close", key)
}

// closedByPeer reports whether err is the other end closing the
// connection: EOF, or a reset.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// Enhanced RTMP through gortmplib's own client and writer: H264 and Opus.
// Opus reaches the WebRTC tier too, so the stream gets an audio track.
func TestServerPublishH264Opus(t *testing.T) {
	ts := startTestServer(t, Config{})
	c, err := dialClient(t, ts.Addr(), "cam?token="+testToken, true)
	if err != nil {
		t.Fatal(err)
	}
	video := &gortmplib.Track{Codec: &codecs.H264{SPS: testSPS, PPS: testPPS}}
	audio := &gortmplib.Track{Codec: &codecs.Opus{IDHeader: &opus.IDHeader{Version: 1, ChannelCount: 2, InputSampleRate: 48000}}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{video, audio}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		d := time.Duration(i) * 20 * time.Millisecond
		au := [][]byte{testP}
		if i == 0 {
			au = [][]byte{testIDR}
		}
		if err := w.WriteH264(video, d, d, au); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteOpus(audio, d, []byte{0xfc, byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	st := ts.waitLive(t, "cam", true)
	sink := ts.sink("cam")
	vs := sink.waitUnits(t, packager.KindVideo, 10)
	as := sink.waitUnits(t, packager.KindAudio, 10)
	if !nalusEqual(vs[0].NALUs, [][]byte{testSPS, testPPS, testIDR}) {
		t.Errorf("first video unit %x, want SPS, PPS, IDR", vs[0].NALUs)
	}
	if d := as[9].DTS - as[0].DTS; d != 180*time.Millisecond {
		t.Errorf("audio spans %v, want 180ms", d)
	}
	if st.Track(packager.KindAudio) == nil {
		t.Errorf("an Opus stream has no WebRTC audio track")
	}
}

// Absurd timestamps (backwards, an hour ahead) are discontinuities: the
// publication goes on and every track's DTS keeps rising.
func TestServerAbsurdTimestamps(t *testing.T) {
	ts := startTestServer(t, Config{})
	c, err := dialClient(t, ts.Addr(), "cam?token="+testToken, true)
	if err != nil {
		t.Fatal(err)
	}
	asc := testASC
	video := &gortmplib.Track{Codec: &codecs.H264{SPS: testSPS, PPS: testPPS}}
	audio := &gortmplib.Track{Codec: &codecs.MPEG4Audio{Config: &asc}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{video, audio}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	stamps := []time.Duration{0, ms(33), ms(67), 0, ms(33), time.Hour, time.Hour + ms(33), ms(10), ms(43)}
	for i, d := range stamps {
		if err := w.WriteH264(video, d, d, [][]byte{testIDR}); err != nil {
			t.Fatal(err)
		}
		if err := w.WriteMPEG4Audio(audio, d, []byte{byte(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	ts.waitLive(t, "cam", true)
	sink := ts.sink("cam")
	for _, kind := range []packager.Kind{packager.KindVideo, packager.KindAudio} {
		us := sink.waitUnits(t, kind, len(stamps))
		for i := 1; i < len(us); i++ {
			if us[i].DTS <= us[i-1].DTS {
				t.Errorf("%s unit %d: DTS %v after %v", kind, i, us[i].DTS, us[i-1].DTS)
			}
			if us[i].DTS-us[i-1].DTS > time.Second {
				t.Errorf("%s unit %d: DTS jumps by %v; the stream clock must stay continuous", kind, i, us[i].DTS-us[i-1].DTS)
			}
		}
	}
}

func TestServerRefusesToken(t *testing.T) {
	for _, key := range []string{"cam", "cam?token=nope", "cam?token=" + testToken + "x"} {
		t.Run(key, func(t *testing.T) {
			ts := startTestServer(t, Config{})
			expectRefused(t, ts.Addr(), key, true, "NetStream.Publish.Rejected")
			if _, ok := ts.reg.Get("cam"); ok {
				t.Errorf("stream exists after a refused publish")
			}
			logs := ts.logs.String()
			if !strings.Contains(logs, "publish refused: wrong or missing token") {
				t.Errorf("no refusal log line naming the token:\n%s", logs)
			}
			if strings.Contains(logs, "nope") || strings.Contains(logs, testToken) {
				t.Errorf("a token reached the log:\n%s", logs)
			}
		})
	}
}

// An encoder set to rtmps:// on the plain port is told so in the log.
func TestServerExplainsRTMPS(t *testing.T) {
	ts := startTestServer(t, Config{})
	c := tls.Client(dial(t, ts.Addr()), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // never gets as far as a certificate
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	// The server logs, then closes the connection, which ends the handshake.
	if err := c.Handshake(); err == nil {
		t.Fatal("TLS handshake with a plain RTMP port succeeded")
	}
	if !strings.Contains(ts.logs.String(), "TLS (RTMPS) client") {
		t.Fatalf("no RTMPS hint in the log:\n%s", ts.logs.String())
	}
}

func TestServerRefusesPlay(t *testing.T) {
	ts := startTestServer(t, Config{})
	expectRefused(t, ts.Addr(), "cam", false, "NetStream.Play.Failed")
}

func TestServerRefusesSecondPublisher(t *testing.T) {
	ts := startTestServer(t, Config{})
	first, err := dialClient(t, ts.Addr(), "cam?token="+testToken, true)
	if err != nil {
		t.Fatal(err)
	}
	asc := testASC
	tracks := []*gortmplib.Track{{Codec: &codecs.H264{SPS: testSPS, PPS: testPPS}}, {Codec: &codecs.MPEG4Audio{Config: &asc}}}
	w := &gortmplib.Writer{Conn: first, Tracks: tracks}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	ts.waitLive(t, "cam", true)
	expectRefused(t, ts.Addr(), "cam?token="+testToken, true, "NetStream.Publish.BadName")
	if err := w.WriteH264(tracks[0], 0, 0, [][]byte{testIDR}); err != nil {
		t.Fatalf("first publisher: %v", err)
	}
	ts.sink("cam").waitUnits(t, packager.KindVideo, 1)
}

// A client that sends nothing, or stops in the middle of a chunk, is
// dropped after the timeouts; it holds only its own goroutine meanwhile.
func TestServerDropsStalledClients(t *testing.T) {
	ts := startTestServer(t, Config{HandshakeTimeout: time.Second, ReadTimeout: 200 * time.Millisecond})
	silent := dial(t, ts.Addr())
	midChunk := dial(t, ts.Addr())
	if _, _, err := handshake.DoClient(midChunk, false, false); err != nil {
		t.Fatal(err)
	}
	// A type-0 chunk header on chunk stream 3: a 1000-byte AMF0 command of
	// which 10 bytes come (RTMP chunk format, spec section 5.3.1).
	if _, err := midChunk.Write([]byte{0x03, 0, 0, 0, 0x00, 0x03, 0xE8, 20, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, silent, "silent client")
	waitClosed(t, midChunk, "client stopped mid-chunk")

	// A publisher that stops sending after it began is dropped after
	// ReadTimeout, and its stream starts its grace period.
	c, err := dialClient(t, ts.Addr(), "cam?token="+testToken, true)
	if err != nil {
		t.Fatal(err)
	}
	asc := testASC
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{
		{Codec: &codecs.H264{SPS: testSPS, PPS: testPPS}}, {Codec: &codecs.MPEG4Audio{Config: &asc}},
	}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c.NetConn(), "stalled publisher")
	if _, ok := ts.reg.Get("cam"); !ok {
		t.Fatal("the publisher never published")
	}
	ts.waitLive(t, "cam", false)
}

func TestServerMaxConns(t *testing.T) {
	ts := startTestServer(t, Config{MaxConns: 2})
	// Two clients the server answers (a handshake), so both are counted.
	var served []net.Conn
	for range 2 {
		c := dial(t, ts.Addr())
		_ = c.SetDeadline(time.Now().Add(waitTimeout))
		if _, _, err := handshake.DoClient(c, false, false); err != nil {
			t.Fatal(err)
		}
		served = append(served, c)
	}
	waitClosed(t, dial(t, ts.Addr()), "connection over the limit")
	// Once one leaves, and the server noticed, a new client is served.
	_ = served[0].Close()
	deadline := time.Now().Add(waitTimeout)
	for {
		c := dial(t, ts.Addr())
		_ = c.SetDeadline(time.Now().Add(waitTimeout))
		if _, _, err := handshake.DoClient(c, false, false); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no client served after one left")
		}
	}
}

// Close ends every connection, waits for them, and may be called again.
func TestServerClose(t *testing.T) {
	reg := stream.NewRegistry(stream.Config{GracePeriod: time.Minute, Logger: discard})
	defer reg.Close()
	s, err := New(Config{Addr: "127.0.0.1:0", Registry: reg, Logger: discard})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { done <- s.Serve(ctx) }()
	c, err := dialClient(t, s.Addr(), "cam", true)
	if err != nil {
		t.Fatal(err)
	}
	asc := testASC
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{{Codec: &codecs.MPEG4Audio{Config: &asc}}}}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	idle := dial(t, s.Addr())
	cancel() // Serve's context ending closes the server, like Close
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Serve did not return after its context ended")
	}
	if err := s.Close(); err != nil { // waits for the connections
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	waitClosed(t, idle, "idle connection at close")
	waitClosed(t, c.NetConn(), "publisher at close")
	if st, ok := reg.Get("cam"); ok && st.Live() {
		t.Error("publisher still live after close")
	}
	if err := s.Serve(context.Background()); err == nil {
		t.Error("Serve after Close succeeded")
	}
	if _, err := New(Config{Addr: "127.0.0.1:0"}); err == nil {
		t.Error("New without a registry succeeded")
	}
}
