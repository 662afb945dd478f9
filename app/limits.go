package app

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/frontrow-live/frontrow/gateway/limit"
	"github.com/frontrow-live/frontrow/gateway/signaling"
)

// Limits bound what clients can take from the gateway. Every refusal names
// the limit and says when to come back:
//
//	limit               refused with                      why that status
//	MaxBody             413                               the request itself is too big (RFC 9110 section 15.5.14)
//	SessionsPerIP       429 + Retry-After                 this client is over its share, the gateway is fine (RFC 6585 section 4);
//	                                                      a 503 would tell load balancers the origin is sick
//	ViewersPerStream    503 + Retry-After                 the gateway is full (WHIP/WHEP: overload is 503, RFC 9725 section 4.2)
//	Viewers             503 + Retry-After                 the gateway is full
//	Publishers          503 + Retry-After (RTMP: Rejected) the gateway is full
//	PostRate/PostBurst  429 + Retry-After                 rate limiting is what 429 is for (RFC 6585 section 4)
//	HLSBlocking         503 + Retry-After, no-store       the origin is overloaded (rfc8216bis: players retry a 503)
//
// Clients are counted by address (IPv6 by /64), as the TCP peer sees them:
// behind a proxy every client shares the proxy's address.
type Limits struct {
	MaxBody          int64   // bytes of a WHIP/WHEP offer or trickle fragment
	SessionsPerIP    int     // WHIP and WHEP sessions per client address
	ViewersPerStream int     // WebRTC viewers of one stream
	Viewers          int     // WebRTC viewers in total
	Publishers       int     // publishers in total, WHIP and RTMP (the demo is not counted)
	PostRate         float64 // POST, PATCH and DELETE requests per second per client address, sustained
	PostBurst        int     // POST requests per client address at once
	HLSBlocking      int     // blocking playlist requests (_HLS_msn) in flight
}

// DefaultLimits are safe for one gateway on a small machine: a thousand
// WebRTC viewers and an audience of any size over a CDN.
func DefaultLimits() Limits {
	return Limits{
		MaxBody:          signaling.DefaultMaxBody,
		SessionsPerIP:    20,
		ViewersPerStream: 1000,
		Viewers:          1000,
		Publishers:       32,
		PostRate:         5,
		PostBurst:        20,
		HLSBlocking:      1000,
	}
}

// withDefaults fills the zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBody <= 0 {
		l.MaxBody = d.MaxBody
	}
	if l.SessionsPerIP <= 0 {
		l.SessionsPerIP = d.SessionsPerIP
	}
	if l.ViewersPerStream <= 0 {
		l.ViewersPerStream = d.ViewersPerStream
	}
	if l.Viewers <= 0 {
		l.Viewers = d.Viewers
	}
	if l.Publishers <= 0 {
		l.Publishers = d.Publishers
	}
	if l.PostRate <= 0 {
		l.PostRate = d.PostRate
	}
	if l.PostBurst <= 0 {
		l.PostBurst = d.PostBurst
	}
	if l.HLSBlocking <= 0 {
		l.HLSBlocking = d.HLSBlocking
	}
	return l
}

// Retry-After values, in seconds, of the refusals.
const (
	// retryFull: a full gateway frees a slot when a session ends, which
	// nobody can predict; a few seconds keeps retries from piling up.
	retryFull = 5
	// retryPerIP: this client's own sessions must end first.
	retryPerIP = 5
	// retryShutdown: about the time a restart takes.
	retryShutdown = 5
	// retryHLS: a blocked request lasts about a part; one second is a few.
	retryHLS = 1
)

// admission applies the session limits to WHIP, WHEP and RTMP.
type admission struct {
	limits     Limits
	draining   func() bool
	perIP      *limit.Keyed   // WHIP + WHEP sessions per client
	viewers    *limit.Counter // WHEP sessions
	perStream  *limit.Keyed   // WHEP sessions per stream
	publishers *limit.Counter // WHIP sessions and RTMP publishers
	postRate   *limit.Rate
	hls        *limit.Counter // blocking playlist requests in flight
}

func newAdmission(l Limits, draining func() bool) *admission {
	return &admission{
		limits:     l,
		draining:   draining,
		perIP:      limit.NewKeyed(l.SessionsPerIP),
		viewers:    limit.NewCounter(l.Viewers),
		perStream:  limit.NewKeyed(l.ViewersPerStream),
		publishers: limit.NewCounter(l.Publishers),
		postRate:   limit.NewRate(limit.RateConfig{PerSecond: l.PostRate, Burst: l.PostBurst}),
		hls:        limit.NewCounter(l.HLSBlocking),
	}
}

func refusal(status, retry int, format string, args ...any) error {
	return &signaling.Refusal{Status: status, Retry: retry, Msg: fmt.Sprintf(format, args...)}
}

