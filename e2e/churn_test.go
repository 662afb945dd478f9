package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/app"
)

// withDisconnectTimeout sets webrtc.disconnect_timeout: how long a session
// whose peer went silent lives on.
func withDisconnectTimeout(d time.Duration) gatewayOption {
	return func(c *app.Config) { c.WebRTC.DisconnectTimeout = d }
}

// Churn budget. FRONTROW_CHURN_SESSIONS overrides the count; -short runs a
// smaller one.
const (
	churnSessions      = 2000
	churnShortSessions = 300
	churnParallel      = 8
	// churnGoroutines and churnHeap are how far above the baseline (after
	// the first half) the test process may end after the second half: one
	// goroutine or 12 KiB of live heap leaked per session of its 1,000 (a
	// pion peer connection holds far more) exceeds them.
	churnGoroutines = 20
	churnHeap       = 12 << 20
	// churnSettled: the heap fell by less than this in one settle step
	// (100 ms): it has settled.
	churnSettled = 64 << 10
	// churnSources is how many client addresses the sessions' HTTP
	// requests come from (127.0.0.16 on; loopback has all of 127/8), so
	// the tables kept per address (session slots, rate buckets) get many
	// keys, as from many viewers, and must let go of them.
	churnSources = 16
	// churnRegistryWait bounds the wait for the gateway's tables to empty
	// once its sessions are gone: a closing session releases its slots
	// just after it leaves the session map.
	churnRegistryWait = 5 * time.Second
)

