// Package cmaf builds the CMAF pieces LL-HLS serves (ISO/IEC 23000-19): one
// init segment per track and one fragment (moof+mdat) per part, with mp4ff.
// It holds no state: the packager calls it once per part, never per viewer.
package cmaf

import (
	"bytes"
	"fmt"

	"github.com/Eyevinn/mp4ff/aac"
	"github.com/Eyevinn/mp4ff/mp4"
)

const (
	// TrackID is the only track of every init segment: renditions are
	// separate single-track playlists, as LL-HLS players expect.
	TrackID = 1
	// VideoTimescale is the video track clock in ticks per second; 90 kHz
	// matches RTP's H264 clock so no precision is lost on the way in.
	VideoTimescale = 90000
	// OpusTimescale is Opus's fixed decoding rate (RFC 7845 §5.1, Opus in ISOBMFF §4.3).
	OpusTimescale = 48000
	// opusMaxStereoChannels is the largest channel count channel mapping
	// family 0 can describe (Opus in ISOBMFF §4.3.2).
	opusMaxStereoChannels = 2
)

// VideoInitH264 returns an init segment (ftyp+moov with mvex, no samples)
// for an H264 track: an avc1 sample entry whose avcC carries sps and pps.
func VideoInitH264(sps, pps []byte) ([]byte, error) {
	init := newInit()
	trak := init.AddEmptyTrack(VideoTimescale, "video", "und")
	if err := trak.SetAVCDescriptor("avc1", [][]byte{sps}, [][]byte{pps}, true); err != nil {
		return nil, fmt.Errorf("cmaf: avc1 sample entry: %w", err)
	}
	return encodeInit(init)
}

// OpusInit returns an init segment for an Opus track: an `Opus` sample entry
// with a dOps box (Opus in ISOBMFF §4.3). PreSkip is 0: WebRTC Opus carries
// no OpusHead, so nothing tells how many priming samples there are.
func OpusInit(channels int) ([]byte, error) {
	if channels < 1 || channels > opusMaxStereoChannels {
		return nil, fmt.Errorf("cmaf: opus with %d channels is not supported", channels)
	}
	init := newInit()
	trak := init.AddEmptyTrack(OpusTimescale, "audio", "und")
	dops := &mp4.DopsBox{
		Version:              0,
		OutputChannelCount:   byte(channels),
		InputSampleRate:      OpusTimescale,
		ChannelMappingFamily: 0,
	}
	entry := mp4.CreateAudioSampleEntryBox("Opus", uint16(channels), 16, OpusTimescale, dops)
	trak.Mdia.Minf.Stbl.Stsd.AddChild(entry)
	return encodeInit(init)
}

// AACInit returns an init segment for an AAC track: an mp4a sample entry
// whose esds carries the AudioSpecificConfig as the publisher sent it.
// The track timescale is the sample rate the config names.
func AACInit(audioSpecificConfig []byte) ([]byte, uint32, error) {
	asc, err := aac.DecodeAudioSpecificConfig(bytes.NewReader(audioSpecificConfig))
	if err != nil {
		return nil, 0, fmt.Errorf("cmaf: AudioSpecificConfig: %w", err)
	}
	rate := asc.SamplingFrequency
	if rate <= 0 || rate > 0xffff {
		return nil, 0, fmt.Errorf("cmaf: AAC sample rate %d out of range", rate)
	}
	init := newInit()
	trak := init.AddEmptyTrack(uint32(rate), "audio", "und")
	esds := mp4.CreateEsdsBox(audioSpecificConfig)
	entry := mp4.CreateAudioSampleEntryBox("mp4a", uint16(asc.ChannelConfiguration), 16, uint16(rate), esds)
	trak.Mdia.Minf.Stbl.Stsd.AddChild(entry)
	b, err := encodeInit(init)
	return b, uint32(rate), err
}

// newInit makes an empty CMAF init segment; the brands say CMAF and HLS fMP4.
func newInit() *mp4.InitSegment {
	init := mp4.NewMP4Init()
	init.AddChild(mp4.NewFtyp("iso6", 0, []string{"iso6", "cmfc", "hlsf"}))
	moov := mp4.NewMoovBox()
	init.AddChild(moov)
	moov.AddChild(mp4.CreateMvhd())
	moov.AddChild(mp4.NewMvexBox())
	return init
}

func encodeInit(init *mp4.InitSegment) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(int(init.Size()))
	if err := init.Encode(&buf); err != nil {
		return nil, fmt.Errorf("cmaf: encode init: %w", err)
	}
	return buf.Bytes(), nil
}
