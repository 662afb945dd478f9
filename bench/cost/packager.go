package cost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/frontrow-live/frontrow/gateway/demo"
	"github.com/frontrow-live/frontrow/packager"
	"github.com/frontrow-live/frontrow/testdata"
)

// streamStart puts the demo's first samples (Opus pre-skip makes them
// slightly negative) well after the stream clock's zero.
const streamStart = time.Second

// Packager is one stream's packager cost: the demo file (H264 640x360 30
// fps 600 kb/s, Opus stereo) looped for the given media time, written unit
// by unit into a muxer with the gateway's part and segment targets as fast
// as it takes them. After every part it renders what an origin with live
// players of that rendition asks for: its media playlist as a delta update
// (players reloading at the edge) and in full (players joining), each
// gzipped, as browsers accept it. The muxer renders once per change and
// request kind, never per viewer, so that is all a part costs however many
// players there are. Serving the bytes to viewers is not in it.
func Packager(ctx context.Context, media time.Duration) (MilliCPU, error) {
	if media <= 0 {
		return 0, fmt.Errorf("cost: packager: media %v must be positive", media)
	}
	src, err := loadDemo()
	if err != nil {
		return 0, err
	}
	// newParts are the renditions that published a part in the last
	// WriteUnit; segmented those whose first segment is complete, so their
	// playlists answer without waiting.
	newParts, segmented := map[string]bool{}, map[string]bool{}
	firstMSN := map[string]int{} // the first segment's number, per rendition
	m, err := packager.NewMuxer(packager.Config{
		Logger: slog.New(slog.DiscardHandler),
		// Called inside WriteUnit, on this goroutine.
		OnPart: func(p packager.PartInfo) {
			newParts[p.Rendition] = true
			first, seen := firstMSN[p.Rendition]
			if !seen {
				first = p.MSN
				firstMSN[p.Rendition] = first
			}
			segmented[p.Rendition] = segmented[p.Rendition] || p.MSN > first
		},
	})
	if err != nil {
		return 0, fmt.Errorf("cost: packager: %w", err)
	}
	defer m.Close()
	if err := m.SetTracks(src.tracks); err != nil {
		return 0, fmt.Errorf("cost: packager: %w", err)
	}
	render := func() error {
		for rendition := range newParts {
			delete(newParts, rendition)
			if !segmented[rendition] {
				continue
			}
			for _, skip := range []bool{true, false} {
				resp, err := m.Playlist(ctx, rendition, packager.Request{Skip: skip})
				if err != nil {
					return fmt.Errorf("cost: packager: render %s playlist: %w", rendition, err)
				}
				resp.Gzipped()
			}
		}
		return nil
	}
	cpu, err := measure(func() error {
		for loop := time.Duration(0); ; loop += src.loop {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("cost: packager: %w", err)
			}
			for i := range src.samples {
				s := &src.samples[i]
				if loop+s.DTS >= media {
					return nil
				}
				u := packager.Unit{
					Kind: s.Kind, DTS: streamStart + loop + s.DTS, PTS: streamStart + loop + s.PTS,
					Keyframe: s.Keyframe, Payload: s.Payload, NALUs: s.NALUs, Arrival: time.Now(),
				}
				if s.Kind == packager.KindVideo && s.Keyframe {
					// As the ingest hands them over: the parameter sets
					// ride in front of every IDR.
					u.NALUs = append(src.params[:len(src.params):len(src.params)], s.NALUs...)
				}
				if err := m.WriteUnit(u); err != nil {
					return fmt.Errorf("cost: packager: write %v unit at %v: %w", s.Kind, u.DTS, err)
				}
				if err := render(); err != nil {
					return err
				}
			}
		}
	})
	if err != nil {
		return 0, err
	}
	st := m.Stats()
	if st.Parts == 0 || st.Renders == 0 {
		return 0, fmt.Errorf("cost: packager: %v of media made %d parts and %d playlist renders", media, st.Parts, st.Renders)
	}
	return perMediaSecond(cpu, media)
}

// demoFile is the demo file's units, read once per measurement.
type demoFile struct {
	tracks  packager.Tracks
	loop    time.Duration
	samples []demo.Sample
	params  [][]byte // SPS and PPS NAL units
}

// loadDemo demuxes testdata.DemoMP4. The demo package keeps the parameter
// sets to itself (it sends them over RTP), so they are read from avcC here.
func loadDemo() (*demoFile, error) {
	src, err := demo.NewSource(bytes.NewReader(testdata.DemoMP4))
	if err != nil {
		return nil, fmt.Errorf("cost: demo file: %w", err)
	}
	f, err := mp4.DecodeFile(bytes.NewReader(testdata.DemoMP4), mp4.WithDecodeMode(mp4.DecModeLazyMdat))
	if err != nil {
		return nil, fmt.Errorf("cost: demo file: %w", err)
	}
	d := &demoFile{tracks: src.Tracks(), loop: src.Duration(), samples: src.Samples()}
	if f.Moov != nil {
		for _, trak := range f.Moov.Traks {
			if stsd := trak.Mdia.Minf.Stbl.Stsd; stsd.AvcX != nil && stsd.AvcX.AvcC != nil {
				d.params = append(append(d.params, stsd.AvcX.AvcC.SPSnalus...), stsd.AvcX.AvcC.PPSnalus...)
			}
		}
	}
	if len(d.params) < 2 || d.tracks.Video == nil || d.tracks.Audio == nil || d.loop <= 0 {
		return nil, errors.New("cost: demo file: want H264 with SPS and PPS, and Opus")
	}
	return d, nil
}
