package origin_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/bluenviron/gohlslib/v2"
	"github.com/bluenviron/gohlslib/v2/pkg/codecs"
	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/frontrow-live/frontrow/origin"
	"github.com/frontrow-live/frontrow/packager"
)

const (
	// e2eClientWait bounds how long the client may take to finish after End.
	e2eClientWait = 15 * time.Second
	// tsTolerance: timestamps the client returns must match the fed ones
	// (relative to the first matched unit) within a millisecond.
	tsTolerance = time.Millisecond
	// videoPartUnits and audioPartUnits are the units in a 200 ms part of
	// the test files (30 fps, 20 ms Opus packets).
	videoPartUnits = 6
	audioPartUnits = 10
)

// TestE2EGohlslibClient feeds a file's access units into a muxer in real
// time, serves it over loopback and reads it back with gohlslib's LL-HLS
// client: what comes out must be what went in.
func TestE2EGohlslibClient(t *testing.T) {
	cases := []struct {
		file string
		// minimum units the client must return (it joins at the live edge
		// once the first segment is complete)
		minVideo, minAudio int
		bframes            bool
	}{
		{file: "demo-h264-opus.mp4", minVideo: 30, minAudio: 50},
		{file: "bframes-h264-opus.mp4", minVideo: 12, minAudio: 20, bframes: true},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			src := demux(t, "../testdata/"+tc.file)
			m, err := packager.NewMuxer(packager.Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			if err := m.SetTracks(src.tracks); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(origin.NewHLS(origin.HLSConfig{
				Lookup: func(s string) (*packager.Muxer, bool) { return m, s == "demo" },
			}))
			defer srv.Close()

			rec := startClient(t, srv.URL+"/hls/demo/index.m3u8")
			feedRealTime(t, m, src.units)
			checkPlaylists(t, srv.URL+"/hls/demo/")
			m.End()
			rec.wait(t)

			video, audio, parts := rec.results()
			wantVideo, skippedVideo := fetchedUnits(t, m, parts[packager.KindVideo], src.video, 90000)
			wantAudio, skippedAudio := fetchedUnits(t, m, parts[packager.KindAudio], src.audio, 48000)
			t.Logf("client returned %d video AUs (fed %d; skipped %d parts, %d AUs) and %d Opus packets (fed %d; skipped %d parts, %d packets)",
				len(video), len(src.video), skippedVideo.parts, skippedVideo.units,
				len(audio), len(src.audio), skippedAudio.parts, skippedAudio.units)
			// The skip path itself: had the client not fetched its second
			// part, that part would count as skipped, whole, not as lost.
			for kind, fed := range map[packager.Kind][]packager.Unit{packager.KindVideo: src.video, packager.KindAudio: src.audio} {
				names := parts[kind]
				if len(names) < 3 {
					t.Fatalf("%s: the client fetched %d parts, want 3 or more", kind, len(names))
				}
				clock := map[packager.Kind]int64{packager.KindVideo: 90000, packager.KindAudio: 48000}[kind]
				all, before := fetchedUnits(t, m, names, fed, clock)
				fewer, after := fetchedUnits(t, m, slices.Delete(slices.Clone(names), 1, 2), fed, clock)
				if after.parts != before.parts+1 || after.units-before.units != len(all)-len(fewer) || after.units == before.units {
					t.Fatalf("%s: a part left out counts as %+v skipped (%+v before), %d units fewer expected", kind, after, before, len(all)-len(fewer))
				}
			}
			if len(video) < tc.minVideo || len(audio) < tc.minAudio {
				t.Fatalf("client returned too little: %d video (want >= %d), %d audio (want >= %d)",
					len(video), tc.minVideo, len(audio), tc.minAudio)
			}
			// All of every fetched part comes back but a part's worth at the
			// ends (samples before the first video one, the tail when the
			// client stops).
			if len(video) < len(wantVideo)-videoPartUnits || len(audio) < len(wantAudio)-2*audioPartUnits {
				t.Fatalf("client fetched %d video / %d audio units but returned %d / %d",
					len(wantVideo), len(wantAudio), len(video), len(audio))
			}
			matchUnits(t, "video", video, wantVideo, 90000)
			matchUnits(t, "audio", audio, wantAudio, 48000)
			if tc.bframes {
				reordered := false
				for i := 1; i < len(video); i++ {
					reordered = reordered || video[i].pts < video[i-1].pts
				}
				if !reordered {
					t.Fatal("B-frame stream came back without any PTS reordering")
				}
			}
		})
	}
}

