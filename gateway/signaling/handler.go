package signaling

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/pion/webrtc/v4"
)

// Limits and media types of the resource model.
const (
	// DefaultMaxBody caps an offer or fragment; real offers are a few KiB.
	DefaultMaxBody = 64 << 10
	// closedRetryAfter is the Retry-After, in seconds, of a POST that meets
	// a handler shutting down: about the time a restart takes.
	closedRetryAfter = 5
	contentTypeSDP   = "application/sdp"                 // RFC 9725 section 4.2
	contentTypeFrag  = "application/trickle-ice-sdpfrag" // RFC 8840 section 9
)

// Config sets up a Handler.
type Config struct {
	// Name is the protocol and path prefix: "whip" or "whep".
	Name  string
	Start Starter
	// Token, when set, gives the Bearer token POST, PATCH and DELETE on a
	// stream need (RFC 9725 section 4.5); "" leaves that stream open.
	Token func(stream string) string
	// TokenElsewhere, when set, reports whether a token that is wrong for a
	// stream is right for another one: the client is known but has no
	// rights here, 403 rather than 401 (RFC 9725 section 4.5).
	TokenElsewhere func(token string) bool
	// Admit, when set, is asked before a session starts whether the
	// request may have one (limits, shutdown). It returns a release func,
	// called once when the session ends (or fails to start), or an error,
	// a StatusError to choose the status; no session is started then.
	Admit func(r *http.Request, stream string) (release func(), err error)
	// ICEServers are given to clients as Link headers (RFC 9725 section 4.6).
	ICEServers []webrtc.ICEServer
	MaxBody    int64
	Logger     *slog.Logger
}

// Handler serves /{name}/{stream} and its session resources.
type Handler struct {
	cfg    Config
	prefix string

	mu       sync.Mutex
	sessions map[string]*entry
	closed   bool
	wg       sync.WaitGroup
}

type entry struct {
	stream  string
	sess    Session
	release func() // Admit's, or a no-op
	once    sync.Once
	// etag is the ICE session's strong ETag ("" for sessions that take
	// no ICE restart); guarded by mu.
	etag string
	mu   sync.Mutex
}

// NewHandler makes a Handler to mount at "/{name}/".
func NewHandler(cfg Config) *Handler {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Handler{cfg: cfg, prefix: "/" + cfg.Name + "/", sessions: map[string]*entry{}}
}

// ServeHTTP routes by path shape: /{name}/{stream} is the endpoint,
// /{name}/{stream}/{session} a session resource.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setCORS(w.Header())
	rest, ok := strings.CutPrefix(r.URL.Path, h.prefix)
	if !ok || rest == "" {
		http.NotFound(w, r)
		return
	}
	stream, id, isSession := strings.Cut(rest, "/")
	switch {
	case !isSession:
		h.serveEndpoint(w, r, stream)
	case id != "" && !strings.Contains(id, "/"):
		h.serveSession(w, r, stream, id)
	default:
		http.NotFound(w, r)
	}
}

func setCORS(hd http.Header) {
	hd.Set("Access-Control-Allow-Origin", "*")
	hd.Set("Access-Control-Allow-Methods", "POST, PATCH, DELETE, OPTIONS")
	hd.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, If-Match, ETag")
	hd.Set("Access-Control-Expose-Headers", "Location, ETag, Link, Accept-Patch, Retry-After")
}

