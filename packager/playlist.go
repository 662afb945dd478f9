package packager

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

const (
	// playlistVersion: EXT-X-SKIP needs version 9 (rfc8216bis §7); every
	// playlist advertises CAN-SKIP-UNTIL, so every playlist says 9.
	playlistVersion = 9
	// audioGroup is the GROUP-ID of the audio rendition.
	audioGroup = "audio"
	// frameRateDecimals: FRAME-RATE has three decimals (rfc8216bis §4.4.6.2).
	frameRateDecimals = 1000
	// pdtLayout is EXT-X-PROGRAM-DATE-TIME with millisecond precision (ISO 8601).
	pdtLayout = "2006-01-02T15:04:05.000Z07:00"
)

// renderMedia builds rendition t's media playlist as gohlslib values and
// marshals it. It runs under the lock, once per change per request kind.
func (m *Muxer) renderMedia(t *track, skip bool) ([]byte, error) {
	tm := &m.tm
	segs := t.segments[t.listed:]
	edge := t.liveEdge()

	// Delta update (rfc8216bis §6.2.5.1): leave out the segments that end
	// more than CAN-SKIP-UNTIL before the end of the playlist.
	skipped := 0
	if skip {
		for skipped < len(segs)-1 && segs[skipped].end() <= edge-tm.canSkipUntil {
			skipped++
		}
	}

	partHoldBack, canSkipUntil := tm.partHoldBack, tm.canSkipUntil
	pl := playlist.Media{
		Version:        playlistVersion,
		TargetDuration: int(tm.targetDuration / time.Second),
		ServerControl: &playlist.MediaServerControl{
			CanBlockReload: true,
			PartHoldBack:   &partHoldBack,
			CanSkipUntil:   &canSkipUntil,
		},
		PartInf:       &playlist.MediaPartInf{PartTarget: tm.partTarget},
		MediaSequence: segs[0].msn,
		Map:           &playlist.MediaMap{URI: segs[skipped].init.uri},
		Endlist:       m.ended,
	}
	if t.discSeq > 0 {
		discSeq := t.discSeq
		pl.DiscontinuitySequence = &discSeq
	}
	if skipped > 0 {
		pl.Skip = &playlist.MediaSkip{SkippedSegments: skipped}
	}

	// gohlslib's Media has one EXT-X-MAP and nothing between the last
	// segment and the trailing parts; splice remembers what goes there.
	var sp splice
	curInit := segs[skipped].init
	for _, s := range segs[skipped:] {
		pdt := s.pdt.UTC()
		ms := &playlist.MediaSegment{
			Duration:      s.duration,
			URI:           s.uri,
			Discontinuity: s.discontinuity,
			DateTime:      &pdt,
		}
		if s.end() > edge-tm.partListAge {
			ms.Parts = mediaParts(s.parts)
		}
		if s.discontinuity {
			if s.init != curInit {
				sp.mapAfterDisc = append(sp.mapAfterDisc, s.init.uri)
			} else {
				sp.mapAfterDisc = append(sp.mapAfterDisc, "")
			}
		}
		curInit = s.init
		pl.Segments = append(pl.Segments, ms)
	}
	pl.Parts = mediaParts(t.parts)
	if len(t.parts) > 0 && (t.segDisc || t.segInit != curInit) {
		sp.beforePart = t.parts[0].uri
		if t.segDisc {
			sp.before = "#EXT-X-DISCONTINUITY\n"
		}
		if t.segInit != curInit {
			sp.before += mapTag(t.segInit.uri)
		}
		sp.before += "#EXT-X-PROGRAM-DATE-TIME:" + t.segPDT.UTC().Format(pdtLayout) + "\n"
	}
	if !m.ended {
		pl.PreloadHint = &playlist.MediaPreloadHint{URI: partName(t.name, m.cfg.ID, t.msn, len(t.parts))}
	}
	for _, o := range m.order {
		if o == t {
			continue
		}
		if r := o.renditionReport(); r != nil {
			pl.RenditionReport = append(pl.RenditionReport, r)
		}
	}
	b, err := pl.Marshal()
	if err != nil {
		return nil, fmt.Errorf("packager: marshal %s playlist: %w", t.name, err)
	}
	return sp.apply(b), nil
}

func mediaParts(parts []*part) []*playlist.MediaPart {
	if len(parts) == 0 {
		return nil
	}
	out := make([]*playlist.MediaPart, len(parts))
	for i, p := range parts {
		out[i] = &playlist.MediaPart{Duration: p.duration, URI: p.uri, Independent: p.independent}
	}
	return out
}

