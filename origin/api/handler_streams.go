package api

import (
	"net/http"
	"slices"
	"strings"
)

// listStreams answers GET /api/v1/streams: the gateway's streams and those
// that only have distributions so far (not live), by name.
func (h *handler) listStreams(w http.ResponseWriter, _ *http.Request) {
	ids := map[string][]string{}
	for _, d := range h.store.List() {
		ids[d.Stream] = append(ids[d.Stream], d.ID)
	}
	var out []streamView
	if h.streams != nil {
		for _, st := range h.streams.Streams() {
			out = append(out, streamView{StreamStatus: st, Distributions: orEmpty(ids[st.Name])})
			delete(ids, st.Name)
		}
	}
	for name, list := range ids {
		out = append(out, streamView{StreamStatus: StreamStatus{Name: name}, Distributions: list})
	}
	slices.SortFunc(out, func(a, b streamView) int { return strings.Compare(a.Name, b.Name) })
	writeJSON(w, http.StatusOK, map[string][]streamView{"streams": orEmpty(out)})
}

// getStream answers GET /api/v1/streams/{stream}.
func (h *handler) getStream(w http.ResponseWriter, r *http.Request) {
	name, err := streamParam(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var ids []string
	for _, d := range h.store.ListStream(name) {
		ids = append(ids, d.ID)
	}
	st, ok := StreamStatus{Name: name}, false
	if h.streams != nil {
		if st, ok = h.streams.Stream(name); !ok {
			st = StreamStatus{Name: name}
		}
	}
	if !ok && len(ids) == 0 {
		writeError(w, http.StatusNotFound, "stream "+name+" is not on this gateway and has no distributions")
		return
	}
	writeJSON(w, http.StatusOK, streamView{StreamStatus: st, Distributions: orEmpty(ids)})
}

// streamParam is the {stream} of the URL, checked like the ingest checks it.
func streamParam(r *http.Request) (string, error) {
	name := r.PathValue("stream")
	if !ValidStreamName(name) {
		return "", fieldErrorf("stream", "must be 1-64 characters of A-Z a-z 0-9 _ - . (not . or ..)")
	}
	return name, nil
}

// orEmpty makes a nil list [] in JSON.
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
