package api

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// testKey is a fixed viewer token key, so tests need no key file.
var testKey = bytes.Repeat([]byte{7}, 32)

func openTestStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(StoreConfig{Dir: dir, TokenKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustCreate(t *testing.T, s *Store, d Distribution) Distribution {
	t.Helper()
	got, err := s.Create(d)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sample(stream, name string) Distribution {
	return Distribution{
		Name: name, Stream: stream,
		Security: Security{AllowedIPs: []string{"10.0.0.0/8"}, AllowedReferrers: []string{"example.com"}},
		WebRTC:   &WebRTC{Priority: 0, Src: &WebRTCSource{Name: "n", AccountID: "a", APIURL: "https://cdn.example.com/whep"}},
		HLS:      HLS{Priority: 1},
	}
}

func TestStorePersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	a := mustCreate(t, s, sample("live", "a"))
	b := mustCreate(t, s, Distribution{Name: "b", Stream: "live", HLS: HLS{Priority: 1}})
	c := mustCreate(t, s, Distribution{Name: "c", Stream: "other", HLS: HLS{Priority: 2}})
	if _, err := s.Update(b.ID, func(d Distribution) (Distribution, error) {
		d.WebRTC = &WebRTC{Priority: 3}
		return d, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(c.ID); err != nil {
		t.Fatal(err)
	}
	want := s.List()

	r := openTestStore(t, dir)
	if got := r.List(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopen:\n got %+v\nwant %+v", got, want)
	}
	if got, ok := r.Get(a.ID); !ok || !reflect.DeepEqual(got, a) {
		t.Errorf("Get(%s) = %+v, %v", a.ID, got, ok)
	}
	if _, ok := r.Get(c.ID); ok {
		t.Error("deleted distribution came back")
	}
	if got := r.ListStream("live"); len(got) != 2 || got[0].Name != "a" || got[1].WebRTC.Priority != 3 {
		t.Errorf("ListStream = %+v", got)
	}
}

func TestStoreIDs(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	seen := map[string]bool{}
	for i := range 50 {
		d := mustCreate(t, s, Distribution{Name: fmt.Sprint(i), Stream: "live", HLS: HLS{Priority: 1}})
		if !validID(d.ID) || seen[d.ID] {
			t.Fatalf("id %q: valid %v, seen %v", d.ID, validID(d.ID), seen[d.ID])
		}
		seen[d.ID] = true
	}
	// A random source that repeats itself cannot produce a duplicate id.
	s.random = bytes.NewReader(make([]byte, idBytes*10))
	first := mustCreate(t, s, Distribution{Name: "x", Stream: "live", HLS: HLS{Priority: 1}})
	if _, err := s.Create(Distribution{Name: "y", Stream: "live", HLS: HLS{Priority: 1}}); err == nil {
		t.Errorf("second create with a stuck random source succeeded (first id %s)", first.ID)
	}
}

func TestStoreReturnsCopies(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	d := mustCreate(t, s, sample("live", "a"))
	d.Security.AllowedIPs[0] = "0.0.0.0/0"
	d.WebRTC.Src.APIURL = "https://evil.example"
	got, _ := s.Get(d.ID)
	got.Security.AllowedReferrers[0] = "evil.example"
	again, _ := s.Get(d.ID)
	if again.Security.AllowedIPs[0] != "10.0.0.0/8" || again.WebRTC.Src.APIURL != "https://cdn.example.com/whep" ||
		again.Security.AllowedReferrers[0] != "example.com" {
		t.Errorf("store shares memory with callers: %+v", again)
	}
}

func TestStoreUpdateRules(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	d := mustCreate(t, s, sample("live", "a"))
	tests := []struct {
		name   string
		change func(Distribution) (Distribution, error)
		want   string
	}{
		{"id", func(d Distribution) (Distribution, error) { d.ID = "x"; return d, nil }, "id cannot be changed"},
		{"stream", func(d Distribution) (Distribution, error) { d.Stream = "x"; return d, nil }, "stream cannot be changed"},
		{"invalid", func(d Distribution) (Distribution, error) { d.HLS.Priority = -1; return d, nil }, "hls.priority must be 0 or higher"},
		{"change's error", func(Distribution) (Distribution, error) { return Distribution{}, errors.New("boom") }, "boom"},
	}
	for _, tc := range tests {
		if _, err := s.Update(d.ID, tc.change); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	if got, _ := s.Get(d.ID); !reflect.DeepEqual(got, d) {
		t.Errorf("failed updates changed the distribution: %+v", got)
	}
	if _, err := s.Update("nope", func(d Distribution) (Distribution, error) { return d, nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("update of unknown id: %v", err)
	}
	if err := s.Delete("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete of unknown id: %v", err)
	}
}

func TestStoreConcurrent(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	d := mustCreate(t, s, sample("live", "shared"))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 5 {
				if _, err := s.Create(Distribution{Name: fmt.Sprint(i, j), Stream: "live", HLS: HLS{Priority: 1}}); err != nil {
					t.Error(err)
				}
				if _, err := s.Update(d.ID, func(d Distribution) (Distribution, error) { d.HLS.Priority++; return d, nil }); err != nil {
					t.Error(err)
				}
				_ = s.List()
				_, _ = s.Get(d.ID)
			}
		})
	}
	wg.Wait()
	got, _ := s.Get(d.ID)
	if got.HLS.Priority != 1+8*5 {
		t.Errorf("hls.priority = %d, want %d (lost updates)", got.HLS.Priority, 1+8*5)
	}
	if n := len(openTestStore(t, dir).List()); n != 1+8*5 {
		t.Errorf("reopened store has %d distributions, want %d", n, 1+8*5)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"truncated", `{"version":1,"distributions":[{"id":`, "is corrupt"},
		{"not json", "hello", "is corrupt"},
		{"trailing", `{"version":1,"distributions":[]} x`, "data after the end"},
		{"unknown field", `{"version":1,"distributions":[],"extra":1}`, "is corrupt"},
		{"version", `{"version":2,"distributions":[]}`, "version 2"},
		{"bad id", `{"version":1,"distributions":[{"id":"x","name":"a","stream":"s","hls":{"priority":1}}]}`, `invalid id "x"`},
		{"invalid", `{"version":1,"distributions":[{"id":"AAAAAAAAAAAAAAAAAAAAAA","name":"","stream":"s","hls":{"priority":1}}]}`, "name is required"},
		{"duplicate", `{"version":1,"distributions":[{"id":"AAAAAAAAAAAAAAAAAAAAAA","name":"a","stream":"s","hls":{"priority":1}},{"id":"AAAAAAAAAAAAAAAAAAAAAA","name":"b","stream":"s","hls":{"priority":1}}]}`, "appears twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, distributionsFile)
			if err := os.WriteFile(path, []byte(tc.file), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(StoreConfig{Dir: dir, TokenKey: testKey})
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %s and saying %q", err, path, tc.want)
			}
		})
	}
	if _, err := Open(StoreConfig{}); err == nil || !strings.Contains(err.Error(), "data.dir") {
		t.Errorf("no dir: err = %v", err)
	}
	if _, err := Open(StoreConfig{Dir: t.TempDir(), TokenKey: []byte("short")}); err == nil {
		t.Error("a short token key was accepted")
	}
}

func TestTokenKeyFile(t *testing.T) {
	dir := t.TempDir()
	s1, err := Open(StoreConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	d := mustCreate(t, s1, sample("live", "a"))
	tok, _, err := s1.MintToken(d.ID, DefaultTokenTTL, fixedNow)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, tokenKeyFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, info.Mode())
	}
	s2, err := Open(StoreConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.VerifyToken(tok, d.ID, fixedNow); err != nil {
		t.Errorf("token minted before a restart: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, tokenKeyFile), []byte("zz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(StoreConfig{Dir: dir}); err == nil || !strings.Contains(err.Error(), tokenKeyFile) {
		t.Errorf("corrupt key file: err = %v", err)
	}
}
