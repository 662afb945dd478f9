package api

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// FuzzDistributionJSON feeds arbitrary bodies to the API's decoding, as POST
// and as PATCH. Invariants: no panic; every refusal is a *FieldError (so the
// API answers 400, never 500); whatever is accepted and valid survives a
// JSON round trip unchanged (the store would persist and reload it as is).
// Inputs that once broke it live in testdata/fuzz/FuzzDistributionJSON.
func FuzzDistributionJSON(f *testing.F) {
	for _, seed := range []string{
		`{"name":"main"}`,
		`{"name":"a","webRtc":{"priority":0,"src":{"name":"n","accountId":"x","apiUrl":"https://cdn.example.com/whep"}},"hls":{"priority":1}}`,
		`{"name":"a","security":{"tokenRequired":true,"allowedIPs":["10.0.0.0/8","2001:db8::/32"],"blockedIPs":["10.9.0.0/16"],"allowedReferrers":["*.example.com"]}}`,
		`{"webRtc":null}`,
		`{"hls":{"priority":1e400}}`,
	} {
		f.Add([]byte(seed))
	}
	base := Distribution{ID: "AAAAAAAAAAAAAAAAAAAAAA", Name: "base", Stream: "live", HLS: HLS{Priority: 1},
		WebRTC:   &WebRTC{Priority: 0},
		Security: Security{AllowedIPs: []string{"10.0.0.0/8"}, BlockedIPs: []string{}, AllowedReferrers: []string{}}}
	f.Fuzz(func(t *testing.T, body []byte) {
		created, err := decodeCreate(body, "live")
		check(t, "create", created, err)
		patched, err := applyPatch(base.Clone(), body)
		check(t, "patch", patched, err)
	})
}

func check(t *testing.T, what string, d Distribution, err error) {
	var fe *FieldError
	if err == nil {
		err = Validate(&d)
	}
	if err != nil {
		if !errors.As(err, &fe) {
			t.Fatalf("%s: error %T %v is not a *FieldError", what, err, err)
		}
		return
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatalf("%s: marshal: %v", what, err)
	}
	// As the store reloads it: plain struct decoding, then Validate.
	var loaded Distribution
	if err := json.Unmarshal(b, &loaded); err != nil {
		t.Fatalf("%s: unmarshal %s: %v", what, b, err)
	}
	if err := Validate(&loaded); err != nil || !reflect.DeepEqual(loaded, d) {
		t.Fatalf("%s: reload of %s: %v\n got %+v\nwant %+v", what, b, err, loaded, d)
	}
	// A patch with the whole document changes nothing.
	same, err := applyPatch(d, b)
	if err == nil {
		err = Validate(&same)
	}
	if err != nil || !reflect.DeepEqual(same, d) {
		t.Fatalf("%s: self-patch with %s: %v\n got %+v\nwant %+v", what, b, err, same, d)
	}
}
