package demo

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/Eyevinn/mp4ff/avc"
	"github.com/Eyevinn/mp4ff/mp4"

	"github.com/frontrow-live/frontrow/packager"
)

// Sample is one access unit of the file, on the file's presentation timeline
// (edit lists applied) so video and audio times compare directly.
type Sample struct {
	Kind packager.Kind
	// DTS is when the unit is sent within a loop; PTS is its sampling
	// instant, which the RTP timestamp carries (RFC 6184 section 5.1). They
	// differ only for video with B-frames. Either may be slightly negative
	// (e.g. Opus pre-skip) for units that start before the edit.
	DTS, PTS time.Duration
	// Keyframe marks a sync sample (stss); audio samples are always keyframes.
	Keyframe bool
	// NALUs are a video sample's NAL units as stored in the file, without
	// length prefixes; SPS and PPS are not prepended here.
	NALUs [][]byte
	// Payload is one Opus packet.
	Payload []byte
}

// media is what the demuxer learns from a file: read-only once built.
type media struct {
	loop     time.Duration
	samples  []Sample // both tracks, ordered by DTS (video first on ties)
	hasVideo bool
	sps, pps [][]byte
	hasAudio bool
	channels int
}

// demux reads a progressive MP4 (moov + mdat) with one H264 and/or one Opus track.
func demux(r io.ReadSeeker) (*media, error) {
	f, err := mp4.DecodeFile(r, mp4.WithDecodeMode(mp4.DecModeLazyMdat))
	if err != nil {
		return nil, fmt.Errorf("decode mp4: %w", err)
	}
	if f.IsFragmented() || f.Moov == nil {
		return nil, errors.New("not a progressive mp4 (moov + mdat)")
	}
	mvhd := f.Moov.Mvhd
	if mvhd == nil || mvhd.Timescale == 0 || mvhd.Duration == 0 {
		return nil, errors.New("mvhd has no duration")
	}
	m := &media{loop: ticksToDuration(int64(mvhd.Duration), mvhd.Timescale)}
	for _, trak := range f.Moov.Traks {
		if err := m.addTrack(trak, r); err != nil {
			return nil, fmt.Errorf("track %d: %w", trak.Tkhd.TrackID, err)
		}
	}
	if !m.hasVideo && !m.hasAudio {
		return nil, errors.New("no H264 or Opus track")
	}
	slices.SortStableFunc(m.samples, func(a, b Sample) int {
		if c := cmp.Compare(a.DTS, b.DTS); c != 0 {
			return c
		}
		return cmp.Compare(a.Kind, b.Kind)
	})
	return m, nil
}

func (m *media) addTrack(trak *mp4.TrakBox, r io.ReadSeeker) error {
	stsd := trak.Mdia.Minf.Stbl.Stsd
	var kind packager.Kind
	switch trak.Mdia.Hdlr.HandlerType {
	case "vide":
		if stsd.AvcX == nil || stsd.AvcX.AvcC == nil {
			return errors.New("video is not H264 with avcC")
		}
		if m.hasVideo {
			return errors.New("more than one video track")
		}
		avcC := stsd.AvcX.AvcC
		if len(avcC.SPSnalus) == 0 || len(avcC.PPSnalus) == 0 {
			return errors.New("avcC has no SPS or PPS")
		}
		m.hasVideo, m.sps, m.pps = true, avcC.SPSnalus, avcC.PPSnalus
		kind = packager.KindVideo
	case "soun":
		if stsd.Opus == nil || stsd.Opus.Dops == nil {
			return errors.New("audio is not Opus with dOps")
		}
		if m.hasAudio {
			return errors.New("more than one audio track")
		}
		m.hasAudio = true
		m.channels = int(stsd.Opus.Dops.OutputChannelCount)
		kind = packager.KindAudio
	default:
		return nil // subtitles, timecode, ...: not part of a publication
	}
	return m.readSamples(trak, kind, r)
}

