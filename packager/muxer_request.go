package packager

import (
	"context"
	"sort"
	"time"
)

// Request carries a media playlist request's delivery directives
// (rfc8216bis §6.2.5). The zero value asks for the playlist as it is.
type Request struct {
	// Block is set when _HLS_msn was given: hold the answer until segment
	// MSN (or part Part of it, with HasPart) exists (§6.2.5.2).
	Block   bool
	MSN     int
	HasPart bool
	Part    int
	// Skip is _HLS_skip=YES or v2: answer with a delta update (§6.2.5.1).
	Skip bool
}

// Playlist answers a media playlist request for rendition ("video" or
// "audio"). Before the rendition's first segment is complete it waits for it,
// like a blocking request. It returns ErrBlockTimeout after BlockTimeout,
// ErrMSNTooFar, ErrNotFound or ErrClosed, or ctx's error.
func (m *Muxer) Playlist(ctx context.Context, rendition string, req Request) (*Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.trackNamed(rendition)
	if t == nil {
		return nil, ErrNotFound
	}
	err := m.await(ctx, []*track{t}, func() (bool, error) {
		if m.ended {
			// Playlist with ENDLIST: _HLS_msn/_HLS_part are ignored (§6.2.5.2).
			return true, t.readyOrGone()
		}
		if req.Block && req.MSN > t.msn+2 {
			return false, ErrMSNTooFar
		}
		if len(t.segments) == 0 {
			return false, nil
		}
		return !req.Block || t.reached(req), nil
	})
	if err != nil {
		return nil, err
	}
	return m.mediaResponse(t, req.Skip)
}

// Multivariant answers the multivariant playlist request. It waits until
// every rendition has its first segment, so BANDWIDTH comes from real bytes.
func (m *Muxer) Multivariant(ctx context.Context) (*Response, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.published {
		return nil, ErrNotFound
	}
	err := m.await(ctx, m.order, func() (bool, error) {
		for _, t := range m.order {
			if m.ended {
				if err := t.readyOrGone(); err != nil {
					return false, err
				}
			}
			if len(t.segments) == 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	if c := m.mvCache; c.resp != nil && c.version == m.version {
		return c.resp, nil
	}
	body, err := m.renderMultivariant()
	if err != nil {
		return nil, err
	}
	m.stats.Renders++
	m.mvCache = cachedResponse{resp: &Response{Body: body, writers: &m.gzipWriters}, version: m.version}
	return m.mvCache.resp, nil
}

// File returns an init segment, segment or part by the name the playlists
// give it. A request for the part named by EXT-X-PRELOAD-HINT waits until
// the part is complete (rfc8216bis §6.2.6); a hint that is abandoned, like
// any unknown name, gives ErrNotFound.
func (m *Muxer) File(ctx context.Context, name string) (*File, error) {
	n, ok := parseMediaName(name)
	if !ok || n.id != m.cfg.ID {
		return nil, ErrNotFound
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	t := m.trackNamed(n.rendition)
	if t == nil {
		return nil, ErrNotFound
	}
	var body []byte
	switch n.kind {
	case fileInit:
		for _, in := range t.inits {
			if in.gen == n.gen {
				body = in.body
			}
		}
	case fileSegment:
		if s := t.segment(n.msn); s != nil {
			body = s.body
		}
	case filePart:
		err := m.await(ctx, []*track{t}, func() (bool, error) {
			if p := t.part(n.msn, n.part); p != nil {
				body = p.body
				return true, nil
			}
			if !m.ended && n.msn == t.msn && n.part == len(t.parts) {
				return false, nil // the hinted part: wait for it
			}
			return false, ErrNotFound
		})
		if err != nil {
			return nil, err
		}
	}
	if body == nil {
		return nil, ErrNotFound
	}
	return &File{Body: body, ContentType: t.contentType}, nil
}

// await waits, with m.mu held on entry and on return, until check says done
// or fails, re-checking whenever one of tracks changes; BlockTimeout bounds it.
func (m *Muxer) await(ctx context.Context, tracks []*track, check func() (bool, error)) error {
	var timeout <-chan time.Time
	for {
		if m.closed {
			return ErrClosed
		}
		done, err := check()
		if err != nil || done {
			return err
		}
		if timeout == nil {
			timer := time.NewTimer(m.tm.blockTimeout)
			defer timer.Stop()
			timeout = timer.C
		}
		// Every change closes the changed track's channel; the multivariant
		// playlist watches both tracks (a nil channel never fires).
		var ch0, ch1 <-chan struct{}
		ch0 = tracks[0].changed
		if len(tracks) > 1 {
			ch1 = tracks[1].changed
		}
		if m.hooks.waiting != nil {
			m.hooks.waiting()
		}
		m.stats.Waiting++
		m.mu.Unlock()
		select {
		case <-ch0:
		case <-ch1:
		case <-ctx.Done():
			err = ctx.Err()
		case <-timeout:
			err = ErrBlockTimeout
		}
		m.mu.Lock()
		m.stats.Waiting--
		if err != nil {
			return err
		}
	}
}

// readyOrGone is the answer for an ended stream: its playlist if it ever
// had a segment, else ErrNotFound.
func (t *track) readyOrGone() error {
	if len(t.segments) == 0 {
		return ErrNotFound
	}
	return nil
}

// reached says whether the playlist holds what a blocking request waits
// for: segment MSN complete, or part Part of segment MSN published, where a
// Part past the last part of a complete segment means part 0 of the next
// (rfc8216bis §6.2.5.2).
func (t *track) reached(req Request) bool {
	msn, n := req.MSN, req.Part
	switch {
	case !req.HasPart:
		return msn < t.msn
	case msn < t.msn-1:
		return true // msn+1 is complete, so part 0 of it exists
	case msn == t.msn-1:
		if len(t.segments) > 0 {
			if last := t.segments[len(t.segments)-1]; last.msn == msn && n < last.partCount {
				return true
			}
		}
		return len(t.parts) > 0
	case msn == t.msn:
		return n < len(t.parts)
	}
	return false
}

// segment finds a retained segment by MSN.
func (t *track) segment(msn int) *segment {
	i := sort.Search(len(t.segments), func(i int) bool { return t.segments[i].msn >= msn })
	if i < len(t.segments) && t.segments[i].msn == msn {
		return t.segments[i]
	}
	return nil
}

// part finds a retained part.
func (t *track) part(msn, index int) *part {
	parts := t.parts
	if msn != t.msn {
		s := t.segment(msn)
		if s == nil {
			return nil
		}
		parts = s.parts
	}
	if index < len(parts) {
		return parts[index]
	}
	return nil
}
