package app

import (
	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/origin/metrics"
	"github.com/frontrow-live/frontrow/packager"
)

// ingestProtocols are the publishers' protocols frontrow_publishers always
// reports, zero or not.
var ingestProtocols = []string{"whip", "rtmp", "demo"}

// newMetrics builds the gateway's /metrics: origin/metrics knows Prometheus,
// not the gateway, so the streams reach it as snapshots taken here.
func (a *App) newMetrics() *metrics.Metrics {
	return metrics.New(metrics.Config{Streams: a.streamMetrics, Protocols: ingestProtocols, UDPSend: a.udpSend})
}

// udpSend reads the WebRTC socket's send totals for a scrape.
func (a *App) udpSend() metrics.UDPSend {
	s := a.engine.SendStats()
	return metrics.UDPSend{Datagrams: s.Packets, Trains: s.Trains, Calls: s.Calls, Dropped: s.Dropped}
}

// streamMetrics snapshots every stream of the registry for a scrape; a
// stream that ended is no longer listed, so its series go with it.
func (a *App) streamMetrics() []metrics.Stream {
	streams := a.registry.Streams()
	out := make([]metrics.Stream, 0, len(streams))
	for _, s := range streams {
		out = append(out, streamMetrics(s))
	}
	return out
}

func streamMetrics(s *stream.Stream) metrics.Stream {
	st, c, br := s.Status(), s.Counters(), s.AudioBridge()
	m := metrics.Stream{
		Name: s.Name(), Live: st.Live, Protocol: st.Protocol, Viewers: st.Viewers,
		In: map[string]metrics.Traffic{
			packager.KindVideo.String(): metrics.Traffic(c.In[packager.KindVideo]),
			packager.KindAudio.String(): metrics.Traffic(c.In[packager.KindAudio]),
		},
		Out: metrics.Traffic(c.Viewers.Sent),
		Drops: map[string]uint64{
			"viewer_queue_full":       c.Viewers.Dropped,
			"ingest_incomplete_unit":  c.IncompleteUnits,
			"audio_bridge_queue_full": br.Dropped,
			"audio_bridge_corrupt":    br.Corrupt,
			"audio_bridge_late":       br.Late,
		},
		NACKs: c.Viewers.NACKs, Retransmits: c.Viewers.Retransmits,
		ViewerKeyframeRequests: c.Viewers.KeyframeRequests, KeyframeRequests: c.KeyframeRequests,
		Transcoder:   metrics.Transcoder{State: metrics.TranscoderNone, From: br.From, To: br.To, In: br.In, Out: br.Out},
		ForwardDelay: forwardDelay(c.Viewers.ForwardDelay),
	}
	switch {
	case br.From != "":
		m.Transcoder.State = metrics.TranscoderRunning
	case br.Unsupported != "":
		m.Transcoder.State = metrics.TranscoderUnsupported
	}
	if mux, ok := s.Sink().(*packager.Muxer); ok {
		ps := mux.Stats()
		m.Drops["packager"] = ps.UnitsDropped
		m.HLSWaiting, m.Parts, m.Segments = ps.Waiting, ps.Parts, ps.Segments
	}
	return m
}

// forwardDelay converts the stream's delay histogram to the exporter's.
func forwardDelay(h stream.DelayHistogram) metrics.Histogram {
	bounds := stream.DelayBounds()
	out := metrics.Histogram{Bounds: make([]float64, len(bounds)), Counts: h.Counts[:], Sum: h.Sum.Seconds()}
	for i, b := range bounds {
		out.Bounds[i] = b.Seconds()
	}
	return out
}
