package demo

import (
	"time"

	"github.com/frontrow-live/frontrow/packager"
)

// frameDurationTolerance is how far apart two video frame durations may be
// and still count as equal: it absorbs the rounding of media ticks to
// nanoseconds and of the loop length (the movie timescale is often 1000).
const frameDurationTolerance = time.Millisecond

// gopIndex is what a Run needs to answer keyframe requests from a file: the
// video samples in decode order and, for each, how many frames back the IDR
// starting its GOP is (0 for an IDR; counted cyclically, since the file
// loops). It is read-only, shared by every Run.
type gopIndex struct {
	frames []*Sample
	back   []int
}

// newGOPIndex builds the index, or returns nil if the file cannot answer
// keyframe requests: no video, no IDR, or video frames of different
// durations (the loop wrap included). Substituted content keeps its own
// PTS-DTS offset on the schedule's DTS, which is the file's timing only when
// every frame lasts the same; otherwise B-frames could come out of order.
func newGOPIndex(m *media) *gopIndex {
	var frames []*Sample
	for i := range m.samples {
		if m.samples[i].Kind == packager.KindVideo {
			frames = append(frames, &m.samples[i])
		}
	}
	n := len(frames)
	if n == 0 {
		return nil
	}
	step := m.loop + frames[0].DTS - frames[n-1].DTS // the wrap: last frame to the next loop's first
	for i := 1; i < n; i++ {
		if d := frames[i].DTS - frames[i-1].DTS; (d - step).Abs() > frameDurationTolerance {
			return nil
		}
	}
	last := -1 // the last IDR of the file: the GOP that wraps into the loop's start
	for i := n - 1; i >= 0 && last < 0; i-- {
		if isIDR(frames[i].NALUs) {
			last = i
		}
	}
	if last < 0 {
		return nil
	}
	back := make([]int, n)
	start := last - n // before the first IDR, frames continue the previous loop's last GOP
	for i, f := range frames {
		if isIDR(f.NALUs) {
			start = i
		}
		back[i] = i - start
	}
	return &gopIndex{frames: frames, back: back}
}

func isIDR(nalus [][]byte) bool {
	for _, n := range nalus {
		if len(n) > 0 && n[0]&0x1F == naluTypeIDR {
			return true
		}
	}
	return false
}

// rewinder is one Run's answer to keyframe requests. The Run keeps its
// schedule (send times and DTS of the file's samples) and sends at video
// position k of a loop the content of frame (k - shift) mod n. A request
// seen when a frame is due grows shift so that this frame is its GOP's IDR.
type rewinder struct {
	src   *Source
	gops  *gopIndex // nil: requests are ignored
	seen  uint64    // the request count already answered
	shift int       // in [0, n)
}

func newRewinder(src *Source) *rewinder {
	// A Run starts at the file's first frame: requests from before it are
	// not carried over.
	return &rewinder{src: src, gops: src.gops, seen: src.keyframeRequests.Load()}
}

// content is the sample whose content goes out at video position k (the
// scheduled frame itself unless a request rewound the content), answering a
// request made since the last frame. Any number of requests before a frame
// is one rewind.
func (r *rewinder) content(k int, scheduled *Sample) *Sample {
	if r.gops == nil {
		return scheduled
	}
	n := len(r.gops.frames)
	if req := r.src.keyframeRequests.Load(); req != r.seen {
		r.seen = req
		r.shift = (r.shift + r.gops.back[r.index(k)]) % n
	}
	return r.gops.frames[r.index(k)]
}

func (r *rewinder) index(k int) int {
	n := len(r.gops.frames)
	return ((k-r.shift)%n + n) % n
}
