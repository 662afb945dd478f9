package cmaf

import (
	"fmt"

	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/mp4"
)

// Sample is one access unit of a fragment, in the track's timescale.
type Sample struct {
	// Duration is the distance to the next sample's decode time.
	Duration uint32
	// CompositionOffset is PTS-DTS; signed, so trun version 1 carries it
	// (ISO/IEC 14496-12 §8.8.8) and B-frames keep their presentation order.
	CompositionOffset int32
	// Sync marks a sample that decodes on its own (IDR, or any audio frame).
	Sync bool
	// Data is the sample payload: AVCC (length-prefixed NAL units) for H264,
	// one packet for Opus, one raw frame for AAC.
	Data []byte
}

// Fragment encodes one moof+mdat holding samples, the first decoded at
// baseTime. seq is the mfhd sequence number; it rises by one per fragment.
func Fragment(seq uint32, baseTime uint64, samples []Sample) ([]byte, error) {
	if len(samples) == 0 {
		return nil, fmt.Errorf("cmaf: fragment %d has no samples", seq)
	}
	f, err := mp4.CreateFragment(seq, TrackID)
	if err != nil {
		return nil, fmt.Errorf("cmaf: create fragment: %w", err)
	}
	size := 0
	for _, s := range samples {
		size += len(s.Data)
	}
	f.Mdat.Data = make([]byte, 0, size)
	t := baseTime
	for _, s := range samples {
		flags := mp4.SyncSampleFlags
		if !s.Sync {
			flags = mp4.SetNonSyncSampleFlags(0)
		}
		f.AddFullSample(mp4.FullSample{
			Sample: mp4.Sample{
				Flags:                 flags,
				Dur:                   s.Duration,
				Size:                  uint32(len(s.Data)),
				CompositionTimeOffset: s.CompositionOffset,
			},
			DecodeTime: t,
			Data:       s.Data,
		})
		t += uint64(s.Duration)
	}
	out := make([]byte, f.Size())
	sw := bits.NewFixedSliceWriterFromSlice(out)
	if err := f.EncodeSW(sw); err != nil {
		return nil, fmt.Errorf("cmaf: encode fragment %d: %w", seq, err)
	}
	return sw.Bytes(), nil
}