var errShuttingDown = refusal(http.StatusServiceUnavailable, retryShutdown, "the gateway is shutting down; try again shortly")

// session takes the draining check and a client's session slot, then the
// slots of take; on any refusal nothing stays taken.
func (ad *admission) session(r *http.Request, take ...func() (func(), error)) (func(), error) {
	if ad.draining() {
		return nil, errShuttingDown
	}
	rel, ok := ad.perIP.Acquire(limit.ClientKey(r.RemoteAddr))
	if !ok {
		return nil, refusal(http.StatusTooManyRequests, retryPerIP,
			"too many sessions from your address (%d, limits.sessions_per_ip); end one first", ad.perIP.Max())
	}
	releases := []func(){rel}
	releaseAll := func() {
		for _, r := range releases {
			r()
		}
	}
	for _, t := range take {
		rel, err := t()
		if err != nil {
			releaseAll()
			return nil, err
		}
		releases = append(releases, rel)
	}
	return releaseAll, nil
}

// publisher is WHIP's signaling.Config.Admit.
func (ad *admission) publisher(r *http.Request, _ string) (func(), error) {
	return ad.session(r, ad.publisherSlot)
}

// viewer is WHEP's signaling.Config.Admit.
func (ad *admission) viewer(r *http.Request, stream string) (func(), error) {
	return ad.session(r,
		func() (func(), error) {
			rel, ok := ad.viewers.Acquire()
			if !ok {
				return nil, refusal(http.StatusServiceUnavailable, retryFull,
					"the gateway has all the WebRTC viewers it takes (%d, limits.viewers); try again later or watch over LL-HLS", ad.viewers.Max())
			}
			return rel, nil
		},
		func() (func(), error) {
			rel, ok := ad.perStream.Acquire(stream)
			if !ok {
				return nil, refusal(http.StatusServiceUnavailable, retryFull,
					"stream %s has all the WebRTC viewers it takes (%d, limits.viewers_per_stream); try again later or watch over LL-HLS", stream, ad.perStream.Max())
			}
			return rel, nil
		})
}

func (ad *admission) publisherSlot() (func(), error) {
	rel, ok := ad.publishers.Acquire()
	if !ok {
		return nil, refusal(http.StatusServiceUnavailable, retryFull,
			"the gateway has all the publishers it takes (%d, limits.publishers)", ad.publishers.Max())
	}
	return rel, nil
}

// rtmpPublisher is the RTMP ingest's Admit: no address limit there (the
// RTMP server bounds its connections), the same publisher count as WHIP.
func (ad *admission) rtmpPublisher(string, string) (func(), error) {
	if ad.draining() {
		return nil, errShuttingDown
	}
	return ad.publisherSlot()
}

// limitWrites refuses POST, PATCH and DELETE requests (sessions, trickle
// ICE, the API) over a client's rate with 429 and the seconds until its
// next one is allowed; they share one budget (limits.post_rate/post_burst).
func (ad *admission) limitWrites(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost || r.Method == http.MethodPatch || r.Method == http.MethodDelete {
			if ok, wait := ad.postRate.Allow(limit.ClientKey(r.RemoteAddr)); !ok {
				secs := retrySeconds(wait)
				refuseHTTP(w, http.StatusTooManyRequests, secs, fmt.Sprintf(
					"too many requests from your address (%g a second, %d at once: limits.post_rate, limits.post_burst); try again in %d s",
					ad.limits.PostRate, ad.limits.PostBurst, secs))
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// limitBlocking bounds the blocking playlist requests (_HLS_msn) in flight:
// each holds a goroutine and a connection until its part is out. The rest
// of HLS answers at once and is not counted.
func (ad *admission) limitBlocking(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !r.URL.Query().Has("_HLS_msn") {
			next.ServeHTTP(w, r)
			return
		}
		release, ok := ad.hls.Acquire()
		if !ok {
			// Not cacheable: the same URL can be answered a moment later.
			w.Header().Set("Cache-Control", "no-store")
			refuseHTTP(w, http.StatusServiceUnavailable, retryHLS, fmt.Sprintf(
				"too many blocking playlist requests in flight (%d, limits.hls_blocking)", ad.hls.Max()))
			return
		}
		defer release()
		next.ServeHTTP(w, r)
	})
}

// refuseHTTP writes a refusal a browser can read: CORS lets any page see
// the status and Retry-After.
func refuseHTTP(w http.ResponseWriter, status, retryAfter int, reason string) {
	hd := w.Header()
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Expose-Headers", "Retry-After")
	if retryAfter > 0 {
		hd.Set("Retry-After", strconv.Itoa(retryAfter))
	}
	http.Error(w, reason, status)
}

// retrySeconds turns a duration into whole Retry-After seconds, at least 1.
func retrySeconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }
