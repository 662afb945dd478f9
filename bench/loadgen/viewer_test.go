package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/app"
	"github.com/frontrow-live/frontrow/internal/gatewaytest"
)

// startGateway runs a frontrow instance on loopback with the demo stream,
// as e2e's startGateway does, and stops it when the test ends.
func startGateway(t testing.TB, opts ...func(*app.Config)) (*app.App, string) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("FRONTROW_TEST_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	cfg := gatewaytest.Config(t.TempDir())
	cfg.Demo, cfg.Logger = true, logger
	for _, o := range opts {
		o(&cfg)
	}
	a := gatewaytest.Start(t, cfg)
	waitFor(t, 10*time.Second, "demo stream live", func() bool {
		st, ok := a.Registry().Get(app.DemoStream)
		return ok && st.Live()
	})
	return a, "http://" + a.HTTPAddr().String()
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		<-tick.C
	}
}

// dialAll starts n viewers concurrently, at most par at a time.
func dialAll(ctx context.Context, t testing.TB, n, par int, cfg Config) []*Viewer {
	t.Helper()
	viewers := make([]*Viewer, n)
	errs := make([]error, n)
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			viewers[i], errs[i] = Dial(ctx, cfg)
		}()
	}
	wg.Wait()
	t.Cleanup(func() { closeAll(t, viewers) })
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("dial: %v", err)
	}
	return viewers
}

// closeAll closes viewers concurrently, as an orchestrator would.
func closeAll(t testing.TB, viewers []*Viewer) {
	t.Helper()
	errs := make([]error, len(viewers))
	var wg sync.WaitGroup
	for i, v := range viewers {
		if v == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = v.Close()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Errorf("close: %v", err)
	}
}

func sum(viewers []*Viewer) Stats {
	var s Stats
	for _, v := range viewers {
		st := v.Stats()
		s.Packets += st.Packets
		s.Bytes += st.Bytes
		s.Video += st.Video
		s.Audio += st.Audio
		s.Lost += st.Lost
		s.RTCP += st.RTCP
		s.Trains += st.Trains
		s.DecryptErrors += st.DecryptErrors
	}
	return s
}

// TestViewers holds 20 viewers of the demo stream on an in-process gateway
// whose ICE gives up on a silent peer after 3 s, half of them on a shared
// Drainer, and checks: every viewer gets its first keyframe, then video
// and audio; they stay connected past the disconnect timeout (consent
// checks answered); what they count is what the gateway says it sent (the
// gateway sends UDP GSO trains, which the viewers' kernel leaves whole and
// the viewers cut up); Close deletes every session.
func TestViewers(t *testing.T) {
	const n = 20
	const disconnect = 3 * time.Second
	g, base := startGateway(t, func(c *app.Config) { c.WebRTC.DisconnectTimeout = disconnect })
	cert, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	goroutines := runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := Config{URL: base + "/whep/" + app.DemoStream, HTTPClient: client, Certificate: cert}
	shared := cfg
	shared.Drainer = NewDrainer(0)
	viewers := append(dialAll(ctx, t, n/2, n, cfg), dialAll(ctx, t, n-n/2, n, shared)...)
	connectedAt := time.Now()
	if got := g.WHEPSessions(); got != n {
		t.Errorf("gateway has %d WHEP sessions, want %d", got, n)
	}

	// (1) First keyframe, then both kinds of packets.
	var maxConn, maxFirst time.Duration
	for i, v := range viewers {
		select {
		case <-v.FirstFrame():
		case <-ctx.Done():
			t.Fatalf("viewer %d: no first frame: %+v", i, v.Stats())
		}
		st := v.Stats()
		if st.FirstFrame <= 0 || st.FirstFrame < st.Connected {
			t.Errorf("viewer %d: FirstFrame %v, Connected %v", i, st.FirstFrame, st.Connected)
		}
		maxConn, maxFirst = max(maxConn, st.Connected), max(maxFirst, st.FirstFrame)
	}
	t.Logf("%d viewers: slowest connected after %v, slowest first frame after %v", n, maxConn, maxFirst)
	waitFor(t, 5*time.Second, "video and audio on every viewer", func() bool {
		for _, v := range viewers {
			if st := v.Stats(); st.Video == 0 || st.Audio == 0 {
				return false
			}
		}
		return true
	})

	// (3) Consent: the gateway drops a peer that stops answering its checks
	// after the disconnect timeout. Past it, every viewer still receives.
	<-time.After(time.Until(connectedAt.Add(disconnect + time.Second)))
	before := make([]uint64, n)
	for i, v := range viewers {
		before[i] = v.Stats().Packets
	}
	waitFor(t, 3*time.Second, "packets on every viewer after the disconnect timeout", func() bool {
		for i, v := range viewers {
			if v.Stats().Packets <= before[i] {
				return false
			}
		}
		return true
	})
	if runtime.GOOS == "linux" {
		for i, v := range viewers {
			v.sockMu.Lock()
			if !v.detached {
				t.Errorf("viewer %d still reads packet by packet", i)
			}
			v.sockMu.Unlock()
		}
	}
	if got := g.WHEPSessions(); got != n {
		t.Fatalf("after %v the gateway has %d WHEP sessions, want %d: consent checks not answered?",
			time.Since(connectedAt).Round(time.Millisecond), got, n)
	}

	// (2) What the viewers count is what the gateway sent them. Counters
	// are read around the sum; packets in flight make the viewers' sum
	// briefly lower, so poll for a moment when it fits.
	st, ok := g.Registry().Get(app.DemoStream)
	if !ok {
		t.Fatal("demo stream gone")
	}
	tol := uint64(2 * n)
	var sent1, sent2 uint64
	var got Stats
	deadline := time.Now().Add(3 * time.Second)
	for {
		sent1 = st.Counters().Viewers.Sent.Packets
		got = sum(viewers)
		sent2 = st.Counters().Viewers.Sent.Packets
		if got.Packets+tol >= sent1 && got.Packets <= sent2+uint64(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("viewers counted %d packets, gateway sent %d..%d (tolerance %d)", got.Packets, sent1, sent2, tol)
		}
		time.Sleep(5 * time.Millisecond)
	}
	vc := st.Counters().Viewers
	t.Logf("viewers counted %d packets (%d video, %d audio, %d RTCP, %d bytes; %d GRO trains), gateway sent %d..%d; lost %d, gateway dropped %d",
		got.Packets, got.Video, got.Audio, got.RTCP, got.Bytes, got.Trains, sent1, sent2, got.Lost, vc.Dropped)
	for i, v := range viewers {
		if v.gro && v.Stats().Trains == 0 {
			t.Errorf("viewer %d (drainer %v): UDP_GRO on, yet no train came whole", i, v.drainer != nil)
		}
	}
	if got.Video+got.Audio != got.Packets {
		t.Errorf("video %d + audio %d != packets %d", got.Video, got.Audio, got.Packets)
	}
	if got.DecryptErrors != 0 {
		t.Errorf("%d packets failed SRTP authentication", got.DecryptErrors)
	}
	if got.Lost > got.Packets/100+uint64(n) {
		t.Errorf("lost %d of %d packets", got.Lost, got.Packets)
	}

	// (4) Close DELETEs the sessions, and leaves nothing running.
	closeAll(t, viewers)
	waitFor(t, 5*time.Second, "gateway sessions gone after Close", func() bool { return g.WHEPSessions() == 0 })
	for _, v := range viewers {
		if err := v.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	}
	client.CloseIdleConnections()
	waitFor(t, 10*time.Second, fmt.Sprintf("goroutines back to %d", goroutines), func() bool {
		return runtime.NumGoroutine() <= goroutines
	})
}

