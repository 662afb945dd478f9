package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/pion/webrtc/v4"
)

// reportDurations adds the median and worst of ds to a benchmark's output.
func reportDurations(b *testing.B, name string, ds []time.Duration) {
	b.Helper()
	if len(ds) == 0 {
		b.Fatalf("%s: no samples", name)
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, name+"-max-ms")
}

// BenchmarkWHEPFirstFrame measures, per WHEP viewer joining a live WHIP
// stream, the time from its POST to the moment the last packet of its first
// keyframe arrived (a decoder could show it), and the share of that spent
// on signalling plus ICE and DTLS (POST to connected). Run it with
// -benchtime=20x for 20 tries. The test publisher plays a file, so it cannot
// answer the gateway's PLI: first frames wait for its next keyframe (1 s GOP),
// so each viewer joins at a random point of the GOP, as real viewers do.
func BenchmarkWHEPFirstFrame(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	g := startGateway(b)
	startPublisher(b, ctx, g, "live")
	api := clientAPI(b)
	var first, connect []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		time.Sleep(rand.N(time.Second)) // a random join phase, not synchronisation
		b.StartTimer()
		v := newWHEPClient(b, api)
		connected := make(chan time.Time, 1)
		v.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
			if s == webrtc.PeerConnectionStateConnected {
				select {
				case connected <- time.Now():
				default:
				}
			}
		})
		if err := v.play(ctx, g.base, "live"); err != nil {
			b.Fatal(err)
		}
		select {
		case <-v.got.keyReady:
		case <-ctx.Done():
			b.Fatal("no keyframe")
		}
		v.got.mu.Lock()
		first = append(first, v.got.keyAt.Sub(v.postedAt))
		v.got.mu.Unlock()
		select {
		case at := <-connected:
			connect = append(connect, at.Sub(v.postedAt))
		default:
		}
		del(b, ctx, g.base+v.location, "", http.StatusOK)
		_ = v.pc.Close()
	}
	b.StopTimer()
	reportDurations(b, "first-keyframe", first)
	reportDurations(b, "connected", connect)
}

// BenchmarkLLHLSPartDelay measures how long after its samples arrive a part
// is served to a player blocked on it: for each try, a blocking playlist
// request for the next part (as hls.js makes), then a GET of that part. The
// part's wall-clock span comes from EXT-X-PROGRAM-DATE-TIME plus the
// durations of the parts before it; the gateway stamps PDT from the ingest
// clock, so "first" is the delay of the part's first sample (which waits for
// the whole part) and "last" of its last one. -benchtime=20x for 20 tries.
func BenchmarkLLHLSPartDelay(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	g := startGateway(b)
	startPublisher(b, ctx, g, "live")
	base := g.base + "/hls/live/"
	pl, err := fetchPlaylist(ctx, base+"video.m3u8")
	if err != nil {
		b.Fatal(err)
	}
	var firstDelay, lastDelay []time.Duration
	b.ResetTimer()
	for range b.N {
		msn, part := nextPart(pl)
		pl, err = fetchPlaylist(ctx, fmt.Sprintf("%svideo.m3u8?_HLS_msn=%d&_HLS_part=%d", base, msn, part))
		if err != nil {
			b.Fatal(err)
		}
		start, p, err := partSpan(pl, msn, part)
		if err != nil {
			b.Fatal(err)
		}
		if err := fetchAll(ctx, base+p.URI); err != nil {
			b.Fatal(err)
		}
		served := time.Now()
		const frame = time.Second / 30
		firstDelay = append(firstDelay, served.Sub(start))
		lastDelay = append(lastDelay, served.Sub(start.Add(p.Duration-frame)))
	}
	b.StopTimer()
	reportDurations(b, "first-sample", firstDelay)
	reportDurations(b, "last-sample", lastDelay)
}

func fetchPlaylist(ctx context.Context, url string) (*playlist.Media, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	var m playlist.Media
	if err := m.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("parse %s: %w", url, err)
	}
	return &m, nil
}

func fetchAll(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	return nil
}

// nextPart is the (msn, part) after the last one the playlist lists.
func nextPart(m *playlist.Media) (int, int) {
	msn := m.MediaSequence + len(m.Segments)
	return msn, len(m.Parts)
}

// partSpan finds part (msn, part) and the wall-clock time it starts.
func partSpan(m *playlist.Media, msn, part int) (time.Time, *playlist.MediaPart, error) {
	var pdt time.Time
	var offset time.Duration
	n := m.MediaSequence
	for _, s := range m.Segments {
		if s.DateTime != nil {
			pdt, offset = *s.DateTime, 0
		}
		if n == msn && part < len(s.Parts) {
			for _, p := range s.Parts[:part] {
				offset += p.Duration
			}
			return pdt.Add(offset), s.Parts[part], nil
		}
		offset += s.Duration
		n++
	}
	if n == msn && part < len(m.Parts) {
		for _, p := range m.Parts[:part] {
			offset += p.Duration
		}
		return pdt.Add(offset), m.Parts[part], nil
	}
	return time.Time{}, nil, fmt.Errorf("part %d.%d not in the playlist", msn, part)
}