// TestChurn opens and closes many WHEP sessions against a live stream, half
// ended by DELETE and half by vanishing (the client's socket closes without
// a DELETE or a DTLS close, so only ICE consent tells), and checks that the
// gateway is back where it started: no sessions, every table kept per
// session or per client address empty again (app.Registries: a leaked entry
// is far below the heap margin), and the goroutines and heap of this
// process (which hosts the gateway) within a small margin of the baseline.
//
// The sessions come in two rounds of half each, on a new stream each time;
// the baseline is taken after the first, the final measurement after the
// second, both between streams (publisher gone, stream ended): a live
// stream's own heap grows for its first ~25 s while the LL-HLS window fills
// (about 0.3 MiB/s under -race), and the first round leaves the runtime's
// goroutine descriptors behind; either would hide or fake a session leak.
//
// A vanished session's client port is often taken by a later client's
// socket while the gateway still serves the old session (a few in a
// thousand sessions here): TestWHEPPortReuse is that case on its own.
func TestChurn(t *testing.T) {
	n := churnSessions
	if testing.Short() {
		n = churnShortSessions
	}
	if s := os.Getenv("FRONTROW_CHURN_SESSIONS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 2 {
			t.Fatalf("FRONTROW_CHURN_SESSIONS=%q: want a number of at least 2", s)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Not lower: pion gives up ICE checking after 1.5x this, and under -race
	// with 16 handshakes at a time on 2 cores a few took over 3 s; 8 at a
	// time and 6 s leave room for a machine busy with other tests.
	const disconnect = 6 * time.Second
	g := startGateway(t, withGrace(0), withDisconnectTimeout(disconnect), withLimits(app.Limits{
		SessionsPerIP: 1 << 20, ViewersPerStream: 1 << 20, Viewers: 1 << 20, PostRate: 1e9, PostBurst: 1 << 20,
	}))
	publish := func() func() {
		pub, stop := startPublisher(t, ctx, g, "live")
		return func() {
			stop()
			del(t, ctx, g.base+pub.location, testToken, http.StatusOK)
			_ = pub.pc.Close()
			if err := waitCond(ctx, func() bool { _, live := g.Registry().Get("live"); return !live }); err != nil {
				t.Fatal("stream live after its publisher left")
			}
		}
	}
	unpublish := publish()
	// A first viewer proves the stream is live and warms up what a session
	// creates once (codec tables, pools) before the baseline.
	warm := newWHEPClient(t, clientAPI(t))
	if err := warm.play(ctx, g.base, "live"); err != nil {
		t.Fatalf("play: %v", err)
	}
	if err := warm.got.waitFor(ctx, "first video", func(v [][][]byte, _ [][]byte) bool { return len(v) > 0 }); err != nil {
		t.Fatal(err)
	}
	del(t, ctx, g.base+warm.location, "", http.StatusOK)
	_ = warm.pc.Close()
	if err := waitCond(ctx, func() bool { return g.WHEPSessions() == 0 }); err != nil {
		t.Fatalf("warm-up viewer still open: %d sessions", g.WHEPSessions())
	}
	unpublish()

	shared, err := leanViewerAPI(nil)
	if err != nil {
		t.Fatal(err)
	}
	sources := newSourceClients(churnSources)
	// Round one takes the process to its peak of goroutines: the Go runtime
	// keeps every goroutine descriptor it ever made (about 0.5 KiB each,
	// 10-25 MiB after 1,000 sessions' peak here), so the baseline is taken
	// after it, and round two, as big, must end where round one did.
	first := n / 2
	churnRound(t, ctx, g, publish, shared, sources, "round 1", first, disconnect)
	http.DefaultClient.CloseIdleConnections()
	sources.closeIdle()
	// The baseline: once the heap stops falling (closed sessions' timers
	// and goroutines wind down over a few seconds), 20 s at most.
	var prevHeap uint64
	baseCtx, baseCancel := context.WithTimeout(ctx, 20*time.Second)
	defer baseCancel()
	goroutines0, heap0 := settle(baseCtx, func(_ int, heap uint64) bool {
		stable := prevHeap != 0 && heap+churnSettled >= prevHeap
		prevHeap = heap
		return stable
	})
	t.Logf("baseline after round 1: %d goroutines, live heap %.1f MiB", goroutines0, mib(heap0))
	churnRound(t, ctx, g, publish, shared, sources, "round 2", n-first, disconnect)
	http.DefaultClient.CloseIdleConnections()
	sources.closeIdle()
	settleCtx, settleCancel := context.WithTimeout(ctx, 20*time.Second)
	defer settleCancel()
	goroutines, heap := settle(settleCtx, func(goroutines int, heap uint64) bool {
		return goroutines <= goroutines0+churnGoroutines && heap <= heap0+churnHeap
	})
	t.Logf("after round 2: %d goroutines (%+d), live heap %.1f MiB (%+.1f MiB)",
		goroutines, goroutines-goroutines0, mib(heap), mib(heap)-mib(heap0))
	if goroutines > goroutines0+churnGoroutines {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("goroutines: %d after churn, baseline %d (margin %d); stacks:\n%s", goroutines, goroutines0, churnGoroutines, buf)
	}
	if heap > heap0+churnHeap {
		t.Errorf("live heap: %.1f MiB after churn, baseline %.1f MiB (margin %.0f MiB)", mib(heap), mib(heap0), mib(churnHeap))
	}
}

// churnRound publishes the stream, opens and ends n sessions against it
// (churnParallel at a time, every other one vanishing, their requests from
// the addresses of sources in turn), waits until the gateway has closed
// them all, checks that its tables hold no more than the publisher's
// entries, unpublishes, and checks that they are empty.
func churnRound(t *testing.T, ctx context.Context, g *gateway, publish func() func(), shared *webrtc.API, sources sourceClients, name string, n int, disconnect time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	unpublish := publish()
	// What the publisher alone holds: the tables must come back to it.
	withPublisher := g.Registries()
	start := time.Now()
	var (
		wg                sync.WaitGroup
		next              atomic.Int64
		deleted, vanished atomic.Int64
		errMu             sync.Mutex
		firstErr          error
	)
	fail := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	for range churnParallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				vanish := i%2 == 1
				if i%200 == 0 {
					r := g.Registries()
					t.Logf("%s %v: session %d, gateway has %d from %d addresses, %d goroutines", name, time.Since(start).Round(time.Millisecond), i, r.WHEPSessions, r.ClientAddresses, runtime.NumGoroutine())
				}
				if err := churnOne(ctx, g, shared, sources[i%len(sources)], vanish); err != nil {
					fail(fmt.Errorf("%s, session %d (vanish %v): %w", name, i, vanish, err))
					return
				}
				if vanish {
					vanished.Add(1)
				} else {
					deleted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatal(firstErr)
	}
	opened := time.Since(start)
	// Vanished sessions end when ICE consent fails: disconnect_timeout after
	// their last packet, plus a check interval.
	if err := waitCond(ctx, func() bool { return g.WHEPSessions() == 0 }); err != nil {
		t.Fatalf("%s: %d WHEP sessions still open %v after the last one was opened (disconnect_timeout %v)", name, g.WHEPSessions(), time.Since(start)-opened, disconnect)
	}
	t.Logf("%s: %d sessions (%d deleted, %d vanished, %d at a time): opened and closed in %v, all gone from the gateway at %v",
		name, n, deleted.Load(), vanished.Load(), churnParallel, opened.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	// The stream still lives, so nothing of the viewers may: its end would
	// close a leaked viewer and hide it. The rate buckets of the sources
	// are kept until a later request sweeps them: at most one each.
	want := withPublisher
	want.RateBuckets = max(withPublisher.RateBuckets, 1) + len(sources)
	checkRegistries(t, ctx, g, name+", viewers gone", want)
	unpublish()
	// The unpublishing DELETE came long after the sources' last request
	// (the vanished sessions' disconnect timeout): it swept their buckets,
	// full again, and only its own is left.
	checkRegistries(t, ctx, g, name+", publisher gone", app.Registries{RateBuckets: 1})
}

// checkRegistries waits until the gateway's per-session and per-address
// tables hold what want says (RateBuckets: at most that many), and reports
// the tables that do not once churnRegistryWait is over.
func checkRegistries(t *testing.T, ctx context.Context, g *gateway, when string, want app.Registries) {
	t.Helper()
	match := func(got app.Registries) bool {
		ok := got.RateBuckets <= want.RateBuckets
		got.RateBuckets = want.RateBuckets
		return ok && got == want
	}
	wctx, cancel := context.WithTimeout(ctx, churnRegistryWait)
	defer cancel()
	var got app.Registries
	if waitCond(wctx, func() bool { got = g.Registries(); return match(got) }) == nil {
		return
	}
	t.Errorf("%s: the gateway's tables did not empty within %v:\n got  %+v\n want %+v (RateBuckets: at most)", when, churnRegistryWait, got, want)
}

// churnOne opens one lean WHEP session, waits until it is connected and
// ends it: by DELETE, or by vanishing (its UDP socket closed first, so
// neither a DELETE nor a DTLS close_notify reaches the gateway). Its HTTP
// requests go through client.
func churnOne(ctx context.Context, g *gateway, shared *webrtc.API, client *http.Client, vanish bool) error {
	api := shared
	var sock net.PacketConn
	if vanish {
		var err error
		if sock, err = net.ListenPacket("udp4", "127.0.0.1:0"); err != nil {
			return err
		}
		defer sock.Close()
		// Reads failing on the socket closed under them are expected: not news.
		quiet := &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}
		mux := webrtc.NewICEUDPMux(quiet.NewLogger("ice"), sock)
		defer mux.Close()
		if api, err = leanViewerAPI(func(s *webrtc.SettingEngine) {
			s.SetICEUDPMux(mux)
			s.LoggerFactory = quiet
		}); err != nil {
			return err
		}
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return err
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
		}
	})
	cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
	defer ccancel()
	loc, err := offerAndPostWith(cctx, client, pc, g.base+"/whep/live")
	if err != nil {
		return err
	}
	if err := waitConnected(cctx, pc); err != nil {
		return err
	}
	if vanish {
		return sock.Close()
	}
	req, err := http.NewRequestWithContext(cctx, http.MethodDelete, g.base+loc, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("DELETE %s: status %d", loc, resp.StatusCode)
	}
	return nil
}

