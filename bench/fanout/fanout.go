// Package fanout measures the WebRTC tier under load: one stream, N lean
// WHEP viewers (bench/loadgen) stepping up, and per step what the gateway
// process spent (CPU and memory from /proc), what the viewers lost, how long
// the gateway held packets (its forwarding delay histogram) and how fast a
// viewer joining at that load sees its first frame.
package fanout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/frontrow-live/frontrow/bench/loadgen"
	"github.com/frontrow-live/frontrow/bench/procstat"
)

// Config says what to load and how.
type Config struct {
	WHEPURL    string // the stream's WHEP endpoint
	MetricsURL string // the gateway's Prometheus endpoint
	Stream     string // the stream's name, as labelled in the metrics
	// GatewayPID is the gateway process; 0 means this process (an
	// in-process gateway, whose CPU is then the load generator's too).
	GatewayPID int
	Steps      []int         // viewer counts, rising
	Hold       time.Duration // how long each step is measured
	Probes     int           // viewers joined at each step's load to time the first frame
	Dialers    int           // concurrent WHEP handshakes while ramping; default 8
	// MaxLoss stops the ramp after a step that lost a larger share of
	// packets (or failed to connect that share of its viewers); default 0.05.
	MaxLoss    float64
	Logger     *slog.Logger
	HTTPClient *http.Client
	// DuringHold, when set, runs alongside each step's hold (e.g. to take
	// a CPU profile of the gateway); the step waits for it.
	DuringHold func(ctx context.Context, viewers int, hold time.Duration)
}

// Step is one load level's figures.
type Step struct {
	Viewers int
	Failed  int  // viewers that did not connect or never got a first frame
	Held    bool // loss and failures stayed under MaxLoss
	// Note says why a step did not hold when the figures do not (the
	// gateway lost sessions, or stopped answering its metrics).
	Note string
	// GatewayMilliCPU and LoadgenMilliCPU are each process's average load
	// over the hold, in thousandths of a core.
	GatewayMilliCPU, LoadgenMilliCPU float64
	// RSS is the gateway's resident memory at the end of the hold;
	// RSSPerViewer what it grew per viewer over the no-viewer baseline.
	RSS, RSSPerViewer int64
	// Received and Lost are RTP packets over the hold, all viewers.
	Received, Lost uint64
	LossRate       float64 // Lost / (Received + Lost)
	QueueDrops     uint64  // packets the gateway dropped at full viewer queues
	RxMbitPerView  float64 // received bitrate per viewer, Mbit/s (RTP payload + headers)
	// PacketsPerMessage and PacketsPerCall say how well the gateway's
	// sends batch: datagrams per GSO train and per system call.
	PacketsPerMessage, PacketsPerCall float64
	// ForwardP50 and ForwardP99 are the gateway's arrival-to-send delay.
	ForwardP50, ForwardP99 time.Duration
	// FirstFrameP50/P95: POST to the first keyframe's last packet, for
	// Probes viewers joining at this load; ConnectP50 is POST to DTLS done.
	FirstFrameP50, FirstFrameP95, ConnectP50 time.Duration
}

// MilliCPUPerViewer is the gateway's load divided among the viewers.
func (s Step) MilliCPUPerViewer() float64 {
	if s.Viewers == 0 {
		return 0
	}
	return s.GatewayMilliCPU / float64(s.Viewers)
}

// Result is the baseline (the stream with no viewers) and each step.
type Result struct {
	Baseline Step
	Steps    []Step
}

// Run ramps up the viewers step by step until the steps run out or one
// does not hold, then closes them all.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.Dialers <= 0 {
		cfg.Dialers = 8
	}
	if cfg.MaxLoss <= 0 {
		cfg.MaxLoss = 0.05
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	cert, err := loadgen.NewCertificate()
	if err != nil {
		return Result{}, fmt.Errorf("fanout: %w", err)
	}
	// One drainer reads every viewer's socket in turn: the load generator
	// wakes once per tick, not once per viewer.
	r := &runner{cfg: cfg, cert: cert, first: true, drainer: loadgen.NewDrainer(0)}
	defer r.closeAll()

	var res Result
	if res.Baseline, err = r.measure(ctx, 0); err != nil {
		return res, err
	}
	for _, n := range cfg.Steps {
		st, err := r.step(ctx, n, res.Baseline.RSS)
		if err != nil {
			return res, err
		}
		res.Steps = append(res.Steps, st)
		cfg.Logger.Info("fanout step", "viewers", st.Viewers, "held", st.Held, "gateway_mcpu", int(st.GatewayMilliCPU),
			"mcpu_per_viewer", fmt.Sprintf("%.2f", st.MilliCPUPerViewer()), "loss", fmt.Sprintf("%.3f%%", 100*st.LossRate),
			"forward_p99", st.ForwardP99, "pkts_per_msg", fmt.Sprintf("%.1f", st.PacketsPerMessage), "pkts_per_call", fmt.Sprintf("%.1f", st.PacketsPerCall), "first_frame_p95", st.FirstFrameP95, "loadgen_mcpu", int(st.LoadgenMilliCPU), "note", st.Note)
		if !st.Held {
			break
		}
	}
	return res, nil
}

