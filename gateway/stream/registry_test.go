package stream

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/packager"
)

func TestValidName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"live", true},
		{"Cam_01-main.hd", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{".", false},
		{"..", false},
		{"...", true},
		{"a/b", false},
		{"a b", false},
		{"é", false},
		{"live\n", false},
	}
	for _, tc := range tests {
		if got := ValidName(tc.name); got != tc.want {
			t.Errorf("ValidName(%q) = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPublishRefusals(t *testing.T) {
	sinkErr := errors.New("disk full")
	tests := []struct {
		name    string
		cfg     Config
		stream  string
		tracks  packager.Tracks
		closed  bool
		wantErr error  // nil: any error
		bug     string // known defect: the case states the right behaviour and is skipped
	}{
		{name: "bad name", stream: "a/b", tracks: videoAudio(), wantErr: ErrBadName},
		{name: "empty name", stream: "", tracks: videoAudio(), wantErr: ErrBadName},
		{name: "no tracks", stream: "live"},
		{name: "registry closed", stream: "live", tracks: videoAudio(), closed: true, wantErr: ErrClosed},
		{
			name: "packager refuses the stream", stream: "live", tracks: videoAudio(), wantErr: sinkErr,
			cfg: Config{NewSink: func(string, time.Time) (UnitSink, error) { return nil, sinkErr }},
		},
		{
			name: "packager refuses the tracks", stream: "live", tracks: videoAudio(), wantErr: sinkErr,
			cfg: Config{NewSink: func(string, time.Time) (UnitSink, error) { return refusingSink{sinkErr}, nil }},
			bug: "a SetTracks error leaves a publisherless stream with no grace timer in the registry for good",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = discardLogger
			r := NewRegistry(tc.cfg)
			defer r.Close()
			if tc.closed {
				r.Close()
			}
			p, err := r.Publish(tc.stream, PublishRequest{Tracks: tc.tracks})
			if err == nil || p != nil {
				t.Fatalf("Publish = %v, %v; want an error", p, err)
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Publish error = %v, want %v", err, tc.wantErr)
			}
			if _, ok := r.Get(tc.stream); ok {
				t.Fatalf("a refused publish left stream %q in the registry", tc.stream)
			}
		})
	}
}

// refusingSink refuses every publication.
type refusingSink struct{ err error }

func (s refusingSink) SetTracks(packager.Tracks) error { return s.err }
func (refusingSink) WriteUnit(packager.Unit) error     { return nil }
func (refusingSink) End()                              {}

func TestPublishTwice(t *testing.T) {
	r := NewRegistry(Config{GracePeriod: time.Hour, Logger: discardLogger})
	defer r.Close()
	first, err := r.Publish("live", PublishRequest{Tracks: videoAudio()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Publish("live", PublishRequest{Tracks: videoAudio()}); !errors.Is(err, ErrAlreadyPublishing) {
		t.Fatalf("second Publish error = %v, want ErrAlreadyPublishing", err)
	}
	// The first publisher is untouched.
	if !first.Stream().Live() {
		t.Fatal("stream not live after a refused second publisher")
	}
	if err := first.WriteRTP(packager.KindAudio, &rtp.Packet{Payload: []byte{1}}, time.Now()); err != nil {
		t.Fatalf("first publisher's WriteRTP = %v", err)
	}
	// Another name is independent.
	if _, err := r.Publish("other", PublishRequest{Tracks: videoAudio()}); err != nil {
		t.Fatalf("Publish(other) = %v", err)
	}
	if n := len(r.Streams()); n != 2 {
		t.Fatalf("%d streams, want 2", n)
	}
}

func TestRepublishWithinGraceContinuesStream(t *testing.T) {
	var made sinks
	r := NewRegistry(Config{GracePeriod: time.Hour, NewSink: made.newSink, Logger: discardLogger})
	defer r.Close()
	p1, err := r.Publish("live", PublishRequest{Tracks: videoAudio()})
	if err != nil {
		t.Fatal(err)
	}
	st := p1.Stream()
	v := newRecordingViewer()
	if _, err := st.Subscribe(v); err != nil {
		t.Fatal(err)
	}
	tracks := st.Tracks()
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	write := func(p *Publisher, kind packager.Kind, seq uint16, ts uint32, at time.Duration) {
		t.Helper()
		pkt := &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts, PayloadType: 96}, Payload: []byte{0x41, 1, 2}}
		if err := p.WriteRTP(kind, pkt, base.Add(at)); err != nil {
			t.Fatalf("WriteRTP(%v seq %d) = %v", kind, seq, err)
		}
	}
	write(p1, packager.KindVideo, 100, 1000, 0)
	write(p1, packager.KindVideo, 101, 4000, 33*time.Millisecond)
	write(p1, packager.KindAudio, 7, 960, 20*time.Millisecond)

	p1.Close()
	if st.Live() {
		t.Fatal("stream live after its publisher closed")
	}
	if err := p1.WriteRTP(packager.KindVideo, &rtp.Packet{}, base); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteRTP after Close = %v, want ErrClosed", err)
	}
	if got, ok := r.Get("live"); !ok || got != st {
		t.Fatal("stream gone from the registry during its grace period")
	}

	p2, err := r.Publish("live", PublishRequest{Tracks: videoAudio()})
	if err != nil {
		t.Fatalf("republish within grace = %v", err)
	}
	if p2.Stream() != st {
		t.Fatal("republish within grace made a new Stream")
	}
	if !st.Live() || st.ViewerCount() != 1 {
		t.Fatalf("after republish: live %v, %d viewers; want live with 1", st.Live(), st.ViewerCount())
	}
	if isClosed(st.Ended()) {
		t.Fatal("stream ended during its grace period")
	}
	if got := st.Tracks(); len(got) != 2 || got[0] != tracks[0] || got[1] != tracks[1] {
		t.Fatal("republish replaced the stream's tracks")
	}
	// A new encoder: new random sequence numbers and timestamps, 1 s later.
	write(p2, packager.KindVideo, 50000, 123456, 1033*time.Millisecond)
	write(p2, packager.KindAudio, 3000, 99, 1020*time.Millisecond)

	want := []struct {
		kind    packager.Kind
		seq     uint16
		ts      uint32
		session uint32
	}{
		{packager.KindVideo, 100, 1000, 1},
		{packager.KindVideo, 101, 4000, 1},
		{packager.KindAudio, 7, 960, 1},
		{packager.KindVideo, 102, 4000 + 90000, 2},
		{packager.KindAudio, 8, 960 + 48000, 2},
	}
	got := v.received()
	if len(got) != len(want) {
		t.Fatalf("viewer got %d packets, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.kind != w.kind || g.p.Header.SequenceNumber != w.seq || g.p.Header.Timestamp != w.ts || g.p.Session != w.session {
			t.Errorf("packet %d: %v seq %d ts %d session %d; want %v seq %d ts %d session %d", i,
				g.kind, g.p.Header.SequenceNumber, g.p.Header.Timestamp, g.p.Session, w.kind, w.seq, w.ts, w.session)
		}
	}
	if made.count() != 1 {
		t.Fatalf("%d sinks made, want 1 for the whole stream", made.count())
	}
	if n := made.last().setTracksCalls(); n != 2 {
		t.Fatalf("sink.SetTracks called %d times, want 2 (one per publisher session)", n)
	}
	if _, err := r.Publish("live", PublishRequest{Tracks: videoAudio()}); !errors.Is(err, ErrAlreadyPublishing) {
		t.Fatalf("third Publish = %v, want ErrAlreadyPublishing", err)
	}
}