// sourceClients are HTTP clients each sending from its own loopback address.
type sourceClients []*http.Client

// newSourceClients makes n clients, from 127.0.0.16, 127.0.0.17 and on.
func newSourceClients(n int) sourceClients {
	cs := make(sourceClients, n)
	for i := range cs {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(16+i))}}
		cs[i] = &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: churnParallel}}
	}
	return cs
}

// closeIdle closes the clients' idle connections (and their goroutines).
func (cs sourceClients) closeIdle() {
	for _, c := range cs {
		c.CloseIdleConnections()
	}
}

// offerAndPostWith is offerAndPost (no token) with the POST sent by client.
func offerAndPostWith(ctx context.Context, client *http.Client, pc *webrtc.PeerConnection, url string) (location string, err error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", fmt.Errorf("ICE gathering: %w", ctx.Err())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(pc.LocalDescription().SDP))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", fmt.Errorf("POST %s: read answer: %w", url, err)
	}
	if resp.StatusCode != http.StatusCreated {
		return "", &statusErr{code: resp.StatusCode, body: string(body)}
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return "", fmt.Errorf("set answer: %w", err)
	}
	return resp.Header.Get("Location"), nil
}

// TestWHEPPortReuse: a viewer vanishes and a new viewer's socket gets its
// port while the gateway still sends the vanished session media there. The
// new viewer must connect at once (ICE and DTLS), and the old session must
// still end by consent failure. (The gateway's ICE mux once routed the new
// client's packets by address to the old session, and the new one never
// left "connecting".)
func TestWHEPPortReuse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const disconnect = 4 * time.Second
	g := startGateway(t, withGrace(0), withDisconnectTimeout(disconnect))
	_, stop := startPublisher(t, ctx, g, "live")
	defer stop()
	// Each round has a good chance to catch the old mux's race (the old
	// session must write between the new one's packets); the mux's unit
	// test is the deterministic one.
	for round := range 3 {
		old, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a, err := socketViewer(ctx, g, old)
		if err != nil {
			t.Fatalf("round %d: first viewer: %v", round, err)
		}
		if err := a.waitVideo(ctx); err != nil {
			t.Fatalf("round %d: first viewer: %v", round, err)
		}
		// Vanish: the socket closes first, so nothing more is sent.
		addr := old.LocalAddr().String()
		_ = old.Close()
		a.close()
		sock, err := net.ListenPacket("udp4", addr)
		if err != nil {
			t.Fatalf("round %d: rebind %s: %v", round, addr, err)
		}
		start := time.Now()
		b, err := socketViewer(ctx, g, sock)
		if err != nil {
			t.Fatalf("round %d: viewer on the reused port %s (%d sessions on the gateway): %v", round, addr, g.WHEPSessions(), err)
		}
		t.Logf("round %d: viewer on the reused port %s connected in %v", round, addr, time.Since(start).Round(time.Millisecond))
		if got := g.WHEPSessions(); got < 2 {
			t.Fatalf("round %d: %d sessions on the gateway: the vanished one should still be in its disconnect timeout", round, got)
		}
		_ = sock.Close()
		b.close()
	}
	// All of them vanished: all of them end.
	if err := waitCond(ctx, func() bool { return g.WHEPSessions() == 0 }); err != nil {
		t.Fatalf("%d sessions left", g.WHEPSessions())
	}
}