type runner struct {
	cfg     Config
	cert    *loadgen.Certificate
	viewers []*loadgen.Viewer
	first   bool // no step measured yet
	drainer *loadgen.Drainer
}

// step ramps to n viewers and measures.
func (r *runner) step(ctx context.Context, n int, baseRSS int64) (Step, error) {
	added, failed := r.dial(ctx, n-len(r.viewers))
	r.viewers = append(r.viewers, added...)
	failed += waitFirstFrames(ctx, added, 15*time.Second)
	if err := r.waitGatewayViewers(ctx, len(r.viewers)); err != nil {
		if len(r.viewers) == n && failed == 0 && r.first {
			return Step{}, err // no load to blame: the measurement is broken
		}
		// Overloaded: the gateway dropped sessions or cannot answer.
		return Step{Viewers: len(r.viewers), Failed: failed, Note: err.Error()}, nil
	}
	r.first = false
	st, err := r.measure(ctx, baseRSS)
	if err != nil {
		return Step{Viewers: len(r.viewers), Failed: failed, Note: err.Error()}, nil
	}
	st.Failed = failed
	st.FirstFrameP50, st.FirstFrameP95, st.ConnectP50, err = r.probe(ctx)
	if err != nil {
		return st, err
	}
	st.Held = st.LossRate <= r.cfg.MaxLoss && float64(failed) <= r.cfg.MaxLoss*float64(n)
	return st, nil
}

// dial connects count viewers, cfg.Dialers at a time.
func (r *runner) dial(ctx context.Context, count int) (ok []*loadgen.Viewer, failed int) {
	if count <= 0 {
		return nil, 0
	}
	var mu sync.Mutex
	var firstErr error
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range min(r.cfg.Dialers, count) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
				v, err := loadgen.Dial(dctx, loadgen.Config{URL: r.cfg.WHEPURL, HTTPClient: r.cfg.HTTPClient, Certificate: r.cert, Drainer: r.drainer})
				cancel()
				mu.Lock()
				if err != nil {
					failed++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					ok = append(ok, v)
				}
				mu.Unlock()
			}
		}()
	}
	for range count {
		select {
		case jobs <- struct{}{}:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		r.cfg.Logger.Warn("fanout: viewers failed to connect", "failed", failed, "of", count, "first_err", firstErr)
	}
	return ok, failed
}

// waitFirstFrames waits for every viewer's first frame, up to timeout in
// all, and returns how many never got one.
func waitFirstFrames(ctx context.Context, vs []*loadgen.Viewer, timeout time.Duration) (missing int) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for i, v := range vs {
		select {
		case <-v.FirstFrame():
		case <-deadline.C:
			for _, rest := range vs[i:] {
				select {
				case <-rest.FirstFrame():
				default:
					missing++
				}
			}
			return missing
		case <-ctx.Done():
			return len(vs) - i
		}
	}
	return 0
}

// waitGatewayViewers checks the gateway counts the viewers the load
// generator holds: a mismatch means the measurement is broken.
func (r *runner) waitGatewayViewers(ctx context.Context, want int) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		v, err := scrape(ctx, r.cfg.HTTPClient, r.cfg.MetricsURL, r.cfg.Stream)
		if err == nil && int(v.viewers) == want {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("fanout: the gateway counts %v viewers of %q, the load generator holds %d (last scrape error: %v)",
				v.viewers, r.cfg.Stream, want, err)
		}
	}
}

// reading is everything sampled at one end of a hold.
type reading struct {
	gw, self procstat.Sample
	view     gatewayView
	rx       loadgen.Stats
}

func (r *runner) read(ctx context.Context) (reading, error) {
	var rd reading
	var err error
	if rd.gw, err = procstat.Read(r.cfg.GatewayPID); err != nil {
		return rd, fmt.Errorf("fanout: gateway: %w", err)
	}
	if rd.self, err = procstat.Read(0); err != nil {
		return rd, fmt.Errorf("fanout: load generator: %w", err)
	}
	if rd.view, err = scrape(ctx, r.cfg.HTTPClient, r.cfg.MetricsURL, r.cfg.Stream); err != nil {
		return rd, err
	}
	for _, v := range r.viewers {
		s := v.Stats()
		rd.rx.Packets += s.Packets
		rd.rx.Bytes += s.Bytes
		rd.rx.Lost += s.Lost
	}
	return rd, nil
}

