package api

import (
	"cmp"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Files under the data directory.
const (
	distributionsFile = "distributions.json"
	tokenKeyFile      = "token.key"
	dataDirMode       = 0o700
	idAttempts        = 3 // a 128-bit collision is never expected; bounded anyway
)

// ErrNotFound is an unknown distribution id; the API answers 404.
var ErrNotFound = errors.New("distribution not found")

// StoreConfig sets up a Store.
type StoreConfig struct {
	// Dir is the data directory (config key data.dir); created if missing.
	Dir string
	// TokenKey signs viewer tokens, at least 32 bytes. Empty: a key is
	// generated once and kept in Dir/token.key, so tokens survive restarts.
	TokenKey []byte
	// TrustedProxies are proxies (a CDN, a load balancer) whose
	// X-Forwarded-For is believed when matching IP rules. Empty: the client
	// is always the TCP peer (RemoteAddr).
	TrustedProxies []netip.Prefix
	// Now is the clock Guard uses. Default: time.Now.
	Now func() time.Time
	// Rand is the source of ids and generated keys. Default: crypto/rand.
	Rand io.Reader
}

// Store holds the distributions, persisted under the data directory. Reads
// are lock-free on an immutable snapshot (Authorize runs on every HLS
// request); writes are serialized and acknowledged only once on disk.
type Store struct {
	path    string
	fs      fileSystem
	random  io.Reader
	now     func() time.Time
	proxies []netip.Prefix
	signer  *tokenSigner

	mu   sync.Mutex // serializes writers; readers use snap only
	snap atomic.Pointer[snapshot]
}

// snapshot is one immutable generation of the store.
type snapshot struct {
	byID     map[string]*entry
	byStream map[string][]*entry // sorted by name, then id
}

// entry is a stored distribution with its security rules parsed once.
type entry struct {
	d         Distribution
	allowed   []netip.Prefix
	blocked   []netip.Prefix
	referrers []string
}

// Open loads the store from cfg.Dir, creating the directory and the token
// key if needed. A corrupt or invalid file is an error naming the file.
func Open(cfg StoreConfig) (*Store, error) {
	return open(cfg, osFS{})
}

func open(cfg StoreConfig, fs fileSystem) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("data.dir: a data directory is required for the distribution store")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if err := os.MkdirAll(cfg.Dir, dataDirMode); err != nil {
		return nil, fmt.Errorf("data.dir: create %s: %w", cfg.Dir, err)
	}
	s := &Store{
		path: filepath.Join(cfg.Dir, distributionsFile), fs: fs, random: cfg.Rand,
		now: cfg.Now, proxies: slices.Clone(cfg.TrustedProxies),
	}
	removeTemps(fs, filepath.Join(cfg.Dir, tokenKeyFile))
	key := cfg.TokenKey
	if len(key) == 0 {
		var err error
		if key, err = loadOrCreateKey(fs, filepath.Join(cfg.Dir, tokenKeyFile), cfg.Rand); err != nil {
			return nil, err
		}
	}
	var err error
	if s.signer, err = newTokenSigner(key); err != nil {
		return nil, err
	}
	removeTemps(fs, s.path)
	list, err := loadFile(s.path)
	if err != nil {
		return nil, err
	}
	snap, err := newSnapshot(list)
	if err != nil {
		return nil, fmt.Errorf("distribution store %s: %w", s.path, err)
	}
	s.snap.Store(snap)
	return s, nil
}

// Path is the file the distributions live in, for the start-up log.
func (s *Store) Path() string { return s.path }

// Get returns a copy of the distribution with id.
func (s *Store) Get(id string) (Distribution, bool) {
	e, ok := s.snap.Load().byID[id]
	if !ok {
		return Distribution{}, false
	}
	return e.d.Clone(), true
}

// List returns copies of all distributions, by stream, name, then id.
func (s *Store) List() []Distribution {
	snap := s.snap.Load()
	out := make([]Distribution, 0, len(snap.byID))
	for _, e := range snap.byID {
		out = append(out, e.d.Clone())
	}
	slices.SortFunc(out, compareDistributions)
	return out
}

// ListStream returns copies of stream's distributions, by name, then id.
func (s *Store) ListStream(stream string) []Distribution {
	entries := s.snap.Load().byStream[stream]
	out := make([]Distribution, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.d.Clone())
	}
	return out
}