// renditionReport is EXT-X-RENDITION-REPORT for t (rfc8216bis §4.4.5.4):
// where its newest part is. Nil before t has published a part.
func (t *track) renditionReport() *playlist.MediaRenditionReport {
	msn, part := t.msn, len(t.parts)-1
	if part < 0 {
		if len(t.segments) == 0 {
			return nil
		}
		last := t.segments[len(t.segments)-1]
		msn, part = last.msn, last.partCount-1
	}
	return &playlist.MediaRenditionReport{URI: PlaylistName(t.name), LastMSN: msn, LastPart: &part}
}

func mapTag(uri string) string { return "#EXT-X-MAP:URI=\"" + uri + "\"\n" }

// splice inserts the tags gohlslib's Media cannot place.
type splice struct {
	// mapAfterDisc has one entry per EXT-X-DISCONTINUITY in the rendered
	// segments: the init URI to announce after it, or "".
	mapAfterDisc []string
	// before is inserted before the EXT-X-PART line naming beforePart: the
	// tags that open the segment in progress.
	before, beforePart string
}

func (sp *splice) apply(b []byte) []byte {
	needMap := false
	for _, u := range sp.mapAfterDisc {
		needMap = needMap || u != ""
	}
	if !needMap && sp.before == "" {
		return b
	}
	const disc = "#EXT-X-DISCONTINUITY\n"
	anchor := []byte(`URI="` + sp.beforePart + `"`)
	out := make([]byte, 0, len(b)+len(sp.before)+128)
	discs := 0
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n') + 1
		if i == 0 {
			i = len(b)
		}
		line := b[:i]
		b = b[i:]
		if sp.before != "" && bytes.HasPrefix(line, []byte("#EXT-X-PART:")) && bytes.Contains(line, anchor) {
			out = append(out, sp.before...)
		}
		out = append(out, line...)
		if string(line) == disc {
			if discs < len(sp.mapAfterDisc) && sp.mapAfterDisc[discs] != "" {
				out = append(out, mapTag(sp.mapAfterDisc[discs])...)
			}
			discs++
		}
	}
	return out
}

// renderMultivariant builds the multivariant playlist: one variant (video
// with its audio group, or audio alone) whose BANDWIDTH is the peak segment
// bit rate of the listed segments (rfc8216bis §4.4.6.2).
func (m *Muxer) renderMultivariant() ([]byte, error) {
	mv := playlist.Multivariant{Version: playlistVersion}
	var peak, avg int
	var codecList []string
	for _, t := range m.order {
		p, a := t.bitrates()
		peak += p
		avg += a
		codecList = append(codecList, t.init.codec)
	}
	v := &playlist.MultivariantVariant{
		Bandwidth:        peak,
		AverageBandwidth: &avg,
		Codecs:           codecList,
	}
	if m.video != nil {
		in := m.video.init
		v.URI = PlaylistName(m.video.name)
		v.Resolution = strconv.Itoa(in.width) + "x" + strconv.Itoa(in.height)
		if fps := m.video.frameRate(); fps > 0 {
			v.FrameRate = &fps
		}
	} else {
		v.URI = PlaylistName(m.audio.name)
	}
	if m.video != nil && m.audio != nil {
		v.Audio = audioGroup
		uri := PlaylistName(m.audio.name)
		channels := strconv.Itoa(m.audio.init.channels)
		mv.Renditions = append(mv.Renditions, &playlist.MultivariantRendition{
			Type:       playlist.MultivariantRenditionTypeAudio,
			GroupID:    audioGroup,
			Name:       m.audio.name,
			Default:    true,
			Autoselect: true,
			Channels:   &channels,
			URI:        &uri,
		})
	}
	mv.Variants = []*playlist.MultivariantVariant{v}
	b, err := mv.Marshal()
	if err != nil {
		return nil, fmt.Errorf("packager: marshal multivariant playlist: %w", err)
	}
	return b, nil
}

// bitrates returns the peak and average bit rate of t's listed segments.
func (t *track) bitrates() (peak, avg int) {
	var bytesTotal int
	var durTotal time.Duration
	for _, s := range t.segments[t.listed:] {
		bytesTotal += len(s.body)
		durTotal += s.duration
		if s.duration > 0 {
			peak = max(peak, int(float64(len(s.body)*8)/s.duration.Seconds()))
		}
	}
	if durTotal > 0 {
		avg = int(float64(bytesTotal*8) / durTotal.Seconds())
	}
	return peak, avg
}

// frameRate is the SPS's frame rate, else the listed segments' sample rate.
func (t *track) frameRate() float64 {
	if fps := t.init.fps; fps > 0 {
		return math.Round(fps*frameRateDecimals) / frameRateDecimals
	}
	var n int
	var d time.Duration
	for _, s := range t.segments[t.listed:] {
		n += s.samples
		d += s.duration
	}
	if d <= 0 {
		return 0
	}
	return math.Round(float64(n)/d.Seconds()*frameRateDecimals) / frameRateDecimals
}
