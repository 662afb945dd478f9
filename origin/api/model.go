package api

import "slices"

// DefaultHLSPriority is hls.priority when a distribution does not give one:
// behind WebRTC's default of 0, so the front row is preferred.
const DefaultHLSPriority = 1

// Distribution is one playback configuration for a stream; the player reads
// it to choose between WebRTC and LL-HLS, and both tiers enforce its Security.
type Distribution struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Stream   string   `json:"stream"`
	Security Security `json:"security"`
	// WebRTC is nil when the distribution offers no WebRTC source.
	WebRTC *WebRTC `json:"webRtc"`
	HLS    HLS     `json:"hls"`
}

// Security is who may watch a distribution; empty lists mean no rule.
type Security struct {
	// TokenRequired makes viewers present a token minted for this distribution.
	TokenRequired bool `json:"tokenRequired"`
	// AllowedIPs, when not empty, admits only clients inside one of these prefixes.
	AllowedIPs []string `json:"allowedIPs"`
	// BlockedIPs refuses clients inside these prefixes; it wins over AllowedIPs.
	BlockedIPs []string `json:"blockedIPs"`
	// AllowedReferrers, when not empty, admits only pages on these hosts
	// ("example.com" exactly, "*.example.com" for its subdomains).
	AllowedReferrers []string `json:"allowedReferrers"`
}

// WebRTC is the distribution's WebRTC source and its priority (lower wins).
type WebRTC struct {
	Priority int `json:"priority"`
	// Src is nil for this gateway's own WHEP endpoint for the stream.
	Src *WebRTCSource `json:"src,omitempty"`
}

// WebRTCSource is an external WHEP endpoint (a real-time CDN, an edge).
type WebRTCSource struct {
	Name      string `json:"name,omitempty"`
	AccountID string `json:"accountId,omitempty"`
	APIURL    string `json:"apiUrl"`
}

// HLS is the distribution's LL-HLS source priority (lower wins).
type HLS struct {
	Priority int `json:"priority"`
}

// Restricted reports whether any security rule applies; a stream with a
// restricted distribution is served to viewers only through a distribution.
func (s Security) Restricted() bool {
	return s.TokenRequired || len(s.AllowedIPs) > 0 || len(s.BlockedIPs) > 0 || len(s.AllowedReferrers) > 0
}

// Clone returns a deep copy, so callers never share slices with the store.
func (d Distribution) Clone() Distribution {
	c := d
	c.Security.AllowedIPs = cloneList(d.Security.AllowedIPs)
	c.Security.BlockedIPs = cloneList(d.Security.BlockedIPs)
	c.Security.AllowedReferrers = cloneList(d.Security.AllowedReferrers)
	if d.WebRTC != nil {
		w := *d.WebRTC
		if w.Src != nil {
			src := *w.Src
			w.Src = &src
		}
		c.WebRTC = &w
	}
	return c
}

// cloneList copies a list and turns nil into empty, so JSON shows [] not null.
func cloneList(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}
