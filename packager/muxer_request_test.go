package packager

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// TestBlocking covers _HLS_msn/_HLS_part: what answers at once, what waits
// and until when (rfc8216bis §6.2.5.2). Video-only, so each wake-up is a
// video part.
func TestBlocking(t *testing.T) {
	type state struct{ msn, parts int } // segment in progress, its parts
	cases := []struct {
		name string
		req  func(s state) Request
		// wantWait is how many more parts must be published before the
		// answer; 0 answers at once; -1 is an error.
		wantWait int
		wantErr  error
		end      bool // End the stream before asking
	}{
		{name: "existing part", req: func(s state) Request { return Request{Block: true, MSN: s.msn, HasPart: true, Part: s.parts - 1} }},
		{name: "existing segment", req: func(s state) Request { return Request{Block: true, MSN: s.msn - 1} }},
		{name: "old segment out of the window", req: func(s state) Request { return Request{Block: true, MSN: firstMSN, HasPart: true, Part: 0} }},
		{name: "past the last part of a complete segment means part 0 of the next",
			req: func(s state) Request { return Request{Block: true, MSN: s.msn - 1, HasPart: true, Part: 5} }},
		{name: "next part", req: func(s state) Request { return Request{Block: true, MSN: s.msn, HasPart: true, Part: s.parts} }, wantWait: 1},
		{name: "part after next", req: func(s state) Request { return Request{Block: true, MSN: s.msn, HasPart: true, Part: s.parts + 1} }, wantWait: 2},
		{name: "past the last part of the segment in progress",
			req: func(s state) Request { return Request{Block: true, MSN: s.msn, HasPart: true, Part: 7} }, wantWait: 5 - 2 + 1},
		{name: "segment in progress, no part", req: func(s state) Request { return Request{Block: true, MSN: s.msn} }, wantWait: 5 - 2},
		{name: "next segment's first part", req: func(s state) Request { return Request{Block: true, MSN: s.msn + 1, HasPart: true, Part: 0} }, wantWait: 5 - 2 + 1},
		{name: "msn two ahead is allowed", req: func(s state) Request { return Request{Block: true, MSN: s.msn + 2} }, wantWait: 5 - 2 + 5 + 5},
		{name: "msn three ahead", req: func(s state) Request { return Request{Block: true, MSN: s.msn + 3} }, wantErr: ErrMSNTooFar},
		{name: "ended: directives ignored", end: true, req: func(s state) Request { return Request{Block: true, MSN: s.msn + 2, HasPart: true, Part: 3} }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newGen(30, 30, true, false)
			m := newTestMuxer(t, Config{Window: 6 * time.Second}, g)
			g.write(t, m, 20*time.Second+450*time.Millisecond) // the 21st segment has parts 0 and 1
			msn, parts := edge(m, RenditionVideo)
			if msn != 20+firstMSN || parts != 2 {
				t.Fatalf("setup: edge %d.%d, want %d.2", msn, parts, 20+firstMSN)
			}
			if tc.end {
				m.End()
				msn, parts = edge(m, RenditionVideo)
			}
			req := tc.req(state{msn, parts})
			h := hookWaiters(m)
			res := playlistAsync(m, RenditionVideo, req)
			if tc.wantWait == 0 || tc.wantErr != nil {
				r := <-res
				if !errors.Is(r.err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", r.err, tc.wantErr)
				}
				if r.err == nil {
					checkAnswer(t, m, r.resp.Body, req, tc.end)
				}
				if len(h) != 0 {
					t.Fatal("the request waited; it should have been answered at once")
				}
				return
			}
			h.await(t, 1)
			for i := 1; ; i++ {
				g.nextPart(t, m, RenditionVideo)
				r, done := settle(t, h, res)
				if !done {
					if i >= tc.wantWait {
						t.Fatalf("still waiting after %d parts, want an answer after %d", i, tc.wantWait)
					}
					continue
				}
				if i != tc.wantWait {
					t.Fatalf("answered after %d parts, want %d", i, tc.wantWait)
				}
				if r.err != nil {
					t.Fatal(r.err)
				}
				checkAnswer(t, m, r.resp.Body, req, false)
				return
			}
		})
	}
}