type socketViewerConn struct {
	pc    *webrtc.PeerConnection
	video chan struct{} // closed on the first video packet
	close func()
}

// socketViewer is a lean WHEP viewer on the given socket (its ICE host
// candidate), connected.
func socketViewer(ctx context.Context, g *gateway, sock net.PacketConn) (*socketViewerConn, error) {
	quiet := &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}
	mux := webrtc.NewICEUDPMux(quiet.NewLogger("ice"), sock)
	api, err := leanViewerAPI(func(s *webrtc.SettingEngine) {
		s.SetICEUDPMux(mux)
		s.LoggerFactory = quiet
	})
	if err != nil {
		_ = mux.Close()
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		_ = mux.Close()
		return nil, err
	}
	v := &socketViewerConn{pc: pc, video: make(chan struct{}), close: func() { _ = pc.Close(); _ = mux.Close() }}
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		v.close()
		return nil, err
	}
	var once sync.Once
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Read(buf); err != nil {
				return
			}
			once.Do(func() { close(v.video) })
		}
	})
	cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
	defer ccancel()
	if _, err := offerAndPost(cctx, pc, g.base+"/whep/live", ""); err != nil {
		v.close()
		return nil, err
	}
	if err := waitConnected(cctx, pc); err != nil {
		v.close()
		return nil, err
	}
	return v, nil
}

// waitVideo waits for the first video packet.
func (v *socketViewerConn) waitVideo(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case <-v.video:
		return nil
	case <-ctx.Done():
		return errors.New("no video")
	}
}

// leanViewerAPI is a pion API for a viewer that takes H264 video only, with
// no interceptors: the least a WHEP session can be.
func leanViewerAPI(tweak func(*webrtc.SettingEngine)) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}, PayloadType: 109}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	var s webrtc.SettingEngine
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIncludeLoopbackCandidate(true)
	s.SetIPFilter(func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if tweak != nil {
		tweak(&s)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(&interceptor.Registry{}), webrtc.WithSettingEngine(s)), nil
}

// settle collects garbage and measures goroutines and live heap until ok
// accepts them or ctx ends (nil ok: measure once). Goroutines of closed
// sessions and connections take a moment to return, so a measurement is
// retried rather than taken after a sleep.
func settle(ctx context.Context, ok func(goroutines int, heap uint64) bool) (int, uint64) {
	for {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		n := runtime.NumGoroutine()
		if ok == nil || ok(n, ms.HeapAlloc) {
			return n, ms.HeapAlloc
		}
		select {
		case <-ctx.Done():
			return n, ms.HeapAlloc
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitCond polls cond every 20 ms until it holds or ctx ends.
func waitCond(ctx context.Context, cond func() bool) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			return errors.New("condition not met before the deadline")
		case <-tick.C:
		}
	}
	return nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
