package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Prefix is where the lead mounts the handler: mux.Handle(api.Prefix, h).
const Prefix = "/api/v1/"

// API limits and headers.
const (
	maxBody         = 64 << 10 // bytes; a distribution is well under 4 KiB
	adminRealm      = `Bearer realm="frontrow-api"`
	contentTypeJSON = "application/json"
	contentTypeMerg = "application/merge-patch+json" // RFC 7396 section 4
)

// HandlerConfig sets up the API handler.
type HandlerConfig struct {
	// Store holds the distributions; required.
	Store *Store
	// Streams reports live streams. Nil: the stream endpoints show only
	// streams that have distributions, all as not live.
	Streams StreamLister
	// AdminToken is auth.admin_token. Empty: every request is refused with
	// 503 (the API is off), which the lead logs at start.
	AdminToken string
	// Now is the clock tokens are minted with. Default: time.Now.
	Now func() time.Time
	// Logger receives changes and server-side failures. Default: slog.Default().
	Logger *slog.Logger
}

type handler struct {
	store     *Store
	streams   StreamLister
	adminHash *[sha256.Size]byte // nil: no admin token configured
	now       func() time.Time
	log       *slog.Logger
	mux       *http.ServeMux
}

// NewHandler returns the /api/v1/ handler; see the package documentation
// for its URLs and status codes.
func NewHandler(cfg HandlerConfig) http.Handler {
	if cfg.Store == nil {
		panic("api: HandlerConfig.Store is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	h := &handler{store: cfg.Store, streams: cfg.Streams, now: cfg.Now, log: cfg.Logger, mux: http.NewServeMux()}
	if cfg.AdminToken != "" {
		sum := sha256.Sum256([]byte(cfg.AdminToken))
		h.adminHash = &sum
	}
	h.mux.Handle(Prefix+"streams", methods{http.MethodGet: h.listStreams})
	h.mux.Handle(Prefix+"streams/{stream}", methods{http.MethodGet: h.getStream})
	h.mux.Handle(Prefix+"streams/{stream}/distributions", methods{
		http.MethodGet: h.listDistributions, http.MethodPost: h.createDistribution,
	})
	h.mux.Handle(Prefix+"distributions/{id}", methods{
		http.MethodGet: h.getDistribution, http.MethodPatch: h.patchDistribution, http.MethodDelete: h.deleteDistribution,
	})
	h.mux.Handle(Prefix+"distributions/{id}/tokens", methods{http.MethodPost: h.mintToken})
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such API resource: "+r.URL.Path)
	})
	return h
}

// ServeHTTP checks the admin token, then routes. The token is compared as
// SHA-256 digests in constant time, so neither its bytes nor its length leak.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.adminHash == nil {
		writeError(w, http.StatusServiceUnavailable,
			"the distribution API is off: set auth.admin_token (FRONTROW_AUTH_ADMIN_TOKEN) to turn it on")
		return
	}
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		// RFC 6750 section 3: no credentials -> 401 with a challenge.
		w.Header().Set("WWW-Authenticate", adminRealm)
		writeError(w, http.StatusUnauthorized, "missing admin token: send Authorization: Bearer <auth.admin_token>")
		return
	}
	if sum := sha256.Sum256([]byte(token)); subtle.ConstantTimeCompare(sum[:], h.adminHash[:]) != 1 {
		writeError(w, http.StatusForbidden, "wrong admin token")
		return
	}
	h.mux.ServeHTTP(w, r)
}

// methods routes one path by method and answers others 405 with Allow, in
// JSON like every other answer. HEAD is served as GET.
type methods map[string]http.HandlerFunc

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if f, ok := m[method]; ok {
		f(w, r)
		return
	}
	allow := make([]string, 0, len(m))
	for k := range m {
		allow = append(allow, k)
	}
	slices.Sort(allow)
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here; use "+strings.Join(allow, ", "))
}
