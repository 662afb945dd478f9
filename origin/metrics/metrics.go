// Package metrics is frontrow's Prometheus face: GET /metrics in the text
// format, from a registry of its own (no package-level state).
//
// Per-stream figures are read when Prometheus scrapes, not pushed: the
// collector asks for a snapshot of every stream (Config.Streams) and turns
// it into series, so the ingest and fan-out only add to atomics they own,
// and a stream's series are gone from the next scrape after it ends. Only
// the HLS requests and the part build delay are counted as they happen:
// once per HTTP request and once per part, never per packet.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/frontrow-live/frontrow/origin"
	"github.com/frontrow-live/frontrow/packager"
)

// namespace prefixes every frontrow series.
const namespace = "frontrow"

// partDelayBuckets span a part's build delay, from its first unit's
// arrival to its publication: at least the part's length (200 ms parts by
// default), more when the packager waits for the next keyframe or audio.
var partDelayBuckets = []float64{0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 1.5, 2, 5}

// Config wires the metrics to the gateway.
type Config struct {
	// Streams snapshots every stream for a scrape; required.
	Streams func() []Stream
	// Protocols are the ingest protocols always reported, zero or not, so
	// that frontrow_publishers has a series per protocol from the start.
	Protocols []string
	// UDPSend reads the WebRTC socket's send totals; nil leaves them out.
	UDPSend func() UDPSend
}

// UDPSend are the shared WebRTC socket's send totals: datagrams, the
// messages they went in (GSO trains of one viewer's packets, or single
// datagrams), the system calls, and the datagrams dropped.
type UDPSend struct {
	Datagrams, Trains, Calls, Dropped uint64
}

// Metrics holds the gateway's registry and the counters updated as things
// happen. Safe for concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	partDelay prometheus.Histogram
	hlsReqs   *prometheus.CounterVec
}

// New builds the registry: the gateway's collector, the part delay
// histogram, the HLS request counter, and Go's and the process's collectors.
func New(cfg Config) *Metrics {
	if cfg.Streams == nil {
		panic("metrics: Config.Streams is required")
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		partDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace, Name: "hls_part_build_delay_seconds",
			Help:    "Time from the arrival of a part's first unit to the part's publication, all streams and renditions.",
			Buckets: partDelayBuckets,
		}),
		hlsReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "hls_requests_total",
			Help: "HLS requests answered, by kind (multivariant, playlist, blocking_playlist, init, segment, part, preflight, other) and HTTP status.",
		}, []string{"kind", "status"}),
	}
	m.reg.MustRegister(
		newStreamCollector(cfg),
		m.partDelay,
		m.hlsReqs,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is the Prometheus registry, for tests and other exporters.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves GET /metrics in the Prometheus text format (or
// OpenMetrics or protobuf, when the scraper asks for them).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObservePart records one published part's build delay; it is
// packager.Config.OnPart.
func (m *Metrics) ObservePart(p packager.PartInfo) {
	if p.FirstArrival.IsZero() || p.Completed.Before(p.FirstArrival) {
		return // a unit without an arrival time (tests) tells nothing
	}
	m.partDelay.Observe(p.Completed.Sub(p.FirstArrival).Seconds())
}

// HLS counts the requests next answers by kind and status.
func (m *Metrics) HLS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := origin.RequestKind(r)
		sw := &statusWriter{ResponseWriter: w}
		defer func() { m.hlsReqs.WithLabelValues(kind, statusLabel(sw.status)).Inc() }()
		next.ServeHTTP(sw, r)
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusLabel spells a status code without allocating for the common ones.
func statusLabel(code int) string {
	switch code {
	case 0, http.StatusOK:
		return "200" // nothing written: net/http answers 200
	case http.StatusNotModified:
		return "304"
	case http.StatusBadRequest:
		return "400"
	case http.StatusNotFound:
		return "404"
	case http.StatusServiceUnavailable:
		return "503"
	}
	return strconv.Itoa(code)
}
