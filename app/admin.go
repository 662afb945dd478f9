package app

import (
	"net/http"
	"net/http/pprof"
)

// adminHandler is the admin address's face: Go's profiler, which must
// never be on the public address (a profile shows the heap, and a
// 30-second CPU profile costs CPU), and the probes, for orchestrators that
// keep probes off the public port.
func (a *App) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/healthz", a.healthz)
	mux.HandleFunc("/readyz", a.readyz)
	mux.Handle("GET /metrics", a.metrics.Handler())
	return mux
}