func TestGraceExpiryEndsStream(t *testing.T) {
	for _, grace := range []time.Duration{0, time.Millisecond} {
		t.Run("grace "+grace.String(), func(t *testing.T) {
			var made sinks
			r := NewRegistry(Config{GracePeriod: grace, NewSink: made.newSink, Logger: discardLogger})
			defer r.Close()
			p, err := r.Publish("live", PublishRequest{Tracks: videoAudio()})
			if err != nil {
				t.Fatal(err)
			}
			st := p.Stream()
			v := newRecordingViewer()
			if _, err := st.Subscribe(v); err != nil {
				t.Fatal(err)
			}
			p.Close()
			waitClosed(t, st.Ended(), "Ended after the grace period")
			// StreamEnded is the last thing end does: the name is free by then.
			waitClosed(t, v.ended, "viewer's StreamEnded")
			sink := made.last()
			if !isClosed(sink.ended) {
				t.Fatal("sink.End not called")
			}
			if _, ok := r.Get("live"); ok {
				t.Fatal("ended stream still in the registry")
			}
			if _, err := st.Subscribe(newRecordingViewer()); !errors.Is(err, ErrNotLive) {
				t.Fatalf("Subscribe to an ended stream = %v, want ErrNotLive", err)
			}
			p2, err := r.Publish("live", PublishRequest{Tracks: videoAudio()})
			if err != nil {
				t.Fatalf("Publish after the stream ended = %v", err)
			}
			if p2.Stream() == st {
				t.Fatal("Publish after the end continued the ended stream")
			}
			if made.count() != 2 {
				t.Fatalf("%d sinks made, want a new one for the new stream", made.count())
			}
			if n, m := sink.ends.Load(), v.ends.Load(); n != 1 || m != 1 {
				t.Fatalf("sink.End called %d times, StreamEnded %d times; want 1 each", n, m)
			}
		})
	}
}

