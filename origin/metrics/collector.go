package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Stream is one stream's figures at scrape time: totals since the stream
// started (counters) and its state now (gauges).
type Stream struct {
	Name string
	// Live: a publisher is connected; Protocol is its ingest (whip, rtmp, demo).
	Live     bool
	Protocol string
	// Viewers are the WebRTC viewers now. LL-HLS viewers are not sessions
	// (a CDN carries them); HLSWaiting counts the blocked playlist and part
	// requests in flight instead.
	Viewers    int
	HLSWaiting int
	// In is what the publishers sent, by track kind ("video", "audio").
	In map[string]Traffic
	// Out is what went to WebRTC viewers.
	Out Traffic
	// Drops count by reason (viewer_queue_full, ingest_incomplete_unit,
	// packager, audio_bridge_queue_full, audio_bridge_corrupt, audio_bridge_late).
	Drops map[string]uint64
	// NACKs: sequence numbers viewers asked for again; Retransmits: those
	// still buffered and sent again.
	NACKs, Retransmits uint64
	// ViewerKeyframeRequests: PLIs and FIRs from viewers;
	// KeyframeRequests: keyframe requests sent to the publisher (rate-limited).
	ViewerKeyframeRequests, KeyframeRequests uint64
	// Parts and Segments the packager published.
	Parts, Segments uint64
	Transcoder      Transcoder
	// ForwardDelay: WebRTC packets from arrival at the gateway to being
	// sent to a viewer.
	ForwardDelay Histogram
}

// Histogram is a fixed-bucket histogram: Counts[i] observations were at
// most Bounds[i] seconds (and above the bound before); the one extra count
// at the end is beyond every bound.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Sum    float64
}

// Traffic counts packets (RTP packets, or RTMP access units) and payload bytes.
type Traffic struct{ Packets, Bytes uint64 }

// Transcoder is a stream's audio bridge.
type Transcoder struct {
	// State: "transcoding" (From to To), "unsupported" (audio that needs
	// the bridge cannot have it), or "none" (the audio fits both tiers, or
	// there is none).
	State    string
	From, To string
	// In and Out count audio frames into and out of the bridge.
	In, Out uint64
}

// Transcoder states.
const (
	TranscoderNone        = "none"
	TranscoderRunning     = "transcoding"
	TranscoderUnsupported = "unsupported"
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// streamCollector turns the stream snapshots into series at scrape time.
type streamCollector struct {
	cfg Config

	streams, publishers, viewers, hlsWaiting                *prometheus.Desc
	inPackets, inBytes, outPackets, outBytes, drops         *prometheus.Desc
	nacks, retransmits, viewerKeyReqs, keyReqs, parts, segs *prometheus.Desc
	transcoder, transcoderFrames, forwardDelay              *prometheus.Desc
	udpDatagrams, udpTrains, udpCalls, udpDropped           *prometheus.Desc
}

func newStreamCollector(cfg Config) *streamCollector {
	return &streamCollector{
		cfg:        cfg,
		streams:    desc("streams", "Streams, live or in their grace period."),
		publishers: desc("publishers", "Connected publishers, by ingest protocol.", "protocol"),
		viewers: desc("viewers", "Viewers now, by tier and stream (WebRTC only: LL-HLS viewers are not sessions).",
			"tier", "stream"),
		hlsWaiting: desc("hls_blocked_requests", "Blocking LL-HLS playlist and part requests waiting now.", "stream"),
		inPackets:  desc("ingest_packets_total", "Packets from publishers (RTP packets; RTMP access units).", "stream", "kind"),
		inBytes:    desc("ingest_bytes_total", "Payload bytes from publishers.", "stream", "kind"),
		outPackets: desc("egress_packets_total", "RTP packets sent to viewers.", "stream", "tier"),
		outBytes:   desc("egress_bytes_total", "RTP payload bytes sent to viewers.", "stream", "tier"),
		drops: desc("drops_total", "Packets, units or audio frames dropped, by reason: viewer_queue_full, "+
			"ingest_incomplete_unit, packager, audio_bridge_queue_full, audio_bridge_corrupt, audio_bridge_late.",
			"stream", "reason"),
		nacks:         desc("webrtc_nacks_received_total", "Sequence numbers WebRTC viewers NACKed (RFC 4585 section 6.2.1).", "stream"),
		retransmits:   desc("webrtc_retransmissions_total", "Packets retransmitted to WebRTC viewers from the stream's buffer.", "stream"),
		viewerKeyReqs: desc("webrtc_keyframe_requests_received_total", "PLIs and FIRs received from WebRTC viewers.", "stream"),
		keyReqs:       desc("keyframe_requests_sent_total", "Keyframe requests (PLI for WHIP) sent to the publisher, rate-limited.", "stream"),
		parts:         desc("hls_parts_total", "LL-HLS parts published, all renditions.", "stream"),
		segs:          desc("hls_segments_total", "LL-HLS segments closed, all renditions.", "stream"),
		transcoder: desc("audio_transcoder", "The stream's audio bridge: 1 for its state (transcoding, unsupported, none).",
			"stream", "state", "from", "to"),
		transcoderFrames: desc("audio_transcoder_frames_total", "Audio frames into (in) and out of (out) the stream's audio bridge.",
			"stream", "direction"),
		udpDatagrams: desc("webrtc_udp_datagrams_sent_total", "Datagrams sent on the shared WebRTC socket."),
		udpTrains:    desc("webrtc_udp_messages_sent_total", "Messages those datagrams went in: UDP GSO trains of one peer's packets, or single datagrams."),
		udpCalls:     desc("webrtc_udp_send_calls_total", "System calls (sendmmsg) that sent them."),
		udpDropped:   desc("webrtc_udp_send_dropped_total", "Datagrams dropped on the way out: send queue full, or refused by the kernel."),
		forwardDelay: desc("webrtc_forward_delay_seconds",
			"Time from a packet's arrival at the gateway to its encryption and send to a WebRTC viewer (first transmissions).", "stream"),
	}
}

func (c *streamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.streams, c.publishers, c.viewers, c.hlsWaiting, c.inPackets, c.inBytes, c.outPackets, c.outBytes,
		c.drops, c.nacks, c.retransmits, c.viewerKeyReqs, c.keyReqs, c.parts, c.segs, c.transcoder, c.transcoderFrames,
		c.forwardDelay, c.udpDatagrams, c.udpTrains, c.udpCalls, c.udpDropped,
	} {
		ch <- d
	}
}

