package rtc

// MuxRoutes counts the ICE UDP mux's routing entries, by session (local
// ufrag) and by remote address: leak tests check they go with the sessions.
func (e *Engine) MuxRoutes() (sessions, addrs int) {
	e.mux.mu.Lock()
	defer e.mux.mu.Unlock()
	return len(e.mux.conns[0]) + len(e.mux.conns[1]), len(e.mux.byAddr)
}
