package app

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/frontrow-live/frontrow/origin/api"
)

// playerConfig serves GET /play/{id}/config: the sources of a distribution
// in priority order, for the player. The distribution's rules apply here
// first, so a refused viewer learns why before trying a tier.
func (a *App) playerConfig(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if refusal := a.store.Authorize(r, "", id, time.Now()); refusal != nil {
		refusal.ServeHTTP(w, r)
		return
	}
	d, ok := a.store.Get(id)
	if !ok {
		http.Error(w, "no such distribution", http.StatusNotFound)
		return
	}
	cfg := api.PlayerConfig(d, api.PlayerOptions{
		ICEServers: a.cfg.ICEServers, TargetLatency: 3 * a.cfg.PartTarget,
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err := json.NewEncoder(w).Encode(cfg); err != nil {
		a.log.Debug("play: write config", "err", err)
	}
}

// clockJSON is GET /clock: the gateway's wall clock.
type clockJSON struct {
	// UnixMs is milliseconds since the Unix epoch, with a fraction.
	UnixMs float64 `json:"unixMs"`
}

// clock serves GET /clock, the gateway's wall clock, which the player
// compares with its own (round trips, as NTP does): the RTCP sender reports
// to WebRTC viewers and the HLS tier's PROGRAM-DATE-TIME are both on this
// clock, so a viewer whose clock is off still shows the right latency.
func (a *App) clock(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	now := time.Now()
	body := clockJSON{UnixMs: float64(now.UnixMicro()) / 1000}
	if err := json.NewEncoder(w).Encode(body); err != nil {
		a.log.Debug("play: write clock", "err", err)
	}
}

// embedGuard serves the player page (/play/{id}) only where the
// distribution's referrer rule lets it be embedded; a refused page says why
// in plain text, since a person reads it.
func (a *App) embedGuard(page http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refusal := a.store.AuthorizeEmbed(r, r.PathValue("id")); refusal != nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(refusal.Status)
			fmt.Fprintf(w, "%s\n", refusal.Reason)
			return
		}
		page.ServeHTTP(w, r)
	})
}
