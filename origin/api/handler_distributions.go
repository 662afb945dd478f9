package api

import (
	"net/http"
)

// listDistributions answers GET /api/v1/streams/{stream}/distributions.
func (h *handler) listDistributions(w http.ResponseWriter, r *http.Request) {
	stream, err := streamParam(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]Distribution{"distributions": h.store.ListStream(stream)})
}

// createDistribution answers POST /api/v1/streams/{stream}/distributions:
// 201 with the distribution and its Location. The stream need not be live.
func (h *handler) createDistribution(w http.ResponseWriter, r *http.Request) {
	stream, err := streamParam(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	body, err := readBody(w, r, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d, err := decodeCreate(body, stream)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if d, err = h.store.Create(d); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("distribution created", "id", d.ID, "stream", d.Stream, "name", d.Name)
	w.Header().Set("Location", Prefix+"distributions/"+d.ID)
	writeJSON(w, http.StatusCreated, d)
}

// getDistribution answers GET /api/v1/distributions/{id}.
func (h *handler) getDistribution(w http.ResponseWriter, r *http.Request) {
	d, ok := h.store.Get(r.PathValue("id"))
	if !ok {
		h.fail(w, r, ErrNotFound)
		return
	}
	w.Header().Set("Accept-Patch", contentTypeMerg) // RFC 5789 section 3.1
	writeJSON(w, http.StatusOK, d)
}

// patchDistribution answers PATCH /api/v1/distributions/{id}: an RFC 7396
// merge patch (present fields replace, null removes, absent stay).
func (h *handler) patchDistribution(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		h.fail(w, r, ErrNotFound)
		return
	}
	body, err := readBody(w, r, false)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d, err := h.store.Update(id, func(cur Distribution) (Distribution, error) { return applyPatch(cur, body) })
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("distribution updated", "id", d.ID, "stream", d.Stream)
	writeJSON(w, http.StatusOK, d)
}

// deleteDistribution answers DELETE /api/v1/distributions/{id}: 204.
func (h *handler) deleteDistribution(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := h.store.Delete(id); err != nil {
		h.fail(w, r, err)
		return
	}
	h.log.Info("distribution deleted", "id", id)
	w.WriteHeader(http.StatusNoContent)
}
