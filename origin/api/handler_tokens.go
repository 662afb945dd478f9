package api

import (
	"bytes"
	"net/http"
	"time"
)

// tokenResponse is the answer to POST /api/v1/distributions/{id}/tokens.
type tokenResponse struct {
	Token        string    `json:"token"`
	ExpiresAt    time.Time `json:"expiresAt"`
	Distribution string    `json:"distribution"`
}

// mintToken answers POST /api/v1/distributions/{id}/tokens with a viewer
// token; the body {"ttlSeconds": n} is optional (default DefaultTokenTTL).
func (h *handler) mintToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, ok := h.store.Get(id); !ok {
		h.fail(w, r, ErrNotFound)
		return
	}
	body, err := readBody(w, r, true)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ttl, err := decodeTTL(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	token, expires, err := h.store.MintToken(id, ttl, h.now())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{Token: token, ExpiresAt: expires, Distribution: id})
}

// decodeTTL reads {"ttlSeconds": n}; an empty body is the default.
func decodeTTL(body []byte) (time.Duration, error) {
	secs := int(DefaultTokenTTL / time.Second)
	if len(bytes.TrimSpace(body)) > 0 { // empty: the default
		m, err := parseObject(body)
		if err != nil {
			return 0, err
		}
		o := object{m: m}
		if err := o.only("ttlSeconds"); err != nil {
			return 0, err
		}
		if secs, err = o.integer("ttlSeconds", secs); err != nil {
			return 0, err
		}
	}
	maxSecs := int(MaxTokenTTL / time.Second)
	switch {
	case secs < 1:
		return 0, fieldErrorf("ttlSeconds", "must be 1 or higher")
	case secs > maxSecs:
		return 0, fieldErrorf("ttlSeconds", "must be at most %d (%s)", maxSecs, MaxTokenTTL)
	}
	return time.Duration(secs) * time.Second, nil
}