// readSamples walks the sample table (stsc/stco/stsz for data, stts/ctts for
// time, stss for sync; ISO/IEC 14496-12 section 8.6-8.7).
func (m *media) readSamples(trak *mp4.TrakBox, kind packager.Kind, r io.ReadSeeker) error {
	stbl := trak.Mdia.Minf.Stbl
	timescale := trak.Mdia.Mdhd.Timescale
	if timescale == 0 || stbl.Stsz == nil || stbl.Stts == nil || stbl.Stsc == nil {
		return errors.New("incomplete sample table")
	}
	n := stbl.Stsz.GetNrSamples()
	if n == 0 {
		return errors.New("no samples")
	}
	chunks, err := stbl.Stsc.GetContainingChunks(1, n)
	if err != nil {
		return fmt.Errorf("stsc: %w", err)
	}
	shift := editShift(trak)
	var first time.Duration
	for _, c := range chunks {
		offset, err := chunkOffset(stbl, c.ChunkNr)
		if err != nil {
			return err
		}
		for nr := c.StartSampleNr; nr < c.StartSampleNr+c.NrSamples && nr <= n; nr++ {
			size := stbl.Stsz.GetSampleSize(int(nr))
			data := make([]byte, size)
			if _, err := r.Seek(int64(offset), io.SeekStart); err != nil {
				return fmt.Errorf("seek sample %d: %w", nr, err)
			}
			if _, err := io.ReadFull(r, data); err != nil {
				return fmt.Errorf("read sample %d: %w", nr, err)
			}
			offset += uint64(size)

			decode, _ := stbl.Stts.GetDecodeTime(nr)
			var cto int64
			if stbl.Ctts != nil {
				cto = int64(stbl.Ctts.GetCompositionTimeOffset(nr))
			}
			s := Sample{
				Kind:     kind,
				DTS:      ticksToDuration(int64(decode)-shift, timescale),
				PTS:      ticksToDuration(int64(decode)+cto-shift, timescale),
				Keyframe: kind == packager.KindAudio || stbl.Stss == nil || stbl.Stss.IsSyncSample(nr),
			}
			if nr == 1 {
				first = s.DTS
			}
			// A sample starting a whole loop after the first would be sent
			// together with the next loop's first one: drop it (Opus' trailing
			// pre-skip remainder, typically).
			if s.DTS-first >= m.loop {
				continue
			}
			if kind == packager.KindVideo {
				if s.NALUs, err = avc.GetNalusFromSample(data); err != nil {
					return fmt.Errorf("sample %d: %w", nr, err)
				}
			} else {
				s.Payload = data
			}
			m.samples = append(m.samples, s)
		}
	}
	return nil
}

// editShift is the media time the presentation starts at: the first non-empty
// edit of the edit list (ISO/IEC 14496-12 section 8.6.6), or 0.
func editShift(trak *mp4.TrakBox) int64 {
	if trak.Edts == nil {
		return 0
	}
	for _, elst := range trak.Edts.Elst {
		for _, e := range elst.Entries {
			if e.MediaTime >= 0 {
				return e.MediaTime
			}
		}
	}
	return 0
}

func chunkOffset(stbl *mp4.StblBox, chunkNr uint32) (uint64, error) {
	switch {
	case stbl.Stco != nil:
		off, err := stbl.Stco.GetOffset(int(chunkNr))
		if err != nil {
			return 0, fmt.Errorf("stco chunk %d: %w", chunkNr, err)
		}
		return off, nil
	case stbl.Co64 != nil:
		off, err := stbl.Co64.GetOffset(int(chunkNr))
		if err != nil {
			return 0, fmt.Errorf("co64 chunk %d: %w", chunkNr, err)
		}
		return off, nil
	}
	return 0, errors.New("no stco or co64")
}

// ticksToDuration converts media ticks to a duration without overflowing for
// long tracks.
func ticksToDuration(ticks int64, timescale uint32) time.Duration {
	ts := int64(timescale)
	return time.Duration(ticks/ts)*time.Second + time.Duration(ticks%ts)*time.Second/time.Duration(ts)
}
