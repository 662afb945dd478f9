// Package testdata holds the small media files tests and the demo publisher
// use, embedded so neither depends on the working directory.
package testdata

import _ "embed"

// DemoMP4 is the looping demo stream: H264 baseline 640x360 30 fps with a 1 s
// GOP and no B-frames, Opus 48 kHz stereo, 4 s, progressive (faststart).
//
//go:embed demo-h264-opus.mp4
var DemoMP4 []byte

// BFramesMP4 exercises PTS != DTS: H264 high profile with 2 B-frames, 1 s GOP,
// Opus 48 kHz stereo, 2 s, moov after mdat.
//
//go:embed bframes-h264-opus.mp4
var BFramesMP4 []byte

// BenchMP4 is the load benchmark's stream: H264 baseline 640x360 30 fps,
// 1 s GOP, about 1.5 Mbit/s of incompressible video (noise), Opus 48 kHz
// stereo, 2 s, progressive (faststart).
//
//go:embed bench-h264-opus.mp4
var BenchMP4 []byte
