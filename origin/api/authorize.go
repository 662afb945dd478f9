package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Query parameters on a viewer's WHEP and HLS requests. A CDN's cache key
// must leave both out (every viewer's request for a part is then one URL
// to the cache), and keep _HLS_msn, _HLS_part and _HLS_skip.
const (
	DistributionParam = "distribution"
	TokenParam        = "token"
	// bearerRealm names the protected space in WWW-Authenticate (RFC 6750 section 3).
	bearerRealm = `Bearer realm="frontrow"`
)

// Machine-readable refusal codes, stable for players and log queries.
const (
	CodeDistributionRequired = "distribution_required"
	CodeDistributionNotFound = "distribution_not_found"
	CodeIPUnknown            = "ip_unknown"
	CodeIPBlocked            = "ip_blocked"
	CodeIPNotAllowed         = "ip_not_allowed"
	CodeReferrerMissing      = "referrer_missing"
	CodeReferrerNotAllowed   = "referrer_not_allowed"
	CodeTokenMissing         = "token_missing"
	CodeTokenInvalid         = "token_invalid"
)

// Refusal is why a viewer's request is refused; as an http.Handler it
// writes the answer (JSON, never cached, readable cross-origin).
type Refusal struct {
	// Status is 401 (token missing or invalid), 403 (IP or referrer rule,
	// or a direct request for a stream that needs a distribution) or 404.
	Status int    `json:"-"`
	Code   string `json:"code"`
	Reason string `json:"error"`
	// Challenge is the WWW-Authenticate value of a 401.
	Challenge string `json:"-"`
}

func (f *Refusal) Error() string { return fmt.Sprintf("%d %s: %s", f.Status, f.Code, f.Reason) }

// ServeHTTP writes the refusal. no-store keeps a CDN from serving one
// viewer's refusal to everyone.
func (f *Refusal) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "WWW-Authenticate")
	if f.Challenge != "" {
		h.Set("WWW-Authenticate", f.Challenge)
	}
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(f)
}

// Authorize checks a viewer's request for stream through distribution id
// against that distribution's security: blocked IPs, then allowed IPs, then
// referrers, then the token; nil admits it. stream "" means the
// distribution's own stream (for /play/{id}). With no id, a token names the
// distribution; with neither, the request is admitted only if no
// distribution of the stream is restricted. A stream is therefore as open as
// its most open distribution.
func (s *Store) Authorize(r *http.Request, stream, id string, now time.Time) *Refusal {
	snap := s.snap.Load()
	token := viewerToken(r)
	if id == "" && token != "" {
		if tid, _, err := s.signer.open(token); err == nil {
			id = tid
		}
	}
	if id == "" {
		var refusal *Refusal
		for _, e := range snap.byStream[stream] {
			switch {
			case e.d.Security.TokenRequired && token == "":
				// A credential is missing, not wrong: 401 and a challenge
				// (RFC 9110 section 15.5.2), which players answer with a token.
				return &Refusal{Status: http.StatusUnauthorized, Code: CodeTokenMissing, Challenge: bearerRealm,
					Reason: fmt.Sprintf("stream %q needs a viewer token (?token= or Authorization: Bearer)", stream)}
			case e.d.Security.Restricted() && refusal == nil:
				refusal = &Refusal{Status: http.StatusForbidden, Code: CodeDistributionRequired,
					Reason: fmt.Sprintf("stream %q is served only through a distribution: add ?%s=ID", stream, DistributionParam)}
			}
		}
		if refusal != nil {
			return refusal
		}
		if stream == "" {
			return &Refusal{Status: http.StatusNotFound, Code: CodeDistributionNotFound, Reason: "no distribution named"}
		}
		return nil
	}
	e, ok := snap.byID[id]
	if !ok || (stream != "" && e.d.Stream != stream) {
		return &Refusal{Status: http.StatusNotFound, Code: CodeDistributionNotFound,
			Reason: "distribution " + id + " does not exist for this stream"}
	}
	if f := s.checkAddress(e, r); f != nil {
		return f
	}
	if f := checkReferrer(e, r); f != nil {
		return f
	}
	return s.checkToken(e, token, now)
}

func (s *Store) checkAddress(e *entry, r *http.Request) *Refusal {
	if len(e.blocked) == 0 && len(e.allowed) == 0 {
		return nil
	}
	ip, ok := clientIP(r, s.proxies)
	switch {
	case !ok:
		return &Refusal{Status: http.StatusForbidden, Code: CodeIPUnknown, Reason: "the client's address is unknown, and this distribution has IP rules"}
	case inAny(e.blocked, ip):
		return &Refusal{Status: http.StatusForbidden, Code: CodeIPBlocked, Reason: "address " + ip.String() + " is blocked for this distribution"}
	case len(e.allowed) > 0 && !inAny(e.allowed, ip):
		return &Refusal{Status: http.StatusForbidden, Code: CodeIPNotAllowed, Reason: "address " + ip.String() + " is not allowed for this distribution"}
	}
	return nil
}

