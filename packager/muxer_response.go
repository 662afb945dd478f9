package packager

import (
	"bytes"
	"compress/gzip"
	"sync"
)

// Response is a rendered playlist, shared by every request it answers.
// Body must not be modified.
type Response struct {
	Body     []byte
	gzipOnce sync.Once
	gzipped  []byte
	// writers are the muxer's reusable gzip writers: a new writer costs
	// far more (about a megabyte of tables) than compressing a playlist.
	writers *sync.Pool
}

// Gzipped returns Body gzip-compressed, compressing once however many
// viewers ask.
func (r *Response) Gzipped() []byte {
	r.gzipOnce.Do(func() {
		b := bytes.NewBuffer(make([]byte, 0, len(r.Body)/2+64))
		var w *gzip.Writer
		if r.writers != nil {
			w, _ = r.writers.Get().(*gzip.Writer)
		}
		if w == nil {
			w, _ = gzip.NewWriterLevel(b, gzip.BestSpeed) // a valid level: no error
		} else {
			w.Reset(b)
		}
		_, _ = w.Write(r.Body) // writes to a bytes.Buffer cannot fail
		_ = w.Close()
		r.gzipped = b.Bytes()
		if r.writers != nil {
			r.writers.Put(w)
		}
	})
	return r.gzipped
}

// cachedResponse is a rendered playlist and the muxer version it shows.
type cachedResponse struct {
	resp    *Response
	version uint64
}

// File is a media file: an init segment, a segment or a part. Body must not
// be modified.
type File struct {
	Body        []byte
	ContentType string // video/mp4 or audio/mp4
}

// mediaResponse renders t's playlist once per version and request kind.
func (m *Muxer) mediaResponse(t *track, skip bool) (*Response, error) {
	c := &t.cache[0]
	if skip {
		c = &t.cache[1]
	}
	if c.resp != nil && c.version == m.version {
		return c.resp, nil
	}
	body, err := m.renderMedia(t, skip)
	if err != nil {
		return nil, err
	}
	m.stats.Renders++
	*c = cachedResponse{resp: &Response{Body: body, writers: &m.gzipWriters}, version: m.version}
	return c.resp, nil
}