// measure holds the current load for cfg.Hold and returns its figures.
func (r *runner) measure(ctx context.Context, baseRSS int64) (Step, error) {
	before, err := r.read(ctx)
	if err != nil {
		return Step{}, err
	}
	var during sync.WaitGroup
	if r.cfg.DuringHold != nil && len(r.viewers) > 0 {
		during.Add(1)
		go func() {
			defer during.Done()
			r.cfg.DuringHold(ctx, len(r.viewers), r.cfg.Hold)
		}()
	}
	select {
	case <-time.After(r.cfg.Hold):
	case <-ctx.Done():
		during.Wait()
		return Step{}, fmt.Errorf("fanout: %w", ctx.Err())
	}
	after, err := r.read(ctx)
	during.Wait()
	if err != nil {
		return Step{}, err
	}
	n := len(r.viewers)
	st := Step{
		Viewers:         n,
		GatewayMilliCPU: after.gw.Since(before.gw).MilliCPU(),
		LoadgenMilliCPU: after.self.Since(before.self).MilliCPU(),
		RSS:             after.gw.RSS,
		Received:        after.rx.Packets - before.rx.Packets,
		Lost:            after.rx.Lost - before.rx.Lost,
		QueueDrops:      uint64(after.view.drops - before.view.drops),
	}
	if n > 0 {
		st.RSSPerViewer = (after.gw.RSS - baseRSS) / int64(n)
		secs := after.gw.At.Sub(before.gw.At).Seconds()
		st.RxMbitPerView = float64(after.rx.Bytes-before.rx.Bytes) * 8 / 1e6 / secs / float64(n)
	}
	if total := st.Received + st.Lost; total > 0 {
		st.LossRate = float64(st.Lost) / float64(total)
	}
	if n > 0 && st.Received == 0 {
		return st, fmt.Errorf("fanout: %d viewers received nothing in %v", n, r.cfg.Hold)
	}
	if n > 0 && st.GatewayMilliCPU <= 0 {
		return st, errors.New("fanout: the gateway's CPU time did not move: not measuring the gateway")
	}
	if msgs := after.view.trains - before.view.trains; msgs > 0 {
		st.PacketsPerMessage = (after.view.datagrams - before.view.datagrams) / msgs
	}
	if calls := after.view.calls - before.view.calls; calls > 0 {
		st.PacketsPerCall = (after.view.datagrams - before.view.datagrams) / calls
	}
	d := after.view.delay.minus(before.view.delay)
	st.ForwardP50, st.ForwardP99 = d.quantileDuration(0.50), d.quantileDuration(0.99)
	return st, nil
}

// probeSpread is the window over which probe viewers arrive, at random:
// the GOP, so their joins fall on every phase of it as real viewers' do.
const probeSpread = time.Second

// probe joins cfg.Probes viewers at the current load, each at a random
// moment within probeSpread, times their first frame, and lets them go.
func (r *runner) probe(ctx context.Context) (p50, p95, connect50 time.Duration, err error) {
	if r.cfg.Probes <= 0 {
		return 0, 0, 0, nil
	}
	type outcome struct {
		first, connect time.Duration
		err            error
	}
	out := make(chan outcome, r.cfg.Probes)
	for range r.cfg.Probes {
		go func() {
			delay := time.NewTimer(rand.N(probeSpread))
			defer delay.Stop()
			select {
			case <-delay.C:
			case <-ctx.Done():
				out <- outcome{err: ctx.Err()}
				return
			}
			dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			defer cancel()
			v, err := loadgen.Dial(dctx, loadgen.Config{URL: r.cfg.WHEPURL, HTTPClient: r.cfg.HTTPClient, Certificate: r.cert, Drainer: r.drainer})
			if err != nil {
				out <- outcome{err: err}
				return
			}
			defer closeViewers([]*loadgen.Viewer{v})
			select {
			case <-v.FirstFrame():
				s := v.Stats()
				out <- outcome{first: s.FirstFrame, connect: s.Connected}
			case <-dctx.Done():
				out <- outcome{err: fmt.Errorf("no first frame: %w", dctx.Err())}
			}
		}()
	}
	var first, conn []time.Duration
	var errs []error
	for range r.cfg.Probes {
		o := <-out
		if o.err != nil {
			errs = append(errs, o.err)
			continue
		}
		first, conn = append(first, o.first), append(conn, o.connect)
	}
	if len(errs) > 0 {
		return 0, 0, 0, fmt.Errorf("fanout: %d of %d probe viewers failed at %d viewers: %w", len(errs), r.cfg.Probes, len(r.viewers), errs[0])
	}
	return quantile(first, 0.5), quantile(first, 0.95), quantile(conn, 0.5), nil
}

func (r *runner) closeAll() {
	closeViewers(r.viewers)
	r.viewers = nil
}

// closeViewers closes viewers 16 at a time (each DELETEs its session).
func closeViewers(vs []*loadgen.Viewer) {
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for _, v := range vs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = v.Close() // best effort at the end of a benchmark: the gateway times out what is left
		}()
	}
	wg.Wait()
}

// quantile is the nearest-rank q-quantile of ds (0 when empty).
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.SortFunc(s, cmp.Compare)
	i := int(q*float64(len(s)) + 0.5)
	return s[min(max(i-1, 0), len(s)-1)]
}