// Create validates d, gives it a new id, stores it durably and returns it;
// d.ID is ignored. A validation failure is a *FieldError.
func (s *Store) Create(d Distribution) (Distribution, error) {
	d = d.Clone()
	if err := Validate(&d); err != nil {
		return Distribution{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap.Load()
	for range idAttempts {
		id, err := newID(s.random)
		if err != nil {
			return Distribution{}, err
		}
		if _, taken := cur.byID[id]; !taken {
			d.ID = id
			break
		}
	}
	if d.ID == "" {
		return Distribution{}, errors.New("distribution id: random source keeps repeating itself")
	}
	if err := s.commit(cur, d.ID, &d); err != nil {
		return Distribution{}, err
	}
	return d.Clone(), nil
}

// Update replaces distribution id with what change makes of a copy of it,
// atomically with respect to other writers; change's error is returned as
// is. The id and stream cannot change.
func (s *Store) Update(id string, change func(Distribution) (Distribution, error)) (Distribution, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap.Load()
	e, ok := cur.byID[id]
	if !ok {
		return Distribution{}, ErrNotFound
	}
	d, err := change(e.d.Clone())
	if err != nil {
		return Distribution{}, err
	}
	d = d.Clone()
	switch {
	case d.ID != id:
		return Distribution{}, fieldErrorf("id", "cannot be changed")
	case d.Stream != e.d.Stream:
		return Distribution{}, fieldErrorf("stream", "cannot be changed; create a distribution for the other stream")
	}
	if err := Validate(&d); err != nil {
		return Distribution{}, err
	}
	if err := s.commit(cur, id, &d); err != nil {
		return Distribution{}, err
	}
	return d.Clone(), nil
}

// Delete removes distribution id; its viewer tokens stop working with it.
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.snap.Load()
	if _, ok := cur.byID[id]; !ok {
		return ErrNotFound
	}
	return s.commit(cur, id, nil)
}

// commit writes cur with id set to d (nil deletes) to disk and, only once
// that succeeded, makes it what readers see. Callers hold s.mu.
func (s *Store) commit(cur *snapshot, id string, d *Distribution) error {
	list := make([]Distribution, 0, len(cur.byID)+1)
	for k, e := range cur.byID {
		if k != id {
			list = append(list, e.d)
		}
	}
	if d != nil {
		list = append(list, *d)
	}
	next, err := newSnapshot(list)
	if err != nil {
		return fmt.Errorf("distribution %s: %w", id, err)
	}
	data, err := encodeFile(list)
	if err != nil {
		return err
	}
	if err := writeAtomic(s.fs, s.path, data); err != nil {
		return fmt.Errorf("save distributions: %w", err)
	}
	s.snap.Store(next)
	return nil
}

// newSnapshot indexes list and parses each distribution's rules.
func newSnapshot(list []Distribution) (*snapshot, error) {
	snap := &snapshot{byID: make(map[string]*entry, len(list)), byStream: map[string][]*entry{}}
	for _, d := range list {
		if _, dup := snap.byID[d.ID]; dup {
			return nil, fmt.Errorf("distribution id %s appears twice", d.ID)
		}
		e, err := newEntry(d)
		if err != nil {
			return nil, err
		}
		snap.byID[d.ID] = e
		snap.byStream[d.Stream] = append(snap.byStream[d.Stream], e)
	}
	for _, es := range snap.byStream {
		slices.SortFunc(es, func(a, b *entry) int { return compareDistributions(a.d, b.d) })
	}
	return snap, nil
}

func newEntry(d Distribution) (*entry, error) {
	e := &entry{d: d, referrers: d.Security.AllowedReferrers}
	for _, list := range []struct {
		in  []string
		out *[]netip.Prefix
	}{{d.Security.AllowedIPs, &e.allowed}, {d.Security.BlockedIPs, &e.blocked}} {
		for _, s := range list.in {
			p, err := parsePrefix(s)
			if err != nil {
				return nil, err
			}
			*list.out = append(*list.out, p)
		}
	}
	return e, nil
}

func compareDistributions(a, b Distribution) int {
	return cmp.Or(cmp.Compare(a.Stream, b.Stream), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
}
