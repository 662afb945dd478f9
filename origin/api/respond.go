package api

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// statusError is a client mistake with its own status (413, 415 ...).
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// errorBody is every error answer: {"error": "...", "field": "..."}.
type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// fail turns an error into its status code, in this one place: field errors
// 400, unknown ids 404, statusErrors their own; anything else is the
// server's fault, logged and 500.
func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var fe *FieldError
	var se *statusError
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: fe.Message, Field: fe.Field})
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.As(err, &se):
		writeError(w, se.status, se.msg)
	default:
		h.log.Error("distribution api", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error; the gateway's log has the details")
	}
}

// readBody reads a JSON request body of at most maxBody bytes. An empty
// body is allowed (returned as nil) only when optional.
func readBody(w http.ResponseWriter, r *http.Request, optional bool) ([]byte, error) {
	if optional && r.ContentLength == 0 {
		return nil, nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || (mt != contentTypeJSON && mt != contentTypeMerg) {
		return nil, &statusError{http.StatusUnsupportedMediaType,
			"Content-Type must be " + contentTypeJSON + " (or " + contentTypeMerg + ")"}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, &statusError{http.StatusRequestEntityTooLarge,
			"body is larger than " + strconv.Itoa(maxBody>>10) + " KiB"}
	case err != nil:
		return nil, &statusError{http.StatusBadRequest, "could not read the body: " + err.Error()}
	}
	return body, nil
}
