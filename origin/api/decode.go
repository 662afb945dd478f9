package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
)

// maxEchoLen bounds how much of an unknown field's name an error repeats.
const maxEchoLen = 64

// Decoding works on a generic JSON tree, not straight into structs, so that
// PATCH can tell absent from null (RFC 7396), unknown fields are refused by
// their exact, case-sensitive name, and every mistake names its full path.

// parseObject reads a request body that must be exactly one JSON object.
func parseObject(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &FieldError{Message: "body must be a JSON object, and it is empty"}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // integers stay exact; no float rounding of 2^53+1
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &FieldError{Message: "body is not valid JSON: " + jsonProblem(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, &FieldError{Message: "body must hold one JSON object and nothing after it"}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &FieldError{Message: "body must be a JSON object"}
	}
	return m, nil
}

func jsonProblem(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("%s (at byte %d)", syn.Error(), syn.Offset)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "it ends too early"
	}
	return err.Error()
}

// decodeCreate turns a POST body into a new distribution for stream, with
// defaults applied; it is not validated yet.
func decodeCreate(body []byte, stream string) (Distribution, error) {
	patch, err := parseObject(body)
	if err != nil {
		return Distribution{}, err
	}
	d, err := fromTree(mergePatch(nil, patch))
	if err != nil {
		return Distribution{}, err
	}
	if d.ID != "" {
		return Distribution{}, fieldErrorf("id", "is assigned by the server; leave it out")
	}
	if d.Stream != "" && d.Stream != stream {
		return Distribution{}, fieldErrorf("stream", "must match the stream in the URL (%q) or be left out", stream)
	}
	d.Stream = stream
	return d, nil
}

// applyPatch merges a PATCH body into cur; id and stream cannot change.
func applyPatch(cur Distribution, body []byte) (Distribution, error) {
	patch, err := parseObject(body)
	if err != nil {
		return Distribution{}, err
	}
	base, err := toTree(cur)
	if err != nil {
		return Distribution{}, err
	}
	d, err := fromTree(mergePatch(base, patch))
	if err != nil {
		return Distribution{}, err
	}
	if d.ID != cur.ID {
		return Distribution{}, fieldErrorf("id", "cannot be changed")
	}
	if d.Stream != cur.Stream {
		return Distribution{}, fieldErrorf("stream", "cannot be changed; create a distribution for the other stream")
	}
	return d, nil
}

// toTree renders d as the generic tree a merge patch applies to.
func toTree(d Distribution) (map[string]any, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("encode distribution %s: %w", d.ID, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("decode distribution %s: %w", d.ID, err)
	}
	return m, nil
}

// fromTree reads a distribution out of a merged tree, applying defaults:
// absent or null webRtc means none, absent hls.priority is 1, absent
// webRtc.priority is 0, absent lists are empty.
func fromTree(m map[string]any) (Distribution, error) {
	root := object{m: m}
	if err := root.only("id", "name", "stream", "security", "webRtc", "hls"); err != nil {
		return Distribution{}, err
	}
	var d Distribution
	var err error
	if d.ID, err = root.str("id"); err != nil {
		return d, err
	}
	if d.Name, err = root.str("name"); err != nil {
		return d, err
	}
	if d.Stream, err = root.str("stream"); err != nil {
		return d, err
	}
	if d.Security, err = securityFrom(root); err != nil {
		return d, err
	}
	if d.WebRTC, err = webRTCFrom(root); err != nil {
		return d, err
	}
	d.HLS.Priority = DefaultHLSPriority
	if h, ok, err := root.object("hls"); err != nil {
		return d, err
	} else if ok {
		if err := h.only("priority"); err != nil {
			return d, err
		}
		if d.HLS.Priority, err = h.integer("priority", DefaultHLSPriority); err != nil {
			return d, err
		}
	}
	return d, nil
}

