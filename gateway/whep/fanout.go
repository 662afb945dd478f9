package whep

import (
	"sync"

	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

const (
	// ringSize is how many packets a stream's fan-out keeps for its send
	// workers: about 4 s of a 1.5 Mbit/s stream with audio. A worker that
	// falls further behind skips to the newest (counted as dropped).
	ringSize = 1024
	// wakeEvery wakes the workers after this many packets even without a
	// frame's end (a publisher that never sets the marker bit).
	wakeEvery = 32
	// maxPadding is the most RTP padding one packet can carry (its count
	// is one byte, RFC 3550 section 5.1).
	maxPadding = 255
)

// entry is one packet in a fan-out's ring.
type entry struct {
	kind packager.Kind
	p    *stream.Packet
	// pad is the RTP padding that makes this packet as long as the
	// longest of its frame, so a viewer's frame goes out as one GSO train
	// (all of a train's datagrams must be that size but the last). Set
	// when the frame is complete, before the workers are woken.
	pad int
}

// fanout is one stream's viewers' share of its packets (a
// stream.PacketWriter shared by all of them): the stream writes each packet
// once into a ring, and wakes the send workers that serve its viewers at
// the end of each frame, so each worker sends each of its viewers the whole
// frame at once.
type fanout struct {
	st *stream.Stream

	mu       sync.Mutex
	ring     [ringSize]entry
	head     uint64 // packets written; ring[i%ringSize] holds packet i
	frame    uint64 // the index of the current video frame's first packet
	frameTS  uint32
	inFrame  bool // a video frame has begun and not ended (no marker yet)
	lastWake uint64
	workers  map[*worker]int // the workers that serve viewers of this stream, and how many
	wake     []*worker       // the keys of workers, for WritePacket
	viewers  int
}

func newFanout(st *stream.Stream) *fanout {
	return &fanout{st: st, workers: make(map[*worker]int)}
}

// WritePacket puts one packet in the ring and, at a frame's end (the video
// marker bit; an audio packet outside a video frame), wakes the workers:
// an audio packet in the middle of a frame's burst waits the few hundred
// microseconds to its end, so the frame is not cut into two trains.
func (f *fanout) WritePacket(kind packager.Kind, p *stream.Packet) {
	f.mu.Lock()
	i := f.head
	f.ring[i%ringSize] = entry{kind: kind, p: p}
	f.head++
	end := f.head-f.lastWake >= wakeEvery
	switch kind {
	case packager.KindVideo:
		if !f.inFrame || p.Header.Timestamp != f.frameTS {
			f.frame, f.frameTS, f.inFrame = i, p.Header.Timestamp, true
		}
		if p.Header.Marker {
			f.padFrame(f.frame, i)
			f.inFrame, end = false, true
		}
	case packager.KindAudio:
		end = end || !f.inFrame
	}
	var wake []*worker
	if end {
		f.lastWake, wake = f.head, f.wake
	}
	f.mu.Unlock()
	for _, w := range wake {
		w.poke()
	}
}

// padFrame pads the video packets of ring[from..last] (last is the
// frame's final one, which stays as it is) to the longest of them, where
// that takes no more padding than a packet can carry. f.mu is held.
func (f *fanout) padFrame(from, last uint64) {
	if last-from >= ringSize {
		return
	}
	longest := 0
	for i := from; i <= last; i++ {
		if e := &f.ring[i%ringSize]; e.kind == packager.KindVideo {
			longest = max(longest, len(e.p.Payload))
		}
	}
	for i := from; i < last; i++ {
		e := &f.ring[i%ringSize]
		if e.kind != packager.KindVideo || e.p.Header.Timestamp != f.frameTS {
			continue
		}
		if pad := longest - len(e.p.Payload); pad > 0 && pad <= maxPadding {
			e.pad = pad
		}
	}
}

// read copies the entries from index from on into dst (reused) and
// returns them with the index of the first; a reader more than the ring
// behind gets the newest ringSize and the count it missed.
func (f *fanout) read(dst []entry, from uint64) (out []entry, first uint64, missed uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	head := f.head
	if head-from > ringSize {
		missed = head - ringSize - from
		from = head - ringSize
	}
	out = dst[:0]
	for i := from; i < head; i++ {
		out = append(out, f.ring[i%ringSize])
	}
	return out, from, missed
}

// empty reports whether no viewer is attached.
func (f *fanout) empty() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.viewers == 0
}

// position is the index the next packet will have.
func (f *fanout) position() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.head
}

// StreamEnded is the stream's: its viewers hear it from the stream itself.
func (f *fanout) StreamEnded() {}

// attach counts one more viewer on w; it returns the index that viewer
// starts at.
func (f *fanout) attach(w *worker) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.viewers++
	if f.workers[w]++; f.workers[w] == 1 {
		f.wake = append(f.wake[:len(f.wake):len(f.wake)], w) // copy on write: WritePacket reads it unlocked
	}
	return f.head
}

// detach counts one viewer fewer on w; it reports whether the fan-out has
// no viewer left.
func (f *fanout) detach(w *worker) (empty bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.viewers--
	if f.workers[w]--; f.workers[w] <= 0 {
		delete(f.workers, w)
		next := make([]*worker, 0, len(f.workers))
		for k := range f.workers {
			next = append(next, k)
		}
		f.wake = next
	}
	return f.viewers == 0
}
