package app

import (
	"net/http"
)

// healthz answers while the process is up: a liveness probe.
func (a *App) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte("ok\n"))
}

// readyz says whether the gateway takes streams: its listeners are bound
// and serving, and it is not shutting down. A load balancer sends new
// publishers and viewers elsewhere on a 503.
func (a *App) readyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch {
	case a.draining.Load():
		refuseHTTP(w, http.StatusServiceUnavailable, retryShutdown, "shutting down")
	case !a.serving.Load():
		refuseHTTP(w, http.StatusServiceUnavailable, 1, "starting")
	default:
		_, _ = w.Write([]byte("ready\n"))
	}
}