func securityFrom(root object) (Security, error) {
	s := Security{AllowedIPs: []string{}, BlockedIPs: []string{}, AllowedReferrers: []string{}}
	o, ok, err := root.object("security")
	if err != nil || !ok {
		return s, err
	}
	if err := o.only("tokenRequired", "allowedIPs", "blockedIPs", "allowedReferrers"); err != nil {
		return s, err
	}
	if s.TokenRequired, err = o.boolean("tokenRequired"); err != nil {
		return s, err
	}
	if s.AllowedIPs, err = o.strings("allowedIPs"); err != nil {
		return s, err
	}
	if s.BlockedIPs, err = o.strings("blockedIPs"); err != nil {
		return s, err
	}
	s.AllowedReferrers, err = o.strings("allowedReferrers")
	return s, err
}

func webRTCFrom(root object) (*WebRTC, error) {
	o, ok, err := root.object("webRtc")
	if err != nil || !ok {
		return nil, err
	}
	if err := o.only("priority", "src"); err != nil {
		return nil, err
	}
	w := &WebRTC{}
	if w.Priority, err = o.integer("priority", 0); err != nil {
		return nil, err
	}
	src, ok, err := o.object("src")
	if err != nil || !ok {
		return w, err
	}
	if err := src.only("name", "accountId", "apiUrl"); err != nil {
		return nil, err
	}
	w.Src = &WebRTCSource{}
	if w.Src.Name, err = src.str("name"); err != nil {
		return nil, err
	}
	if w.Src.AccountID, err = src.str("accountId"); err != nil {
		return nil, err
	}
	if w.Src.APIURL, err = src.str("apiUrl"); err != nil {
		return nil, err
	}
	return w, nil
}

// object is one JSON object of a tree, with its path for error messages.
type object struct {
	path string
	m    map[string]any
}

func (o object) field(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// only refuses members other than keys, naming the first in sorted order so
// the message does not depend on map order.
func (o object) only(keys ...string) error {
	var unknown []string
	for k := range o.m {
		if !slices.Contains(keys, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	name := unknown[0]
	if len(name) > maxEchoLen { // do not echo a 60 KiB key back
		name = name[:maxEchoLen] + "..."
	}
	return fieldErrorf(o.field(name), "is not a known field (known: %s)", strings.Join(keys, ", "))
}

// object returns the member key as an object; absent or null is ok == false.
func (o object) object(key string) (object, bool, error) {
	switch v := o.m[key].(type) {
	case nil:
		return object{}, false, nil
	case map[string]any:
		return object{path: o.field(key), m: v}, true, nil
	default:
		return object{}, false, fieldErrorf(o.field(key), "must be an object")
	}
}

func (o object) str(key string) (string, error) {
	switch v := o.m[key].(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	default:
		return "", fieldErrorf(o.field(key), "must be a string")
	}
}

func (o object) boolean(key string) (bool, error) {
	switch v := o.m[key].(type) {
	case nil:
		return false, nil
	case bool:
		return v, nil
	default:
		return false, fieldErrorf(o.field(key), "must be true or false")
	}
}

// integer reads a whole number; 1e2 is 100, 1.5 is refused, and numbers
// beyond 32 bits are clamped so range checks report them, portably.
func (o object) integer(key string, def int) (int, error) {
	v, present := o.m[key]
	if !present || v == nil {
		return def, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return 0, fieldErrorf(o.field(key), "must be an integer")
	}
	f, err := n.Float64() // err is a range error only: f is then ±Inf
	if i, ierr := n.Int64(); ierr == nil {
		f, err = float64(i), nil
	}
	if (err == nil && f != math.Trunc(f)) || math.IsNaN(f) {
		return 0, fieldErrorf(o.field(key), "must be an integer")
	}
	return int(max(min(f, math.MaxInt32), math.MinInt32)), nil
}

// strings reads an array of strings; absent or null is an empty list.
func (o object) strings(key string) ([]string, error) {
	v, present := o.m[key]
	if !present || v == nil {
		return []string{}, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fieldErrorf(o.field(key), "must be an array of strings")
	}
	out := make([]string, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, fieldErrorf(fmt.Sprintf("%s[%d]", o.field(key), i), "must be a string")
		}
		out[i] = s
	}
	return out, nil
}