type source struct {
	tracks       packager.Tracks
	units        []packager.Unit // both tracks, by DTS
	video, audio []packager.Unit
}

// demux reads a progressive MP4 with mp4ff into units, the way the gateway
// would hand them over: keyframes carry SPS and PPS.
func demux(t *testing.T, path string) source {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	file, err := mp4.DecodeFile(f)
	if err != nil {
		t.Fatal(err)
	}
	var src source
	mdatStart := file.Mdat.PayloadAbsoluteOffset()
	for _, trak := range file.Moov.Traks {
		stbl := trak.Mdia.Minf.Stbl
		ts := int64(trak.Mdia.Mdhd.Timescale)
		isVideo := stbl.Stsd.AvcX != nil
		var sps, pps []byte
		if isVideo {
			sps, pps = stbl.Stsd.AvcX.AvcC.SPSnalus[0], stbl.Stsd.AvcX.AvcC.PPSnalus[0]
			src.tracks.Video = &packager.VideoInfo{}
		} else {
			src.tracks.Audio = &packager.AudioInfo{Codec: packager.CodecOpus, SampleRate: 48000,
				Channels: int(stbl.Stsd.Opus.Dops.OutputChannelCount)}
		}
		for nr := uint32(1); nr <= stbl.Stsz.SampleNumber; nr++ {
			chunk, first, err := stbl.Stsc.ChunkNrFromSampleNr(int(nr))
			if err != nil {
				t.Fatal(err)
			}
			off := uint64(stbl.Stco.ChunkOffset[chunk-1])
			for s := first; s < int(nr); s++ {
				off += uint64(stbl.Stsz.GetSampleSize(s))
			}
			size := uint64(stbl.Stsz.GetSampleSize(int(nr)))
			data := file.Mdat.Data[off-mdatStart : off-mdatStart+size]
			dec, _ := stbl.Stts.GetDecodeTime(nr)
			var cto int64
			if stbl.Ctts != nil {
				cto = int64(stbl.Ctts.GetCompositionTimeOffset(nr))
			}
			u := packager.Unit{
				DTS:      time.Duration(int64(dec) * int64(time.Second) / ts),
				PTS:      time.Duration((int64(dec) + cto) * int64(time.Second) / ts),
				Keyframe: !isVideo || stbl.Stss == nil || stbl.Stss.IsSyncSample(nr),
			}
			if isVideo {
				var au h264.AVCC
				if err := au.Unmarshal(data); err != nil {
					t.Fatal(err)
				}
				if u.Keyframe {
					au = append([][]byte{sps, pps}, au...)
				}
				u.NALUs = au
				src.video = append(src.video, u)
			} else {
				u.Kind = packager.KindAudio
				u.Payload = data
				src.audio = append(src.audio, u)
			}
		}
	}
	src.units = append(append([]packager.Unit{}, src.video...), src.audio...)
	sort.SliceStable(src.units, func(i, j int) bool { return src.units[i].DTS < src.units[j].DTS })
	return src
}

// feedRealTime writes each unit when the stream clock reaches its DTS.
func feedRealTime(t *testing.T, m *packager.Muxer, units []packager.Unit) {
	t.Helper()
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for _, u := range units {
		if wait := time.Until(start.Add(u.DTS)); wait > 0 {
			timer.Reset(wait)
			<-timer.C
		}
		u.Arrival = time.Now()
		if err := m.WriteUnit(u); err != nil {
			t.Fatalf("WriteUnit(%s %v): %v", u.Kind, u.DTS, err)
		}
	}
}

type received struct {
	pts, dts int64
	data     [][]byte
}

type recorder struct {
	client *gohlslib.Client
	mu     sync.Mutex
	video  []received
	audio  []received
	parts  map[packager.Kind][]string // part names the client fetched, in order
}