func (h *Handler) serveEndpoint(w http.ResponseWriter, r *http.Request, stream string) {
	switch r.Method {
	case http.MethodOptions:
		// CORS preflight needs no token (RFC 9725 section 4.2).
		w.Header().Set("Accept-Post", contentTypeSDP)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPost:
		h.post(w, r, stream)
	default:
		w.Header().Set("Allow", "POST, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on a "+h.cfg.Name+" endpoint")
	}
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request, stream string) {
	if !h.authorized(w, r, stream) {
		return
	}
	offer, ok := readBody(w, r, contentTypeSDP, h.cfg.MaxBody)
	if !ok {
		return
	}
	id, err := newSessionID()
	if err != nil {
		httpError(w, http.StatusInternalServerError, "session id: "+err.Error())
		return
	}
	release := func() {}
	if h.cfg.Admit != nil {
		rel, err := h.cfg.Admit(r, stream)
		if err != nil {
			h.refuse(w, r, stream, err)
			return
		}
		release = rel
	}
	sess, answer, err := h.cfg.Start(r.Context(), StartRequest{Stream: stream, Offer: offer, Remote: r.RemoteAddr})
	if err != nil {
		release()
		h.refuse(w, r, stream, err)
		return
	}
	e := &entry{stream: stream, sess: sess, release: release}
	if _, ok := sess.(Restarter); ok {
		if e.etag, err = newETag(); err != nil {
			_ = sess.Close()
			release()
			httpError(w, http.StatusInternalServerError, "etag: "+err.Error())
			return
		}
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		_ = sess.Close()
		release()
		w.Header().Set("Retry-After", strconv.Itoa(closedRetryAfter))
		httpError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	h.sessions[id] = e
	h.wg.Add(1)
	h.mu.Unlock()
	go h.watch(id, e)

	location := h.prefix + stream + "/" + id
	hd := w.Header()
	hd.Set("Content-Type", contentTypeSDP)
	hd.Set("Location", location)
	hd.Set("Accept-Patch", contentTypeFrag)
	if e.etag != "" {
		hd.Set("ETag", e.etag)
	}
	for _, l := range linkHeaders(h.cfg.ICEServers) {
		hd.Add("Link", l)
	}
	w.WriteHeader(http.StatusCreated)
	if _, err := w.Write(answer); err != nil {
		h.cfg.Logger.Debug(h.cfg.Name+": write answer", "stream", stream, "err", err)
	}
}

// refuse turns a Starter error into a status: the client's mistakes are 4xx
// with the reason; only the gateway's own failures are 500.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, stream string, err error) {
	var se StatusError
	if !errors.As(err, &se) {
		h.cfg.Logger.Error(h.cfg.Name+": start session", "stream", stream, "remote", r.RemoteAddr, "err", err)
		httpError(w, http.StatusInternalServerError, "could not start the session")
		return
	}
	var ra RetryAfterError
	if errors.As(err, &ra) && ra.RetryAfter() > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ra.RetryAfter()))
	}
	h.cfg.Logger.Info(h.cfg.Name+": refused", "stream", stream, "remote", r.RemoteAddr,
		"status", se.HTTPStatus(), "reason", se.Error())
	httpError(w, se.HTTPStatus(), se.Error())
}

// watch removes a session that ends by itself.
func (h *Handler) watch(id string, e *entry) {
	defer h.wg.Done()
	<-e.sess.Done()
	h.drop(id, e)
}

func (h *Handler) drop(id string, e *entry) {
	h.mu.Lock()
	if h.sessions[id] == e {
		delete(h.sessions, id)
	}
	h.mu.Unlock()
	e.once.Do(func() {
		if err := e.sess.Close(); err != nil {
			h.cfg.Logger.Debug(h.cfg.Name+": close session", "stream", e.stream, "err", err)
		}
		e.release()
	})
}

func (h *Handler) lookup(stream, id string) (*entry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.sessions[id]
	if !ok || e.stream != stream {
		return nil, false
	}
	return e, true
}

