package demo

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/Eyevinn/mp4ff/mp4"
)

// fileTrack is a track read straight from the file with mp4ff's own sample
// lookup, independently of demux, as the reference the output must match.
type fileTrack struct {
	timescale uint32
	units     [][][]byte // video: NAL units per sample; audio: one payload each
	decode    []int64    // decode time + composition offset, in timescale ticks
	loopTicks int64      // one loop in timescale ticks
}

func readFileTracks(t *testing.T, data []byte) (video, audio *fileTrack) {
	t.Helper()
	f, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	mvhd := f.Moov.Mvhd
	for _, trak := range f.Moov.Traks {
		stbl := trak.Mdia.Minf.Stbl
		ft := &fileTrack{timescale: trak.Mdia.Mdhd.Timescale}
		ft.loopTicks = int64(mvhd.Duration) * int64(ft.timescale) / int64(mvhd.Timescale)
		for nr := uint32(1); nr <= trak.GetNrSamples(); nr++ {
			dec, _ := stbl.Stts.GetDecodeTime(nr)
			if int64(dec) >= ft.loopTicks { // past the loop: the next loop's first sample takes its place
				break
			}
			var cto int64
			if stbl.Ctts != nil {
				cto = int64(stbl.Ctts.GetCompositionTimeOffset(nr))
			}
			ranges, err := trak.GetRangesForSampleInterval(nr, nr)
			if err != nil || len(ranges) != 1 {
				t.Fatalf("sample %d ranges %v: %v", nr, ranges, err)
			}
			b := data[ranges[0].Offset : ranges[0].Offset+ranges[0].Size]
			ft.decode = append(ft.decode, int64(dec)+cto)
			switch trak.Mdia.Hdlr.HandlerType {
			case "vide":
				ft.units = append(ft.units, expectedAccessUnit(t, b, stbl.Stsd.AvcX.AvcC))
			case "soun":
				ft.units = append(ft.units, [][]byte{b})
			}
		}
		if trak.Mdia.Hdlr.HandlerType == "vide" {
			video = ft
		} else {
			audio = ft
		}
	}
	return video, audio
}

// expectedAccessUnit is what a viewer must depacketize for one sample: its
// NAL units, with the avcC SPS and PPS in front of an IDR that lacks them.
func expectedAccessUnit(t *testing.T, sample []byte, avcC *mp4.AvcCBox) [][]byte {
	t.Helper()
	var nalus [][]byte
	idr, sps := false, false
	for len(sample) > 0 {
		n := binary.BigEndian.Uint32(sample)
		nalus = append(nalus, sample[4:4+n])
		idr = idr || sample[4]&0x1F == 5
		sps = sps || sample[4]&0x1F == 7
		sample = sample[4+n:]
	}
	if idr && !sps {
		nalus = append(append(append([][]byte{}, avcC.SPSnalus...), avcC.PPSnalus...), nalus...)
	}
	return nalus
}