// checkAnswer: the playlist is whole and holds what the request waited for.
func checkAnswer(t *testing.T, m *Muxer, body []byte, req Request, ended bool) {
	t.Helper()
	var pl playlist.Media
	if err := pl.Unmarshal(body); err != nil {
		t.Fatal(err)
	}
	checkMedia(t, m, &pl, string(body))
	if pl.Endlist != ended {
		t.Fatalf("ENDLIST %t, want %t", pl.Endlist, ended)
	}
	if pl.Skip != nil {
		t.Fatal("full playlist expected")
	}
	if ended {
		return
	}
	s := string(body)
	want := segmentName("video", "t", req.MSN)
	if req.HasPart {
		want = partName("video", "t", req.MSN, req.Part)
		if !strings.Contains(s, want) {
			// N past the last part: part 0 of MSN+1
			want = partName("video", "t", req.MSN+1, 0)
		}
	}
	if req.MSN >= pl.MediaSequence && !strings.Contains(s, want) {
		t.Fatalf("answer lacks %s:\n%s", want, s)
	}
}

// TestOneRenderForManyWaiters: every waiter on the same (msn, part) gets the
// same prebuilt response; one render per request kind, not per waiter.
func TestOneRenderForManyWaiters(t *testing.T) {
	const waiters = 200
	g := newGen(30, 30, true, false)
	m := newTestMuxer(t, Config{}, g)
	g.write(t, m, 3*time.Second)
	msn, parts := edge(m, RenditionVideo)
	h := hookWaiters(m)
	var results []<-chan result
	for i := 0; i < waiters; i++ {
		req := Request{Block: true, MSN: msn, HasPart: true, Part: parts, Skip: i%2 == 1}
		results = append(results, playlistAsync(m, RenditionVideo, req))
	}
	h.await(t, waiters)
	before := m.Stats().Renders
	g.nextPart(t, m, RenditionVideo)
	byKind := map[bool]*Response{}
	for i, ch := range results {
		r := <-ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		skip := i%2 == 1
		if prev, ok := byKind[skip]; ok && prev != r.resp {
			t.Fatalf("waiter %d got its own response; want the shared one", i)
		}
		byKind[skip] = r.resp
	}
	if got := m.Stats().Renders - before; got != 2 {
		t.Fatalf("%d renders for %d waiters, want 2 (one full, one delta)", got, waiters)
	}
	// The gzip form is made once too.
	var wg sync.WaitGroup
	gz := make([][]byte, 50)
	for i := range gz {
		wg.Add(1)
		go func() { defer wg.Done(); gz[i] = byKind[false].Gzipped() }()
	}
	wg.Wait()
	for i := range gz {
		if &gz[i][0] != &gz[0][0] {
			t.Fatal("Gzipped compressed more than once")
		}
	}
}

