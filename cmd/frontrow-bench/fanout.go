package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/frontrow-live/frontrow/bench/fanout"
	"github.com/frontrow-live/frontrow/bench/loadgen"
	"github.com/frontrow-live/frontrow/bench/report"
	"github.com/frontrow-live/frontrow/testdata"
)

const benchStream = "bench"

// benchFanout runs the WebRTC fan-out against the gateway binary.
func benchFanout(ctx context.Context, o options, log *slog.Logger) (tbl report.Table, err error) {
	dir, err := os.MkdirTemp("", "frontrow-bench-")
	if err != nil {
		return tbl, err
	}
	defer os.RemoveAll(dir)
	g, err := startGateway(ctx, o.gateway, dir)
	if err != nil {
		return tbl, err
	}
	defer func() { err = errors.Join(err, g.stop()) }()

	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	pub, err := loadgen.Publish(pctx, loadgen.PublisherConfig{URL: g.base + "/whip/" + benchStream, Token: benchToken, MP4: testdata.BenchMP4})
	cancel()
	if err != nil {
		return tbl, err
	}
	defer func() { err = errors.Join(err, pub.Close()) }()
	log.Info("bench: publishing", "stream", benchStream, "gateway", g.base, "pid", g.pid())

	cfg := fanout.Config{
		WHEPURL: g.base + "/whep/" + benchStream, MetricsURL: g.base + "/metrics", Stream: benchStream,
		GatewayPID: g.pid(), Steps: o.steps, Hold: o.hold, Probes: o.probes, Logger: log,
	}
	if o.cpuprofile != "" {
		cfg.DuringHold = func(ctx context.Context, viewers int, hold time.Duration) {
			heap := fmt.Sprintf("%s-%d.heap", o.cpuprofile, viewers)
			if err := g.heapProfile(ctx, heap); err != nil {
				log.Warn("bench: gateway heap profile", "err", err)
			}
			path := fmt.Sprintf("%s-%d.pprof", o.cpuprofile, viewers)
			if err := g.profile(ctx, hold-time.Second, path); err != nil {
				log.Warn("bench: gateway CPU profile", "err", err)
				return
			}
			log.Info("bench: gateway CPU profile", "viewers", viewers, "file", path)
		}
	}
	res, err := fanout.Run(ctx, cfg)
	if err != nil {
		return tbl, err
	}
	return fanoutTable(res, o), nil
}

func fanoutTable(res fanout.Result, o options) report.Table {
	ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) }
	mib := func(b int64) string { return strconv.FormatFloat(float64(b)/(1<<20), 'f', 1, 64) }
	t := report.Table{
		Title: "WebRTC fan-out: one WHIP publisher (testdata/bench-h264-opus.mp4, ~1.6 Mbit/s), N lean WHEP viewers",
		Header: []string{"viewers", "held", "gateway mCPU", "mCPU/viewer", "RSS MiB", "KiB/viewer", "loss %", "queue drops",
			"Mbit/s/viewer", "pkts/msg", "pkts/call", "fwd p50 ms", "fwd p99 ms", "1st frame p50 ms", "1st frame p95 ms", "connect p50 ms", "loadgen mCPU"},
	}
	b := res.Baseline
	t.Rows = append(t.Rows, []string{"0", "-", fmt.Sprintf("%.0f", b.GatewayMilliCPU), "-", mib(b.RSS), "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-",
		fmt.Sprintf("%.0f", b.LoadgenMilliCPU)})
	var stepNotes []string
	for _, s := range res.Steps {
		held := "yes"
		if !s.Held {
			held = fmt.Sprintf("no (%d failed)", s.Failed)
		}
		if s.Note != "" {
			stepNotes = append(stepNotes, fmt.Sprintf("%d viewers did not hold: %s", s.Viewers, s.Note))
			if s.Received == 0 { // not measured: no figures to show
				row := []string{strconv.Itoa(s.Viewers), held}
				for len(row) < len(t.Header) {
					row = append(row, "-")
				}
				t.Rows = append(t.Rows, row)
				continue
			}
		}
		t.Rows = append(t.Rows, []string{
			strconv.Itoa(s.Viewers), held, fmt.Sprintf("%.0f", s.GatewayMilliCPU), fmt.Sprintf("%.2f", s.MilliCPUPerViewer()),
			mib(s.RSS), strconv.FormatInt(s.RSSPerViewer>>10, 10), fmt.Sprintf("%.3f", 100*s.LossRate), strconv.FormatUint(s.QueueDrops, 10),
			fmt.Sprintf("%.2f", s.RxMbitPerView), fmt.Sprintf("%.1f", s.PacketsPerMessage), fmt.Sprintf("%.1f", s.PacketsPerCall), ms(s.ForwardP50), ms(s.ForwardP99),
			ms(s.FirstFrameP50), ms(s.FirstFrameP95), ms(s.ConnectP50), fmt.Sprintf("%.0f", s.LoadgenMilliCPU),
		})
	}
	t.Notes = []string{
		fmt.Sprintf("Each step held %v after every viewer had its first frame; CPU and RSS of the gateway process from /proc; "+
			"mCPU/viewer is the whole gateway's load (ingest and packager included) divided by the viewers; KiB/viewer is RSS growth over the no-viewer row.", o.hold),
		"Loss: RTP sequence gaps seen by the viewers (UDP drops and gateway queue drops alike); queue drops: packets the gateway dropped at full viewer queues.",
		"pkts/msg and pkts/call: datagrams per UDP GSO train and per sendmmsg call on the gateway's shared socket. fwd: the gateway's arrival-to-send delay histogram (frontrow_webrtc_forward_delay_seconds), interpolated within buckets.",
		fmt.Sprintf("1st frame: %d viewers joined at the step's load, POST to the last packet of their first keyframe. "+
			"The publisher plays a file and answers the gateway's keyframe requests as an encoder does (it rewinds to its GOP's IDR), so a joiner waits one request, not a GOP.", o.probes),
		"loadgen mCPU: the benchmark process (publisher and all viewers: real ICE, DTLS and SRTP keys, packets counted without decrypting).",
	}
	t.Notes = append(t.Notes, stepNotes...)
	return t
}
