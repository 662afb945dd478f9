package e2e

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

// arrivals records when each video packet of a WHEP viewer arrived.
type arrivals struct {
	mu   sync.Mutex
	seq  []uint16
	at   []time.Time
	more chan struct{}
}

// watch plays stream on a pion viewer that reads and records its video.
func watch(t *testing.T, ctx context.Context, g *gateway, stream string) *arrivals {
	t.Helper()
	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	a := &arrivals{more: make(chan struct{})}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			a.mu.Lock()
			a.seq = append(a.seq, pkt.SequenceNumber)
			a.at = append(a.at, time.Now())
			close(a.more)
			a.more = make(chan struct{})
			a.mu.Unlock()
		}
	})
	if _, err := offerAndPost(ctx, pc, g.base+"/whep/"+stream, ""); err != nil {
		t.Fatalf("play: %v", err)
	}
	return a
}

// waitPackets waits until n packets have arrived.
func (a *arrivals) waitPackets(ctx context.Context, n int) error {
	for {
		a.mu.Lock()
		got, more := len(a.seq), a.more
		a.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-more:
		case <-ctx.Done():
			return &timeoutErr{what: strconv.Itoa(n) + " video packets"}
		}
	}
}

// window is what arrived in [from, to): packets lost (sequence gaps),
// packets, and the 99th percentile and largest gap between arrivals.
func (a *arrivals) window(from, to time.Time) (lost, n int, p99, worst time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var gaps []time.Duration
	for i := 1; i < len(a.seq); i++ {
		if a.at[i].Before(from) || !a.at[i].Before(to) {
			continue
		}
		n++
		switch d := a.seq[i] - a.seq[i-1]; {
		case d > 1 && d < 0x8000:
			lost += int(d) - 1
		}
		gaps = append(gaps, a.at[i].Sub(a.at[i-1]))
	}
	if len(gaps) == 0 {
		return lost, n, 0, 0
	}
	slices.Sort(gaps)
	return lost, n, gaps[len(gaps)*99/100], gaps[len(gaps)-1]
}

// TestSlowViewerDoesNotHurtOthers: a viewer that stops reading does not
// raise another viewer's loss or delay. The healthy viewer is measured for
// 3 s alone, then for 3 s with a stuck viewer on the same stream, whose
// pion client never reads its tracks (so its receive buffers fill and
// packets pile up there).
//
// On loopback the gateway's UDP writes to the stuck viewer never block (the
// kernel and the client's buffers drop what it does not read), so the
// gateway's per-viewer queue (the viewer_queue_full drops) is not what this
// test reaches: the queue is covered by gateway/whep's unit tests. What it
// asserts is what the healthy viewer sees.
func TestSlowViewerDoesNotHurtOthers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	g := startGateway(t)
	startPublisher(t, ctx, g, "live")
	healthy := watch(t, ctx, g, "live")
	if err := healthy.waitPackets(ctx, 50); err != nil {
		t.Fatal(err)
	}
	const span = 3 * time.Second
	const maxP99 = 100 * time.Millisecond
	measure := func(what string) (lost int, p99 time.Duration) {
		t.Helper()
		from := time.Now()
		to := from.Add(span)
		// Wait for the first packet after the span (video never pauses
		// for a second on this stream): no sleep, an event.
		healthy.mu.Lock()
		have := len(healthy.seq)
		healthy.mu.Unlock()
		for {
			if err := healthy.waitPackets(ctx, have+1); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			healthy.mu.Lock()
			have = len(healthy.seq)
			last := healthy.at[have-1]
			healthy.mu.Unlock()
			if !last.Before(to) {
				break
			}
		}
		lost, n, p99, worst := healthy.window(from, to)
		t.Logf("%s: %d packets in %v, %d lost, inter-arrival p99 %v, worst %v", what, n, span, lost, p99.Round(time.Microsecond), worst.Round(time.Microsecond))
		if n < 100 {
			t.Fatalf("%s: only %d video packets in %v", what, n, span)
		}
		return lost, p99
	}
	lostAlone, p99Alone := measure("healthy viewer alone")

	stuckPC, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stuckPC.Close() })
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := stuckPC.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) }) // runs before stuckPC.Close: the handlers return
	tracks := make(chan struct{}, 2)
	stuckPC.OnTrack(func(*webrtc.TrackRemote, *webrtc.RTPReceiver) {
		tracks <- struct{}{}
		<-stuck // never reads
	})
	if _, err := offerAndPost(ctx, stuckPC, g.base+"/whep/live", ""); err != nil {
		t.Fatalf("stuck viewer: %v", err)
	}
	select {
	case <-tracks:
	case <-ctx.Done():
		t.Fatal("stuck viewer got no track")
	}
	lostStuck, p99Stuck := measure("healthy viewer beside a stuck one")

	if lostAlone != 0 || lostStuck != 0 {
		t.Errorf("healthy viewer lost packets: %d alone, %d beside the stuck viewer", lostAlone, lostStuck)
	}
	if p99Stuck > maxP99 {
		t.Errorf("healthy viewer's inter-arrival p99 beside the stuck viewer is %v (alone %v), want under %v", p99Stuck, p99Alone, maxP99)
	}
	if g.WHEPSessions() != 2 {
		t.Errorf("WHEP sessions: %d, want both viewers still on", g.WHEPSessions())
	}
	t.Logf("viewer_queue_full drops so far: %s", dropsQueueFull(t, ctx, g))
}

var queueFullRe = regexp.MustCompile(`(?m)^frontrow_drops_total\{[^}]*reason="viewer_queue_full"[^}]*\} (\S+)$`)

// dropsQueueFull reads frontrow_drops_total{reason="viewer_queue_full"}
// from /metrics ("none" when absent).
func dropsQueueFull(t *testing.T, ctx context.Context, g *gateway) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if m := queueFullRe.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return "none"
}