func startClient(t *testing.T, uri string) *recorder {
	t.Helper()
	r := &recorder{parts: map[packager.Kind][]string{}}
	quiet := func(string) {}
	r.client = &gohlslib.Client{
		URI:                       uri,
		OnDownloadPrimaryPlaylist: quiet,
		OnDownloadStreamPlaylist:  quiet,
		OnDownloadSegment:         quiet,
		OnDownloadPart: func(u string) {
			name := path.Base(u)
			kind := packager.KindVideo
			if strings.HasPrefix(name, packager.RenditionAudio) {
				kind = packager.KindAudio
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			r.parts[kind] = append(r.parts[kind], name)
		},
		OnDecodeError: func(error) {},
	}
	r.client.OnTracks = func(tracks []*gohlslib.Track) error {
		for _, tr := range tracks {
			switch tr.Codec.(type) {
			case *codecs.H264:
				r.client.OnDataH26x(tr, func(pts, dts int64, au [][]byte) {
					r.mu.Lock()
					defer r.mu.Unlock()
					r.video = append(r.video, received{pts: pts, dts: dts, data: au})
				})
			case *codecs.Opus:
				r.client.OnDataOpus(tr, func(pts int64, packets [][]byte) {
					r.mu.Lock()
					defer r.mu.Unlock()
					for _, p := range packets {
						r.audio = append(r.audio, received{pts: pts, data: [][]byte{p}})
					}
				})
			}
		}
		return nil
	}
	if err := r.client.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.client.Close)
	return r
}

// wait waits for the client to stop: after End the playlist has no preload
// hint any more, which ends gohlslib's low-latency loop.
func (r *recorder) wait(t *testing.T) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.client.Wait2() }()
	select {
	case err := <-done:
		t.Logf("client stopped: %v", err)
	case <-time.After(e2eClientWait):
		t.Fatal("client did not stop after the stream ended")
	}
}

func (r *recorder) results() (video, audio []received, parts map[packager.Kind][]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.video...), append([]received(nil), r.audio...), r.parts
}

// fetchedUnits is what the client should return: the fed units of the parts
// it fetched, in order. gohlslib's client follows the newest preload hint,
// so when it falls behind (a loaded CI machine) it skips parts by design;
// those units are counted, not expected. What tells such a skip from a loss
// is that a skip is whole parts: from the first part the client fetched to
// its last, every part the packager wrote, fetched or skipped, must begin
// with the fed unit after the previous part's last, so together they hold
// every fed unit once, in order. A unit in none of them the packager lost.
func fetchedUnits(t *testing.T, m *packager.Muxer, names []string, fed []packager.Unit, clock int64) (units []packager.Unit, skipped skip) {
	t.Helper()
	if len(names) == 0 {
		t.Fatal("the client fetched no part")
	}
	index := map[int64]int{} // decode time in ticks -> fed index
	for i, u := range fed {
		index[int64(u.DTS)*clock/int64(time.Second)] = i
	}
	// run is the fed units part name holds: the first one's index and how
	// many; ok is false if the packager has no such part.
	run := func(name string) (first, n int, ok bool) {
		t.Helper()
		f, err := m.File(context.Background(), name)
		if errors.Is(err, packager.ErrNotFound) {
			return 0, 0, false
		}
		if err != nil {
			t.Fatalf("part %s: %v", name, err)
		}
		var parts fmp4.Parts
		if err := parts.Unmarshal(f.Body); err != nil {
			t.Fatalf("part %s: %v", name, err)
		}
		if len(parts) != 1 || len(parts[0].Tracks) != 1 {
			t.Fatalf("part %s: %d fragments, want one of one track", name, len(parts))
		}
		first, ok = index[int64(parts[0].Tracks[0].BaseTime)]
		if !ok {
			t.Fatalf("part %s starts at no fed unit", name)
		}
		n = len(parts[0].Tracks[0].Samples)
		if first+n > len(fed) {
			t.Fatalf("part %s: %d units from fed unit %d, only %d fed", name, n, first, len(fed))
		}
		return first, n, true
	}
	// check: part name, which begins at fed unit first, follows the
	// previous part (ending before fed unit next) without a hole.
	check := func(name string, first, next int) {
		t.Helper()
		if first != next {
			t.Fatalf("part %s begins at fed unit %d, the previous part ends before %d: %d units in no part (lost, not skipped)",
				name, first, next, first-next)
		}
	}
	first, n, ok := run(names[0])
	if !ok {
		t.Fatalf("part %s the client fetched: not found", names[0])
	}
	units = append(units, fed[first:first+n]...)
	prev, next := names[0], first+n
	for _, name := range names[1:] {
		// Walk from prev to name: the parts in between the client skipped.
		for found := false; !found; {
			p, pFirst, pN, ok := nextPart(t, prev, run)
			if !ok {
				t.Fatalf("the client fetched %s after %s, but the packager wrote no part after %s", name, names[0], prev)
			}
			check(p, pFirst, next)
			if found = p == name; found {
				units = append(units, fed[pFirst:pFirst+pN]...)
			} else {
				skipped.parts++
				skipped.units += pN
			}
			prev, next = p, pFirst+pN
		}
	}
	return units, skipped
}