// TestBlockTimeout: a request blocked longer than BlockTimeout fails with
// ErrBlockTimeout (origin: 503); so does a playlist of a stream that never starts.
func TestBlockTimeout(t *testing.T) {
	const timeout = 30 * time.Millisecond
	ctx := context.Background()
	g := newGen(30, 30, true, false)
	m := newTestMuxer(t, Config{BlockTimeout: timeout}, g)
	if _, err := m.Playlist(ctx, RenditionVideo, Request{}); !errors.Is(err, ErrBlockTimeout) {
		t.Fatalf("playlist before the first segment: %v, want ErrBlockTimeout", err)
	}
	if _, err := m.Multivariant(ctx); !errors.Is(err, ErrBlockTimeout) {
		t.Fatalf("multivariant before the first segment: %v, want ErrBlockTimeout", err)
	}
	g.write(t, m, 2*time.Second)
	msn, parts := edge(m, RenditionVideo)
	start := time.Now()
	_, err := m.Playlist(ctx, RenditionVideo, Request{Block: true, MSN: msn, HasPart: true, Part: parts})
	if !errors.Is(err, ErrBlockTimeout) {
		t.Fatalf("blocked request: %v, want ErrBlockTimeout", err)
	}
	if el := time.Since(start); el < timeout {
		t.Fatalf("timed out after %v, before %v", el, timeout)
	}
	if _, err := m.File(ctx, partName("video", "t", msn, parts)); !errors.Is(err, ErrBlockTimeout) {
		t.Fatalf("hinted part: %v, want ErrBlockTimeout", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Playlist(cctx, RenditionVideo, Request{Block: true, MSN: msn + 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v", err)
	}
	// The default is 3 x TARGETDURATION.
	m2 := newTestMuxer(t, Config{}, nil)
	if m2.tm.blockTimeout != 3*m2.TargetDuration() {
		t.Fatalf("default block timeout %v", m2.tm.blockTimeout)
	}
}

// TestPreloadHintPart: a GET on the hinted part waits until the part is
// complete (rfc8216bis §6.2.6); other unknown parts are not found at once.
func TestPreloadHintPart(t *testing.T) {
	ctx := context.Background()
	g := newGen(30, 30, true, true)
	m := newTestMuxer(t, Config{}, g)
	g.write(t, m, 2500*time.Millisecond)
	pl, _ := media(t, m, RenditionVideo, Request{})
	hint := pl.PreloadHint.URI
	h := hookWaiters(m)
	type fileResult struct {
		f   *File
		err error
	}
	res := make(chan fileResult, 1)
	go func() {
		f, err := m.File(ctx, hint)
		res <- fileResult{f, err}
	}()
	h.await(t, 1)
	g.nextPart(t, m, RenditionVideo)
	var r fileResult
	select {
	case r = <-res:
	case <-time.After(waitBound):
		t.Fatal("hinted part request not answered once the part was complete")
	}
	if r.err != nil || r.f.ContentType != "video/mp4" {
		t.Fatalf("hinted part: %v", r.err)
	}
	again, err := m.File(ctx, hint)
	if err != nil || string(again.Body) != string(r.f.Body) {
		t.Fatal("the hinted part's answer differs from the part")
	}

	msn, parts := edge(m, RenditionVideo)
	for _, name := range []string{
		partName("video", "t", msn, parts+1), // two ahead: not hinted
		partName("video", "t", msn+5, 0),
		partName("video", "other", msn, parts), // another muxer's
		partName("subtitles", "t", msn, 0),
		segmentName("video", "t", msn), // segment in progress
		initName("video", "t", 7),
		"video_t_01.mp4",
		"index.m3u8",
	} {
		if _, err := m.File(ctx, name); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", name, err)
		}
	}
	if f, err := m.File(ctx, initName("audio", "t", 0)); err != nil || f.ContentType != "audio/mp4" {
		t.Fatalf("audio init: %v", err)
	}

	// Close releases a waiter on the hint.
	go func() {
		f, err := m.File(ctx, partName("video", "t", msn, parts))
		res <- fileResult{f, err}
	}()
	h.await(t, 1)
	m.Close()
	if r := <-res; !errors.Is(r.err, ErrClosed) {
		t.Fatalf("waiter after Close: %v", r.err)
	}
}

// TestHintAbandoned: after End there is no next part; the last hint is gone.
func TestHintAbandoned(t *testing.T) {
	g := newGen(30, 30, true, false)
	m := newTestMuxer(t, Config{}, g)
	g.write(t, m, 2500*time.Millisecond)
	h := hookWaiters(m)
	msn, parts := edge(m, RenditionVideo)
	res := make(chan error, 1)
	go func() {
		// the part after the hint's: can only be reached by waiting
		_, err := m.Playlist(context.Background(), RenditionVideo, Request{Block: true, MSN: msn + 1, HasPart: true, Part: 3})
		res <- err
	}()
	h.await(t, 1)
	m.End()
	if err := <-res; err != nil {
		t.Fatalf("End must answer blocked requests: %v", err)
	}
	msn2, parts2 := edge(m, RenditionVideo)
	if _, err := m.File(context.Background(), partName("video", "t", msn2, parts2)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("hint after End: %v, want ErrNotFound", err)
	}
	if _, err := m.File(context.Background(), partName("video", "t", msn, parts)); err != nil {
		t.Fatalf("the part in progress at End is published: %v", err)
	}
	pl, _ := media(t, m, RenditionVideo, Request{})
	if !pl.Endlist || pl.PreloadHint != nil {
		t.Fatal("ended playlist needs ENDLIST and no hint")
	}
}