func (c *streamCollector) Collect(ch chan<- prometheus.Metric) {
	streams := c.cfg.Streams()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.streams, float64(len(streams)))
	if c.cfg.UDPSend != nil {
		u := c.cfg.UDPSend()
		counter(c.udpDatagrams, u.Datagrams)
		counter(c.udpTrains, u.Trains)
		counter(c.udpCalls, u.Calls)
		counter(c.udpDropped, u.Dropped)
	}
	publishers := map[string]int{}
	for _, p := range c.cfg.Protocols {
		publishers[p] = 0
	}
	for _, s := range streams {
		if s.Live && s.Protocol != "" {
			publishers[s.Protocol]++
		}
	}
	for p, n := range publishers {
		gauge(c.publishers, float64(n), p)
	}
	for _, s := range streams {
		n := s.Name
		gauge(c.viewers, float64(s.Viewers), "webrtc", n)
		gauge(c.hlsWaiting, float64(s.HLSWaiting), n)
		for kind, t := range s.In {
			counter(c.inPackets, t.Packets, n, kind)
			counter(c.inBytes, t.Bytes, n, kind)
		}
		counter(c.outPackets, s.Out.Packets, n, "webrtc")
		counter(c.outBytes, s.Out.Bytes, n, "webrtc")
		for reason, v := range s.Drops {
			counter(c.drops, v, n, reason)
		}
		counter(c.nacks, s.NACKs, n)
		counter(c.retransmits, s.Retransmits, n)
		counter(c.viewerKeyReqs, s.ViewerKeyframeRequests, n)
		counter(c.keyReqs, s.KeyframeRequests, n)
		counter(c.parts, s.Parts, n)
		counter(c.segs, s.Segments, n)
		tc := s.Transcoder
		if tc.State == "" {
			tc.State = TranscoderNone
		}
		gauge(c.transcoder, 1, n, tc.State, tc.From, tc.To)
		counter(c.transcoderFrames, tc.In, n, "in")
		counter(c.transcoderFrames, tc.Out, n, "out")
		if h := s.ForwardDelay; len(h.Bounds) > 0 && len(h.Counts) == len(h.Bounds)+1 {
			buckets, cum := make(map[float64]uint64, len(h.Bounds)), uint64(0)
			for i, b := range h.Bounds {
				cum += h.Counts[i]
				buckets[b] = cum
			}
			ch <- prometheus.MustNewConstHistogram(c.forwardDelay, cum+h.Counts[len(h.Bounds)], h.Sum, buckets, n)
		}
	}
}
