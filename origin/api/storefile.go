package api

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
)

// fileVersion is the layout of distributions.json; a future change of
// layout bumps it, and an older binary refuses a newer file.
const fileVersion = 1

// storeFile is distributions.json.
type storeFile struct {
	Version       int            `json:"version"`
	Distributions []Distribution `json:"distributions"`
}

// loadFile reads and checks distributions.json; a missing file is an empty
// store, anything unreadable an error naming the file.
func loadFile(path string) ([]Distribution, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("distribution store: read %s: %w", path, err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f storeFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("distribution store %s is corrupt (restore it from a backup or move it away): %w", path, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("distribution store %s is corrupt: data after the end of the JSON document", path)
	}
	if f.Version != fileVersion {
		return nil, fmt.Errorf("distribution store %s: version %d, this frontrow reads version %d", path, f.Version, fileVersion)
	}
	for i := range f.Distributions {
		d := &f.Distributions[i]
		if !validID(d.ID) {
			return nil, fmt.Errorf("distribution store %s: distribution %d has an invalid id %q", path, i, d.ID)
		}
		if err := Validate(d); err != nil {
			return nil, fmt.Errorf("distribution store %s: distribution %s: %w", path, d.ID, err)
		}
		*d = d.Clone() // nil lists from a hand-edited file become []
	}
	return f.Distributions, nil
}

// encodeFile renders distributions.json, sorted by id so that a diff of two
// versions shows only what changed.
func encodeFile(list []Distribution) ([]byte, error) {
	sorted := slices.Clone(list)
	slices.SortFunc(sorted, func(a, b Distribution) int { return strings.Compare(a.ID, b.ID) })
	data, err := json.MarshalIndent(storeFile{Version: fileVersion, Distributions: sorted}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode distributions: %w", err)
	}
	return append(data, '\n'), nil
}

// loadOrCreateKey reads the viewer token key from path, or generates one
// and writes it atomically (mode 0600) when there is none.
func loadOrCreateKey(fsys fileSystem, path string, random io.Reader) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		key, derr := hex.DecodeString(strings.TrimSpace(string(data)))
		if derr != nil || len(key) < minTokenKeyLen {
			return nil, fmt.Errorf("viewer token key %s is corrupt: want %d or more hex-encoded bytes", path, minTokenKeyLen)
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("viewer token key: read %s: %w", path, err)
	}
	key := make([]byte, tokenKeyFileLen)
	if _, err := io.ReadFull(random, key); err != nil {
		return nil, fmt.Errorf("viewer token key: read random: %w", err)
	}
	if err := writeAtomic(fsys, path, []byte(hex.EncodeToString(key)+"\n")); err != nil {
		return nil, fmt.Errorf("viewer token key: %w", err)
	}
	return key, nil
}