// skip counts the parts the client skipped and the units in them.
type skip struct{ parts, units int }

// nextPart is the part the packager wrote after part name: the next one of
// the segment, or else the first of the next segment; with the fed units
// it holds, from run. ok is false if there is neither.
func nextPart(t *testing.T, name string, run func(string) (int, int, bool)) (next string, first, n int, ok bool) {
	t.Helper()
	for step := range 2 {
		next = nextPartName(t, name, step)
		if first, n, ok = run(next); ok {
			return next, first, n, true
		}
	}
	return "", 0, 0, false
}

// nextPartName is, for step 0, the part after part name in its segment and,
// for step 1, the first part of the next segment.
func nextPartName(t *testing.T, name string, step int) string {
	t.Helper()
	rest, ok := strings.CutSuffix(name, ".mp4")
	dot := strings.LastIndexByte(rest, '.')
	under := strings.LastIndexByte(rest, '_')
	if !ok || dot < 0 || under < 0 || under > dot {
		t.Fatalf("part name %q", name)
	}
	msn, err1 := strconv.Atoi(rest[under+1 : dot])
	part, err2 := strconv.Atoi(rest[dot+1:])
	if err1 != nil || err2 != nil {
		t.Fatalf("part name %q", name)
	}
	if step == 0 {
		part++
	} else {
		msn, part = msn+1, 0
	}
	return fmt.Sprintf("%s%d.%d.mp4", rest[:under+1], msn, part)
}

// matchUnits checks that got is a contiguous run of fed, by content and in
// order, with timestamps relative to the first match within tsTolerance.
// Timestamps are compared as offsets, so a run spanning parts the client
// skipped still has to land on the fed timeline.
func matchUnits(t *testing.T, what string, got []received, fed []packager.Unit, clock int64) {
	t.Helper()
	payload := func(u packager.Unit) [][]byte {
		if u.Kind == packager.KindVideo {
			return u.NALUs
		}
		return [][]byte{u.Payload}
	}
	// Audio frames of a steady tone repeat byte for byte, so the run is
	// located by all of its content, not by its first unit alone.
	first := -1
	for i := 0; i+len(got) <= len(fed) && first < 0; i++ {
		first = i
		for k, g := range got {
			if !equalNALUs(payload(fed[i+k]), g.data) {
				first = -1
				break
			}
		}
	}
	if first < 0 {
		t.Fatalf("%s: the %d units the client returned are no contiguous run of the %d fed", what, len(got), len(fed))
	}
	toDur := func(v int64) time.Duration { return time.Duration(v * int64(time.Second) / clock) }
	for k, g := range got {
		u := fed[first+k]
		wantPTS := u.PTS - fed[first].PTS
		if d := toDur(g.pts-got[0].pts) - wantPTS; d > tsTolerance || d < -tsTolerance {
			t.Fatalf("%s: unit %d PTS off by %v", what, k, d)
		}
		if what == "video" {
			wantDTS := u.DTS - fed[first].DTS
			if d := toDur(g.dts-got[0].dts) - wantDTS; d > tsTolerance || d < -tsTolerance {
				t.Fatalf("%s: unit %d DTS off by %v", what, k, d)
			}
		}
	}
}

func equalNALUs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// checkPlaylists fetches every playlist and has gohlslib's parser read it.
func checkPlaylists(t *testing.T, base string) {
	t.Helper()
	get := func(name string) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+name, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", name, res.StatusCode, err)
		}
		return b
	}
	var mv playlist.Multivariant
	if err := mv.Unmarshal(get(packager.MultivariantName)); err != nil {
		t.Fatalf("multivariant: %v", err)
	}
	if len(mv.Variants) != 1 || mv.Variants[0].Bandwidth <= 0 || mv.Variants[0].Resolution != "640x360" ||
		len(mv.Variants[0].Codecs) != 2 || mv.Variants[0].Audio == "" || len(mv.Renditions) != 1 {
		t.Fatalf("multivariant: unexpected %+v", mv.Variants[0])
	}
	for _, name := range []string{"video.m3u8", "audio.m3u8", "video.m3u8?_HLS_skip=YES"} {
		var pl playlist.Media
		if err := pl.Unmarshal(get(name)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if pl.Version < 9 || pl.ServerControl == nil || !pl.ServerControl.CanBlockReload || pl.PartInf == nil ||
			pl.PreloadHint == nil || len(pl.RenditionReport) != 1 || pl.PlaylistType != nil {
			t.Fatalf("%s: missing LL-HLS tags: %+v", name, pl)
		}
	}
}
