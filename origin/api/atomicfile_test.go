package api

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// faultFS is the real file system with one injected failure.
type faultFS struct {
	osFS
	failWrite, failSync, failRename, failSyncDir bool
}

func (f *faultFS) CreateTemp(dir, pattern string) (tempFile, error) {
	t, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: t, fs: f}, nil
}

func (f *faultFS) Rename(from, to string) error {
	if f.failRename {
		return errors.New("injected rename failure")
	}
	return os.Rename(from, to)
}

func (f *faultFS) SyncDir(dir string) error {
	if f.failSyncDir {
		return errors.New("injected directory fsync failure")
	}
	return f.osFS.SyncDir(dir)
}

type faultFile struct {
	*os.File
	fs *faultFS
}

// Write writes half, then fails: the disk filled up mid-write.
func (f *faultFile) Write(p []byte) (int, error) {
	if f.fs.failWrite {
		n, _ := f.File.Write(p[:len(p)/2])
		return n, errors.New("injected write failure: no space left on device")
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	if f.fs.failSync {
		return errors.New("injected fsync failure")
	}
	return f.File.Sync()
}

func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), tempInfix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestFailedWriteLeavesFileAndStore: whatever step fails, the real file
// keeps its old bytes, the store its old state, and no temp file is left.
func TestFailedWriteLeavesFileAndStore(t *testing.T) {
	tests := []struct {
		name  string
		fault faultFS
	}{
		{"write", faultFS{failWrite: true}},
		{"fsync", faultFS{failSync: true}},
		{"rename", faultFS{failRename: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := &faultFS{}
			s, err := open(StoreConfig{Dir: dir, TokenKey: testKey}, fs)
			if err != nil {
				t.Fatal(err)
			}
			d := mustCreate(t, s, sample("live", "kept"))
			path := filepath.Join(dir, distributionsFile)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			*fs = tc.fault
			if _, err := s.Create(sample("live", "lost")); err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("create: err = %v, want the injected failure", err)
			}
			if _, err := s.Update(d.ID, func(d Distribution) (Distribution, error) { d.Name = "changed"; return d, nil }); err == nil {
				t.Fatal("update succeeded through a failing disk")
			}
			if err := s.Delete(d.ID); err == nil {
				t.Fatal("delete succeeded through a failing disk")
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(after) != string(before) {
				t.Errorf("the real file changed:\n%s\nwant\n%s", after, before)
			}
			if got := s.List(); len(got) != 1 || !reflect.DeepEqual(got[0], d) {
				t.Errorf("store state after failures = %+v", got)
			}
			if left := tempFiles(t, dir); len(left) != 0 {
				t.Errorf("temp files left: %v", left)
			}
			*fs = faultFS{}
			if got := openTestStore(t, dir).List(); len(got) != 1 || got[0].Name != "kept" {
				t.Errorf("reopened: %+v", got)
			}
		})
	}
}

// TestDirSyncFailureIsNotAcknowledged: the rename happened but may not be
// durable, so the write is reported as failed and readers do not see it;
// the next successful write rewrites the file from the store's state.
func TestDirSyncFailureIsNotAcknowledged(t *testing.T) {
	dir := t.TempDir()
	fs := &faultFS{}
	s, err := open(StoreConfig{Dir: dir, TokenKey: testKey}, fs)
	if err != nil {
		t.Fatal(err)
	}
	fs.failSyncDir = true
	if _, err := s.Create(sample("live", "unsure")); err == nil {
		t.Fatal("create acknowledged without a durable directory entry")
	}
	if n := len(s.List()); n != 0 {
		t.Fatalf("readers see an unacknowledged write: %d distributions", n)
	}
	fs.failSyncDir = false
	mustCreate(t, s, sample("live", "sure"))
	if got := openTestStore(t, dir).List(); len(got) != 1 || got[0].Name != "sure" {
		t.Errorf("reopened: %+v", got)
	}
}

// TestLeftoverTempFilesIgnored: a crash mid-write leaves a temp file, maybe
// truncated; Open reads the real file, ignores and removes the leftovers.
func TestLeftoverTempFilesIgnored(t *testing.T) {
	dir := t.TempDir()
	s := openTestStore(t, dir)
	d := mustCreate(t, s, sample("live", "real"))
	leftovers := map[string]string{
		distributionsFile + tempInfix + "123": `{"version":1,"distributions":[{"id":`, // truncated
		distributionsFile + tempInfix + "456": `{"version":1,"distributions":[]}`,     // complete but never renamed
		tokenKeyFile + tempInfix + "789":      "",
		"unrelated" + tempInfix + "1":         "keep me",
	}
	for name, content := range leftovers {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := openTestStore(t, dir)
	if got := r.List(); len(got) != 1 || got[0].ID != d.ID {
		t.Errorf("reopened with leftovers: %+v", got)
	}
	if left := tempFiles(t, dir); !reflect.DeepEqual(left, []string{"unrelated" + tempInfix + "1"}) {
		t.Errorf("temp files after open: %v", left)
	}
}

func TestWriteAtomicReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.json")
	for _, content := range []string{"one", "two, longer", "3"} {
		if err := writeAtomic(osFS{}, path, []byte(content)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("file = %q, %v; want %q", got, err, content)
		}
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, %v; want 0600", info.Mode(), err)
	}
}