func TestRegistryCloseEndsEveryStream(t *testing.T) {
	var made sinks
	r := NewRegistry(Config{GracePeriod: time.Hour, NewSink: made.newSink, Logger: discardLogger})
	live, err := r.Publish("live", PublishRequest{Tracks: videoAudio()})
	if err != nil {
		t.Fatal(err)
	}
	lingering, err := r.Publish("lingering", PublishRequest{Tracks: videoAudio()})
	if err != nil {
		t.Fatal(err)
	}
	lingering.Close()
	var viewers []*recordingViewer
	for _, st := range []*Stream{live.Stream(), lingering.Stream()} {
		v := newRecordingViewer()
		if _, err := st.Subscribe(v); err != nil {
			t.Fatal(err)
		}
		viewers = append(viewers, v)
	}

	r.Close() // synchronous: everything is over when it returns
	for i, st := range []*Stream{live.Stream(), lingering.Stream()} {
		if !isClosed(st.Ended()) || !isClosed(viewers[i].ended) || !isClosed(made.made[i].ended) {
			t.Fatalf("stream %s: ended %v, viewer told %v, sink ended %v; want all", st.Name(),
				isClosed(st.Ended()), isClosed(viewers[i].ended), isClosed(made.made[i].ended))
		}
	}
	if err := live.WriteRTP(packager.KindVideo, &rtp.Packet{}, time.Now()); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteRTP after registry Close = %v, want ErrClosed", err)
	}
	if n := len(r.Streams()); n != 0 {
		t.Fatalf("%d streams after Close", n)
	}
	if _, err := r.Publish("live", PublishRequest{Tracks: videoAudio()}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Publish after Close = %v, want ErrClosed", err)
	}
	r.Close() // idempotent
	for i := range viewers {
		if n := viewers[i].ends.Load(); n != 1 {
			t.Fatalf("viewer %d told %d times", i, n)
		}
	}
}

func TestSubscribeCopyOnWrite(t *testing.T) {
	r := NewRegistry(Config{GracePeriod: time.Hour, Logger: discardLogger})
	defer r.Close()
	p, err := r.Publish("live", PublishRequest{Tracks: videoAudio()})
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stream()
	v1, v2 := newRecordingViewer(), newRecordingViewer()

	snap0 := st.viewers.Load()
	unsub1, err := st.Subscribe(v1)
	if err != nil {
		t.Fatal(err)
	}
	snap1 := st.viewers.Load()
	unsub2, err := st.Subscribe(v2)
	if err != nil {
		t.Fatal(err)
	}
	snap2 := st.viewers.Load()
	unsub1()
	snap3 := st.viewers.Load()
	unsub1() // idempotent

	// Snapshots a forwarding goroutine may hold are never modified.
	check := func(name string, snap *[]Viewer, want ...Viewer) {
		t.Helper()
		if len(*snap) != len(want) {
			t.Fatalf("%s: %d viewers, want %d", name, len(*snap), len(want))
		}
		for i := range want {
			if (*snap)[i] != want[i] {
				t.Fatalf("%s: viewer %d changed", name, i)
			}
		}
	}
	check("before any subscribe", snap0)
	check("after subscribing v1", snap1, v1)
	check("after subscribing v2", snap2, v1, v2)
	check("after unsubscribing v1", snap3, v2)
	check("now", st.viewers.Load(), v2)
	if st.ViewerCount() != 1 {
		t.Fatalf("ViewerCount = %d, want 1", st.ViewerCount())
	}

	pkt := &rtp.Packet{Header: rtp.Header{SequenceNumber: 1}, Payload: []byte{1}}
	if err := p.WriteRTP(packager.KindAudio, pkt, time.Now()); err != nil {
		t.Fatal(err)
	}
	if n1, n2 := len(v1.received()), len(v2.received()); n1 != 0 || n2 != 1 {
		t.Fatalf("unsubscribed viewer got %d packets, subscribed one %d; want 0 and 1", n1, n2)
	}
	// The same viewer twice: each unsubscribe removes one subscription.
	unsub2b, err := st.Subscribe(v2)
	if err != nil {
		t.Fatal(err)
	}
	unsub2()
	if st.ViewerCount() != 1 {
		t.Fatalf("ViewerCount = %d after removing one of two subscriptions, want 1", st.ViewerCount())
	}
	unsub2b()
	unsub2()
	if st.ViewerCount() != 0 {
		t.Fatalf("ViewerCount = %d, want 0", st.ViewerCount())
	}
}