// AuthorizeEmbed checks the request for the player page of distribution
// id (GET /play/{id}) against its referrer rule: the page's own requests
// come from this gateway's host and pass that rule, so the site embedding
// the page is checked here, when the frame loads, with no exemption for
// this host. An unknown id is admitted (the page reports it).
func (s *Store) AuthorizeEmbed(r *http.Request, id string) *Refusal {
	e, ok := s.snap.Load().byID[id]
	if !ok || len(e.referrers) == 0 {
		return nil
	}
	host, ok := pageHost(r)
	switch {
	case !ok:
		return &Refusal{Status: http.StatusForbidden, Code: CodeReferrerMissing,
			Reason: "this player plays only embedded on allowed sites, and the request names no page (Referer)"}
	case !matchReferrer(e.referrers, host):
		return &Refusal{Status: http.StatusForbidden, Code: CodeReferrerNotAllowed,
			Reason: "this player does not play on " + host}
	}
	return nil
}

func checkReferrer(e *entry, r *http.Request) *Refusal {
	if len(e.referrers) == 0 {
		return nil
	}
	host, ok := pageHost(r)
	switch {
	case !ok:
		return &Refusal{Status: http.StatusForbidden, Code: CodeReferrerMissing,
			Reason: "this distribution plays only on allowed sites, and the request names no page (Referer or Origin)"}
	case host == requestHost(r): // the bundled player on this gateway, itself admitted by /play/{id}
		return nil
	case !matchReferrer(e.referrers, host):
		return &Refusal{Status: http.StatusForbidden, Code: CodeReferrerNotAllowed,
			Reason: "this distribution does not play on " + host}
	}
	return nil
}

func (s *Store) checkToken(e *entry, token string, now time.Time) *Refusal {
	if !e.d.Security.TokenRequired {
		return nil
	}
	if token == "" {
		return &Refusal{Status: http.StatusUnauthorized, Code: CodeTokenMissing, Challenge: bearerRealm,
			Reason: "this distribution needs a viewer token (Authorization: Bearer, or ?" + TokenParam + "=)"}
	}
	if err := s.signer.verify(token, e.d.ID, now); err != nil {
		reason := "viewer token " + string(tokenReason(err))
		// RFC 6750 section 3.1: invalid_token for expired, revoked or malformed tokens.
		return &Refusal{Status: http.StatusUnauthorized, Code: CodeTokenInvalid, Reason: reason,
			Challenge: bearerRealm + `, error="invalid_token", error_description="` + reason + `"`}
	}
	return nil
}

// viewerToken is the Bearer token (RFC 6750 section 2.1), else the token
// query parameter (section 2.3), which HLS players can send on every
// request without a CORS preflight.
func viewerToken(r *http.Request) string {
	if auth := r.Header.Get("Authorization"); auth != "" {
		if scheme, tok, ok := strings.Cut(auth, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
	}
	return r.URL.Query().Get(TokenParam)
}

// Guard admits each request next serves through Authorize, with the
// distribution from the query (?distribution=) and the store's clock.
// streamOf names the stream a request is for, "" for requests it need not
// check (CORS preflights, WHEP session resources).
func (s *Store) Guard(streamOf func(*http.Request) string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if stream := streamOf(r); stream != "" {
			if f := s.Authorize(r, stream, r.URL.Query().Get(DistributionParam), s.now()); f != nil {
				f.ServeHTTP(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// WHEPStream is a Guard's streamOf for the WHEP handler mounted at /whep/:
// it checks the POST that starts a session (RFC 9725 section 4.2), and the
// PATCH and DELETE on a session with the same rules, as WHIP asks its
// token on all three (RFC 9725 section 4.4): the client sends what it sent
// with its POST (Authorization: Bearer, or ?token= and ?distribution=).
// CORS preflights pass.
func WHEPStream(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/whep/")
	if !ok {
		return ""
	}
	stream, session, isSession := strings.Cut(rest, "/")
	switch {
	case r.Method == http.MethodPost && !isSession:
		return stream
	case (r.Method == http.MethodPatch || r.Method == http.MethodDelete) && isSession && session != "" && !strings.Contains(session, "/"):
		return stream
	}
	return ""
}

// HLSStream is a Guard's streamOf for the HLS handler mounted at /hls/: it
// checks every GET and HEAD (playlists, init, parts, segments).
func HLSStream(r *http.Request) string {
	rest, ok := strings.CutPrefix(r.URL.Path, "/hls/")
	if !ok || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		return ""
	}
	stream, _, _ := strings.Cut(rest, "/")
	return stream
}