func (h *Handler) serveSession(w http.ResponseWriter, r *http.Request, stream, id string) {
	if r.Method == http.MethodOptions {
		w.Header().Set("Accept-Patch", contentTypeFrag)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPatch && r.Method != http.MethodDelete {
		w.Header().Set("Allow", "PATCH, DELETE, OPTIONS")
		httpError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed on a session")
		return
	}
	if !h.authorized(w, r, stream) {
		return
	}
	e, ok := h.lookup(stream, id)
	if !ok {
		httpError(w, http.StatusNotFound, "no such session")
		return
	}
	if r.Method == http.MethodDelete {
		h.drop(id, e)
		w.WriteHeader(http.StatusOK)
		return
	}
	h.patch(w, r, e)
}

// patch handles trickle ICE (RFC 9725 section 4.3.1) and ICE restarts
// (section 4.4): a fragment with a new ufrag is a restart, which needs
// If-Match with the session's ETag or "*" (428 without, 412 for a stale
// one) and a session that takes restarts (else 422).
func (h *Handler) patch(w http.ResponseWriter, r *http.Request, e *entry) {
	body, ok := readBody(w, r, contentTypeFrag, h.cfg.MaxBody)
	if !ok {
		return
	}
	frag := parseFragment(body)
	if frag.ufrag != "" && frag.ufrag != e.sess.RemoteICEUfrag() {
		h.restart(w, r, e, frag)
		return
	}
	for _, c := range frag.candidates {
		mid := c.mid
		init := webrtc.ICECandidateInit{Candidate: c.candidate}
		if mid != "" {
			init.SDPMid = &mid
		}
		// Unusable candidates are dropped silently (RFC 9725 section 4.3.1).
		_ = e.sess.AddICECandidate(init)
	}
	w.WriteHeader(http.StatusNoContent)
}

// restart is a PATCH that starts a new ICE session.
func (h *Handler) restart(w http.ResponseWriter, r *http.Request, e *entry, frag fragment) {
	ifMatch := r.Header.Get("If-Match")
	if ifMatch == "" {
		ifMatch = r.Header.Get("ETag") // some SDKs send it under this name
	}
	e.mu.Lock()
	defer e.mu.Unlock() // one restart at a time per session
	rs, restarts := e.sess.(Restarter)
	switch {
	case ifMatch == "":
		httpError(w, http.StatusPreconditionRequired, "an ICE restart needs If-Match")
		return
	case ifMatch != "*" && ifMatch != e.etag:
		httpError(w, http.StatusPreconditionFailed, "ETag does not match the ICE session")
		return
	case !restarts:
		httpError(w, http.StatusUnprocessableEntity, "ICE restart is not supported; start a new session")
		return
	case frag.pwd == "":
		httpError(w, http.StatusBadRequest, "an ICE restart needs a=ice-pwd")
		return
	}
	etag, err := newETag()
	if err != nil {
		httpError(w, http.StatusInternalServerError, "etag: "+err.Error())
		return
	}
	answer, err := rs.RestartICE(frag.ufrag, frag.pwd)
	if err != nil {
		var se StatusError
		if errors.As(err, &se) {
			httpError(w, se.HTTPStatus(), se.Error())
			return
		}
		h.cfg.Logger.Error(h.cfg.Name+": ice restart", "stream", e.stream, "err", err)
		httpError(w, http.StatusInternalServerError, "ICE restart failed; the old ICE session goes on")
		return
	}
	e.etag = etag
	hd := w.Header()
	hd.Set("Content-Type", contentTypeFrag)
	hd.Set("ETag", etag)
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(answer); err != nil {
		h.cfg.Logger.Debug(h.cfg.Name+": write restart answer", "stream", e.stream, "err", err)
	}
}

// newETag is a strong entity tag unique to an ICE session (RFC 9110
// section 8.8.3: quoted).
func newETag() (string, error) {
	id, err := newSessionID()
	if err != nil {
		return "", err
	}
	return `"` + id + `"`, nil
}

// authorized checks the Bearer token for stream (RFC 9725 section 4.5):
// missing or wrong is 401, right for another stream only is 403. Tokens are
// compared in constant time and never logged.
func (h *Handler) authorized(w http.ResponseWriter, r *http.Request, stream string) bool {
	if h.cfg.Token == nil {
		return true
	}
	want := h.cfg.Token(stream)
	if want == "" {
		return true
	}
	// The scheme is case-insensitive (RFC 9110 section 11.1).
	scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	got = strings.TrimSpace(got)
	ok = ok && strings.EqualFold(scheme, "Bearer") && got != ""
	if ok && TokenEqual(got, want) {
		return true
	}
	if ok && h.cfg.TokenElsewhere != nil && h.cfg.TokenElsewhere(got) {
		httpError(w, http.StatusForbidden, "this token may not publish to stream "+stream)
		return false
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="frontrow"`)
	httpError(w, http.StatusUnauthorized, "missing or wrong bearer token")
	return false
}

// TokenEqual compares two secrets in constant time; hashing them first keeps
// their lengths from showing too.
func TokenEqual(got, want string) bool {
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// readBody checks the media type and size of a request body.
func readBody(w http.ResponseWriter, r *http.Request, wantType string, limit int64) ([]byte, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !strings.EqualFold(mt, wantType) {
		httpError(w, http.StatusUnsupportedMediaType, "Content-Type must be "+wantType)
		return nil, false
	}
	if r.ContentLength > limit {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", limit))
		return nil, false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		httpError(w, http.StatusBadRequest, "read body: "+err.Error())
		return nil, false
	}
	if int64(len(body)) > limit {
		httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", limit))
		return nil, false
	}
	return body, true
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
}

// newSessionID makes an unguessable session URL part (RFC 9725 section 4.5).
func newSessionID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// linkHeaders renders ICE servers as RFC 9725 section 4.6 Link values.
func linkHeaders(servers []webrtc.ICEServer) []string {
	var out []string
	for _, s := range servers {
		for _, u := range s.URLs {
			l := "<" + u + `>; rel="ice-server"`
			if cred, ok := s.Credential.(string); ok && s.Username != "" {
				l += fmt.Sprintf(`; username=%q; credential=%q; credential-type="password"`, s.Username, cred)
			}
			out = append(out, l)
		}
	}
	return out
}

// Sessions counts the open sessions.
func (h *Handler) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

// Close ends every session and waits for their watchers. Idempotent.
func (h *Handler) Close() {
	h.mu.Lock()
	h.closed = true
	all := make(map[string]*entry, len(h.sessions))
	for id, e := range h.sessions {
		all[id] = e
	}
	h.mu.Unlock()
	for id, e := range all {
		h.drop(id, e)
	}
	h.wg.Wait()
}
