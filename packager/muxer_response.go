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
}

// Gzipped returns Body gzip-compressed, compressing once however many
// viewers ask.
func (r *Response) Gzipped() []byte {
	r.gzipOnce.Do(func() {
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
		_, _ = w.Write(r.Body)
		_ = w.Close()
		r.gzipped = b.Bytes()
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
	*c = cachedResponse{resp: &Response{Body: body}, version: m.version}
	return c.resp, nil
}