// Subscribing and leaving while packets flow: the race detector checks the
// copy-on-write list, and every viewer present throughout gets every packet.
func TestSubscribeWhileForwarding(t *testing.T) {
	r := NewRegistry(Config{GracePeriod: time.Hour, Logger: discardLogger})
	defer r.Close()
	p, err := r.Publish("live", PublishRequest{Tracks: videoAudio()})
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stream()
	steady := newRecordingViewer()
	if _, err := st.Subscribe(steady); err != nil {
		t.Fatal(err)
	}
	const packets = 2000
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				unsub, err := st.Subscribe(newRecordingViewer())
				if err != nil {
					t.Error(err)
					return
				}
				unsub()
			}
		}()
	}
	for i := range packets {
		pkt := &rtp.Packet{Header: rtp.Header{SequenceNumber: uint16(i), Timestamp: uint32(i) * 960}, Payload: []byte{1}}
		if err := p.WriteRTP(packager.KindAudio, pkt, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if n := len(steady.received()); n != packets {
		t.Fatalf("steady viewer got %d packets, want %d", n, packets)
	}
	if st.ViewerCount() != 1 {
		t.Fatalf("ViewerCount = %d, want 1", st.ViewerCount())
	}
}

// README: keyframe requests go to the publisher "at most one per 500 ms".
// The interval is written here, not read from the implementation, so
// changing it means changing the README too.
const documentedKeyframeRequestInterval = 500 * time.Millisecond

func TestRequestKeyframeRateLimit(t *testing.T) {
	var calls atomic.Int32
	// The registry's clock, moved by the test (unix nanoseconds).
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	r := NewRegistry(Config{GracePeriod: time.Hour, Logger: discardLogger,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	defer r.Close()
	p, err := r.Publish("live", PublishRequest{Tracks: videoAudio(), RequestKeyframe: func() { calls.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stream()

	// Many viewers join at once: one request goes upstream.
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 25 {
				st.RequestKeyframe()
			}
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d upstream requests for 400 calls within the interval, want 1", n)
	}

	// Just inside the documented interval, still nothing; at it, the next
	// call goes through, and only that one.
	advance(documentedKeyframeRequestInterval - time.Millisecond)
	st.RequestKeyframe()
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d upstream requests %v after the first, want 1 (at most one per %v)",
			n, documentedKeyframeRequestInterval-time.Millisecond, documentedKeyframeRequestInterval)
	}
	advance(time.Millisecond)
	st.RequestKeyframe()
	st.RequestKeyframe()
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d upstream requests %v after the first, want 2", n, documentedKeyframeRequestInterval)
	}

	// Without a publisher, or one that cannot be asked, nothing happens.
	p.Close()
	st.lastKeyReq.Store(0)
	st.RequestKeyframe()
	p2, err := r.Publish("live", PublishRequest{Tracks: videoAudio()})
	if err != nil {
		t.Fatal(err)
	}
	st.lastKeyReq.Store(0)
	p2.Stream().RequestKeyframe()
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d upstream requests, want still 2", n)
	}
}

// An access unit lost on ingest asks the publisher for a keyframe and is
// counted (ARCHITECTURE: ingest loss).
func TestIngestLossRequestsKeyframe(t *testing.T) {
	var calls atomic.Int32
	r := NewRegistry(Config{GracePeriod: time.Hour, Logger: discardLogger})
	defer r.Close()
	p, err := r.Publish("live", PublishRequest{
		Tracks: packager.Tracks{Video: &packager.VideoInfo{}}, RequestKeyframe: func() { calls.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	var seq uint16 = 10
	pkts := h264Packets(&seq, 0, 1200, true, nalu(hdrIDR, 3000))
	for i, pkt := range pkts {
		if i == 1 {
			continue // lost
		}
		if err := p.WriteRTP(packager.KindVideo, pkt, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d keyframe requests after a loss, want 1", n)
	}
	c := p.Stream().Counters()
	if c.IncompleteUnits != 1 || c.KeyframeRequests != 1 {
		t.Fatalf("counters: %d incomplete units, %d keyframe requests upstream; want 1 and 1", c.IncompleteUnits, c.KeyframeRequests)
	}
	if got, want := c.In[packager.KindVideo].Packets, uint64(len(pkts)-1); got != want {
		t.Fatalf("%d packets in, want %d", got, want)
	}
}

// TestRepublishWithOtherTracksStartsNewStream: renditions cannot change
// mid-stream, so a publisher that comes back with other kinds of track ends
// the old stream (its viewers are told) and starts a new one under the name.
func TestRepublishWithOtherTracksStartsNewStream(t *testing.T) {
	var made sinks
	r := NewRegistry(Config{GracePeriod: time.Hour, NewSink: made.newSink, Logger: discardLogger})
	defer r.Close()
	p1, err := r.Publish("live", PublishRequest{Tracks: videoAudio()})
	if err != nil {
		t.Fatal(err)
	}
	old := p1.Stream()
	v := newRecordingViewer()
	if _, err := old.Subscribe(v); err != nil {
		t.Fatal(err)
	}
	p1.Close()
	p2, err := r.Publish("live", PublishRequest{Tracks: packager.Tracks{Video: &packager.VideoInfo{}}})
	if err != nil {
		t.Fatalf("republish with video only = %v", err)
	}
	if p2.Stream() == old {
		t.Fatal("republish with other tracks continued the old stream")
	}
	waitClosed(t, old.Ended(), "old stream's end")
	waitClosed(t, v.ended, "viewer told the stream ended")
	if got, _ := r.Get("live"); got != p2.Stream() {
		t.Fatal("the registry does not hold the new stream")
	}
	if made.count() != 2 {
		t.Fatalf("%d packager sinks made, want 2", made.count())
	}
}

// TestRequestKeyframeDeferred: a request inside the rate-limit interval is
// sent by the first packet after it, unless a keyframe went out meanwhile.
func TestRequestKeyframeDeferred(t *testing.T) {
	now := gwBase
	r := NewRegistry(Config{GracePeriod: time.Hour, Logger: discardLogger, Now: func() time.Time { return now }})
	defer r.Close()
	sent := 0
	p, err := r.Publish("live", PublishRequest{
		Tracks: packager.Tracks{Video: &packager.VideoInfo{}}, RequestKeyframe: func() { sent++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stream()
	var seq uint16
	packet := func(at time.Duration, key bool) {
		t.Helper()
		now = gwBase.Add(at)
		payload := []byte{0x41, 0x9a} // a P slice
		if key {
			payload = []byte{0x65, 0x88} // an IDR slice
		}
		seq++
		if err := p.WriteRTP(packager.KindVideo, &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Marker: true}, Payload: payload}, now); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		at       time.Duration
		request  bool // a viewer asks
		packet   bool
		keyframe bool
		want     int // requests sent upstream so far
	}{
		{at: 0, request: true, want: 1},
		{at: 100 * time.Millisecond, request: true, want: 1}, // inside the interval: waits
		{at: 300 * time.Millisecond, packet: true, want: 1},  // still inside
		{at: 600 * time.Millisecond, packet: true, want: 2},  // the waiting request goes out
		{at: 700 * time.Millisecond, request: true, want: 2}, // waits again
		{at: 800 * time.Millisecond, packet: true, keyframe: true, want: 2},
		{at: 1300 * time.Millisecond, packet: true, want: 2}, // a keyframe went out: nothing to send
	}
	for i, s := range steps {
		now = gwBase.Add(s.at)
		if s.request {
			st.RequestKeyframe()
		}
		if s.packet {
			packet(s.at, s.keyframe)
		}
		if sent != s.want {
			t.Fatalf("step %d (%v): %d requests sent upstream, want %d", i, s.at, sent, s.want)
		}
	}
}