// TestDialErrors: what cannot become a session fails Dial with an error
// that says why, and leaves nothing behind.
func TestDialErrors(t *testing.T) {
	_, base := startGateway(t)
	cert, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, url string
		want      []string
	}{
		{"stream not live", base + "/whep/nosuchstream", []string{"409", "not live"}},
		{"no such resource", base + "/whep/", []string{"404"}},
		{"nobody listening", "http://127.0.0.1:1/whep/demo", []string{"connection refused"}},
		{"not a URL", "::", []string{"bad URL"}},
		{"not http", "ftp://127.0.0.1/whep/demo", []string{"bad URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			v, err := Dial(ctx, Config{URL: tc.url, Certificate: cert})
			if err == nil {
				_ = v.Close()
				t.Fatal("Dial succeeded")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "loadgen: ") {
				t.Errorf("error %q does not say where it is from", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			t.Logf("%s: %v", tc.name, err)
		})
	}
}

// TestDialCleansUp: a session the gateway created is DELETEd when the rest
// of Dial fails, and the reasons are clear. A fake WHEP server answers
// with what each case needs.
func TestDialCleansUp(t *testing.T) {
	blackhole, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer blackhole.Close()
	hole := blackhole.LocalAddr().(*net.UDPAddr)
	silent := strings.ReplaceAll(answerSDP, "127.0.0.1 5000", fmt.Sprintf("127.0.0.1 %d", hole.Port))
	cert, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, location, answer string
		want                   string
		deleted                string // the path DELETEd, if any
	}{
		{"ICE never answered", "/whep/x/s1", silent, "loadgen: ice: no binding success", "/whep/x/s1"},
		{"answer not SDP", "s2", "hello", "loadgen: answer is not valid SDP", "/whep/s2"}, // relative to /whep/x
		{"no Location", "", silent, "201 without a Location header", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var deleted []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.Method {
				case http.MethodPost:
					if tc.location != "" {
						w.Header().Set("Location", tc.location)
					}
					w.Header().Set("Content-Type", "application/sdp")
					w.WriteHeader(http.StatusCreated)
					_, _ = io.WriteString(w, tc.answer)
				case http.MethodDelete:
					mu.Lock()
					deleted = append(deleted, r.URL.Path)
					mu.Unlock()
				}
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			_, err := Dial(ctx, Config{URL: srv.URL + "/whep/x", Certificate: cert, HTTPClient: srv.Client()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Dial: %v; want an error with %q", err, tc.want)
			}
			t.Log(err)
			mu.Lock()
			defer mu.Unlock()
			want := []string{}
			if tc.deleted != "" {
				want = append(want, tc.deleted)
			}
			if fmt.Sprint(deleted) != fmt.Sprint(want) {
				t.Errorf("DELETEs %v, want %v", deleted, want)
			}
		})
	}
}
