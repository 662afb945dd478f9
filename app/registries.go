package app

// Registries are the sizes of the gateway's tables that grow with sessions
// or client addresses. Each must come back to zero (or, for the rate
// limiter's buckets, be swept) once the sessions are gone; the leak tests
// (e2e TestChurn) check that, since a leaked map entry is too small for a
// heap margin to see.
type Registries struct {
	WHIPSessions, WHEPSessions int // signalling session resources
	Streams                    int // streams in the registry, live or in their grace period
	Viewers                    int // WebRTC viewers subscribed to the streams
	ClientAddresses            int // addresses holding a session slot (limits.sessions_per_ip)
	ViewerSlots                int // limits.viewers slots taken
	StreamSlots                int // streams holding a limits.viewers_per_stream slot
	PublisherSlots             int // limits.publishers slots taken
	HLSBlocking                int // limits.hls_blocking slots taken
	RateBuckets                int // limits.post_rate buckets kept (swept once refilled)
	ICESessions, ICEAddresses  int // the ICE UDP mux's routes: by session, by remote address
}

// Registries reads the tables' sizes now; tests use it to find leaks.
func (a *App) Registries() Registries {
	r := Registries{
		WHIPSessions:    a.whip.Sessions(),
		WHEPSessions:    a.whep.Sessions(),
		ClientAddresses: a.limits.perIP.Keys(),
		ViewerSlots:     a.limits.viewers.Count(),
		StreamSlots:     a.limits.perStream.Keys(),
		PublisherSlots:  a.limits.publishers.Count(),
		HLSBlocking:     a.limits.hls.Count(),
		RateBuckets:     a.limits.postRate.Keys(),
	}
	r.ICESessions, r.ICEAddresses = a.engine.MuxRoutes()
	for _, s := range a.registry.Streams() {
		r.Streams++
		r.Viewers += s.ViewerCount()
	}
	return r
}
