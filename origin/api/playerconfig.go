package api

import (
	"cmp"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/packager"
)

// Player defaults (issue 5): give WebRTC 4 s to connect before falling back;
// aim HLS at PART-HOLD-BACK for the default 200 ms parts (3 x PART-TARGET).
const (
	DefaultConnectTimeout = 4 * time.Second
	DefaultTargetLatency  = 600 * time.Millisecond
	defaultWHEPBase       = "/whep/"
	defaultHLSBase        = "/hls/"
)

// Source types in PlayerSource.Type.
const (
	SourceWebRTC = "webrtc"
	SourceHLS    = "hls"
)

// PlayerOptions are the gateway-wide inputs of a player configuration.
type PlayerOptions struct {
	// WHEPBase is the URL prefix of this gateway's WHEP endpoint, absolute or
	// relative to the player page. Default "/whep/".
	WHEPBase string
	// HLSBase is the URL prefix of the HLS tier (a CDN's, if one is in
	// front). Default "/hls/".
	HLSBase string
	// ICEServers are the STUN/TURN servers for this gateway's WHEP (webrtc.ice_servers).
	ICEServers []webrtc.ICEServer
	// TargetLatency is the HLS latency to aim at; pass 3 x hls.part_target.
	// Default DefaultTargetLatency.
	TargetLatency time.Duration
	// ConnectTimeout bounds a WebRTC connect before falling back. Default 4 s.
	ConnectTimeout time.Duration
}

// PlayerConfigJSON is GET /play/{id}/config: everything the player needs.
type PlayerConfigJSON struct {
	Distribution string `json:"distribution"`
	Name         string `json:"name"`
	Stream       string `json:"stream"`
	// Sources are in the order to try them: lowest priority first, WebRTC
	// first on a tie (it is the lower-latency tier).
	Sources          []PlayerSource    `json:"sources"`
	ICEServers       []PlayerICEServer `json:"iceServers"`
	TargetLatencyMs  int64             `json:"targetLatencyMs"`
	ConnectTimeoutMs int64             `json:"connectTimeoutMs"`
	// TokenRequired tells the player to send its viewer token (from its own
	// URL's ?token=) on every request to a non-external source.
	TokenRequired bool `json:"tokenRequired"`
	// TokenParam and DistributionParam are the query parameters to add to
	// every HLS request (hls.js xhrSetup) and to the WHEP POST.
	TokenParam        string `json:"tokenParam"`
	DistributionParam string `json:"distributionParam"`
}

// PlayerSource is one way to play the distribution.
type PlayerSource struct {
	Type     string `json:"type"`
	URL      string `json:"url"`
	Priority int    `json:"priority"`
	// External marks a WHEP endpoint elsewhere: the player sends it neither
	// the viewer token nor the distribution parameter.
	External  bool   `json:"external,omitempty"`
	Name      string `json:"name,omitempty"`
	AccountID string `json:"accountId,omitempty"`
}

// PlayerICEServer is an RTCIceServer as RTCPeerConnection takes it.
type PlayerICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// PlayerConfig builds what the player needs for d. The URLs of this
// gateway's sources carry ?distribution=ID so Guard applies d's security.
func PlayerConfig(d Distribution, o PlayerOptions) PlayerConfigJSON {
	whepBase := cmp.Or(o.WHEPBase, defaultWHEPBase)
	hlsBase := cmp.Or(o.HLSBase, defaultHLSBase)
	q := "?" + DistributionParam + "=" + url.QueryEscape(d.ID)
	stream := url.PathEscape(d.Stream)
	cfg := PlayerConfigJSON{
		Distribution: d.ID, Name: d.Name, Stream: d.Stream,
		ICEServers:        []PlayerICEServer{},
		TargetLatencyMs:   cmp.Or(o.TargetLatency, DefaultTargetLatency).Milliseconds(),
		ConnectTimeoutMs:  cmp.Or(o.ConnectTimeout, DefaultConnectTimeout).Milliseconds(),
		TokenRequired:     d.Security.TokenRequired,
		TokenParam:        TokenParam,
		DistributionParam: DistributionParam,
	}
	if w := d.WebRTC; w != nil {
		src := PlayerSource{Type: SourceWebRTC, URL: whepBase + stream + q, Priority: w.Priority}
		if w.Src != nil {
			src = PlayerSource{Type: SourceWebRTC, URL: ExternalWHEPURL(*w.Src), Priority: w.Priority, External: true,
				Name: w.Src.Name, AccountID: w.Src.AccountID}
		}
		cfg.Sources = append(cfg.Sources, src)
		if w.Src == nil { // an external endpoint names its own ICE servers (Link headers)
			for _, s := range o.ICEServers {
				cfg.ICEServers = append(cfg.ICEServers, PlayerICEServer{
					URLs: s.URLs, Username: s.Username, Credential: credential(s.Credential),
				})
			}
		}
	}
	cfg.Sources = append(cfg.Sources, PlayerSource{
		Type: SourceHLS, URL: hlsBase + stream + "/" + packager.MultivariantName + q, Priority: d.HLS.Priority,
	})
	// Stable: on a tie WebRTC, appended first, stays first.
	slices.SortStableFunc(cfg.Sources, func(a, b PlayerSource) int { return cmp.Compare(a.Priority, b.Priority) })
	return cfg
}

// credential renders a TURN credential; pion types it as any (a password).
func credential(c any) string {
	switch v := c.(type) {
	case nil:
		return ""
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// ExternalWHEPURL is the URL the player POSTs to for an external WHEP
// source, carrying the source's stream name and account as real-time CDNs
// expect them: in place of the {name} and {accountId} placeholders of
// apiUrl when it has any (https://cdn.example.com/whep/{accountId}/{name}),
// otherwise as the query parameters name and accountId (kept if apiUrl
// already sets them).
func ExternalWHEPURL(src WebRTCSource) string {
	if strings.Contains(src.APIURL, "{name}") || strings.Contains(src.APIURL, "{accountId}") {
		return strings.NewReplacer("{name}", url.PathEscape(src.Name), "{accountId}", url.PathEscape(src.AccountID)).Replace(src.APIURL)
	}
	u, err := url.Parse(src.APIURL)
	if err != nil { // validated on the way in; pass it on untouched
		return src.APIURL
	}
	q := u.Query()
	for _, kv := range [][2]string{{"name", src.Name}, {"accountId", src.AccountID}} {
		if kv[1] != "" && !q.Has(kv[0]) {
			q.Set(kv[0], kv[1])
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
