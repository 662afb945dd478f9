package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/packager"
)

// dropUDPTo drops UDP to port on this machine (loopback included) with an
// nftables table of the test's own, deleted when the test ends, failed or
// not. Without nft (or its rights) the test is skipped outside CI.
func dropUDPTo(t *testing.T, port int) {
	t.Helper()
	nft, err := exec.LookPath("nft")
	if err == nil && os.Geteuid() != 0 {
		err = fmt.Errorf("nft needs root")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("nftables: %v (CI=true: scripts/install-test-clients.sh installs it)", err)
		}
		logMissingClient(t, "nft")
		t.Skipf("nftables not usable (%v): apt-get install nftables, run as root", err)
	}
	table := "frontrow_e2e_" + strconv.Itoa(os.Getpid()) + "_" + strconv.Itoa(port)
	run := func(args ...string) error {
		if out, err := exec.Command(nft, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("nft %v: %v: %s", args, err, out)
		}
		return nil
	}
	if err := run("add", "table", "inet", table); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := run("delete", "table", "inet", table); err != nil {
			t.Errorf("remove the test's nftables rule: %v", err)
		}
	})
	if err := run("add", "chain", "inet", table, "in", "{ type filter hook input priority 0; }"); err != nil {
		t.Fatal(err)
	}
	if err := run("add", "rule", "inet", table, "in", "udp", "dport", strconv.Itoa(port), "drop"); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserICETCP: on a network that drops UDP (an nftables rule drops
// every datagram to the gateway's UDP port), Chromium still plays over
// WebRTC: the gateway offers a passive ICE-TCP candidate (RFC 6544), below
// its UDP one, and the browser's selected pair runs over TCP.
func TestBrowserICETCP(t *testing.T) {
	br := startBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	// The demo publishes inside the gateway: the rule drops no publisher's
	// packets, only the browser's.
	g := startGateway(t, withDemo())
	udp, ok := g.UDPAddr().(*net.UDPAddr)
	if !ok {
		t.Fatalf("gateway UDP address %v", g.UDPAddr())
	}
	dropUDPTo(t, udp.Port)
	p := br.open(t, ctx, g.base+"/healthz")
	var play struct {
		FirstFrameMs float64
		Pair         *struct{ ID, State, Protocol, Local, Remote string }
	}
	start := time.Now()
	if err := p.call(ctx, "whepPlay", map[string]any{"url": g.base + "/whep/demo", "timeoutMs": 15000}, &play); err != nil {
		t.Fatalf("no picture with UDP dropped: %v", err)
	}
	if play.Pair == nil || play.Pair.Protocol != "tcp" {
		t.Fatalf("selected pair %+v, want one over tcp", play.Pair)
	}
	var frames struct {
		Frames   int
		MaxGapMs float64
	}
	if err := p.call(ctx, "whepFrames", map[string]any{"from": play.FirstFrameMs, "min": 60, "timeoutMs": 10000}, &frames); err != nil {
		t.Fatal(err)
	}
	t.Logf("over ICE-TCP (%s -> %s): first frame %v after the POST (%v in all), then %d frames, longest gap %.0f ms",
		play.Pair.Local, play.Pair.Remote, time.Duration(play.FirstFrameMs*float64(time.Millisecond)).Round(time.Millisecond),
		time.Since(start).Round(time.Millisecond), frames.Frames, frames.MaxGapMs)
}

// TestBrowserWHIPICETCP: a publisher on a network that drops UDP still
// publishes over WHIP: the publishers' ICE agents share the passive ICE-TCP
// port, and Chromium's camera reaches the stream over TCP.
func TestBrowserWHIPICETCP(t *testing.T) {
	br := startBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	g := startGateway(t)
	udp, ok := g.UDPAddr().(*net.UDPAddr)
	if !ok {
		t.Fatalf("gateway UDP address %v", g.UDPAddr())
	}
	dropUDPTo(t, udp.Port)
	p := br.open(t, ctx, g.base+"/healthz")
	start := time.Now()
	if err := p.call(ctx, "publish", map[string]any{"url": g.base + "/whip/tcp", "token": testToken, "timeoutMs": 15000}, nil); err != nil {
		t.Fatalf("no WHIP publish with UDP dropped: %v", err)
	}
	connected := time.Since(start)
	// Its video comes in: 100 packets.
	if err := waitCond(ctx, func() bool {
		s, ok := g.Registry().Get("tcp")
		return ok && s.Counters().In[packager.KindVideo].Packets >= 100
	}); err != nil {
		t.Fatalf("no video from the publisher over ICE-TCP: %v", err)
	}
	t.Logf("published over ICE-TCP: connected %v after the page asked, 100 video packets in by %v",
		connected.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
}
