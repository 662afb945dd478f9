package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/bluenviron/gortmplib/pkg/handshake"
	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

// The RTMP test files (testdata/README.md says how they were made).
var (
	rtmpBaselineFile = filepath.Join("..", "testdata", "baseline-h264-aac.mp4")
	rtmpBFramesFile  = filepath.Join("..", "testdata", "bframes-h264-aac.mp4")
)

// ffmpegPath finds the ffmpeg binary. Without one the RTMP tests skip,
// except in CI (CI=true), where .ci/run installs it and they must run.
func ffmpegPath(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("ffmpeg")
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("ffmpeg not found in CI (.ci/run installs Debian's ffmpeg): %v", err)
	}
	logMissingClient(t, "ffmpeg")
	t.Skip("ffmpeg not installed: the RTMP tests publish with the real binary (scripts/install-test-clients.sh installs it)")
	return ""
}

// rtmpURL is where a test publishes name with token ("" for none).
func rtmpURL(g *gateway, name, token string) string {
	u := fmt.Sprintf("rtmp://%s/live/%s", g.RTMPAddr(), name)
	if token != "" {
		u += "?token=" + token
	}
	return u
}

// ffmpegRun is one ffmpeg process the test started.
type ffmpegRun struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer // ffmpeg writes it only while running; read after done
	done   chan struct{}
	err    error // the exit status, once done is closed
}

// startFFmpeg runs ffmpeg with args until it exits or the test ends (then it
// is killed and waited for).
func startFFmpeg(t testing.TB, ctx context.Context, args ...string) *ffmpegRun {
	t.Helper()
	bin := ffmpegPath(t)
	r := &ffmpegRun{done: make(chan struct{})}
	r.cmd = exec.CommandContext(ctx, bin, append([]string{"-hide_banner", "-nostdin", "-loglevel", "error"}, args...)...)
	r.cmd.Stderr = &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start ffmpeg: %v", err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(r.stop)
	return r
}

// publishFile loops a test file into the gateway over RTMP as an encoder
// would (real-time pace, stream copy).
func publishFile(t testing.TB, ctx context.Context, g *gateway, file, name, token string) *ffmpegRun {
	t.Helper()
	return startFFmpeg(t, ctx, "-re", "-stream_loop", "-1", "-i", file, "-c", "copy", "-f", "flv", rtmpURL(g, name, token))
}

// stop kills ffmpeg (an encoder that vanishes) and waits for it.
func (r *ffmpegRun) stop() {
	_ = r.cmd.Process.Kill()
	<-r.done
}

// wait waits for ffmpeg to exit on its own.
func (r *ffmpegRun) wait(ctx context.Context) error {
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ffmpeg still running: %w", ctx.Err())
	}
}

// waitLive polls the registry until the stream's publisher is connected
// (live) or not, as want says.
func waitLive(ctx context.Context, g *gateway, name string, want bool) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s, ok := g.Registry().Get(name)
		if ok && s.Live() == want || !ok && !want {
			return nil
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("stream %q live=%v: %w", name, want, ctx.Err())
		}
	}
}

// fileMedia is a test file read with mp4ff, independently of the gateway:
// what an encoder publishing it sends.
type fileMedia struct {
	video []fileUnit // decode order; IDRs with the avcC SPS and PPS in front, as the gateway sends them
	audio []fileUnit // raw AAC frames
	// the tracks' timescales, and their durations in them (one loop)
	videoRate, audioRate int64
	videoLoop, audioLoop int64
}

type fileUnit struct {
	data     [][]byte
	dts, pts int64 // in the track's timescale
}

func readFileMedia(t testing.TB, path string) *fileMedia {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	m := &fileMedia{}
	for _, trak := range f.Moov.Traks {
		stbl := trak.Mdia.Minf.Stbl
		var units []fileUnit
		for nr := uint32(1); nr <= trak.GetNrSamples(); nr++ {
			dec, _ := stbl.Stts.GetDecodeTime(nr)
			var cto int64
			if stbl.Ctts != nil {
				cto = int64(stbl.Ctts.GetCompositionTimeOffset(nr))
			}
			ranges, err := trak.GetRangesForSampleInterval(nr, nr)
			if err != nil || len(ranges) != 1 {
				t.Fatalf("%s sample %d ranges %v: %v", path, nr, ranges, err)
			}
			b := data[ranges[0].Offset : ranges[0].Offset+ranges[0].Size]
			u := fileUnit{dts: int64(dec), pts: int64(dec) + cto}
			if trak.Mdia.Hdlr.HandlerType == "vide" {
				u.data = expectedAU(b, stbl.Stsd.AvcX.AvcC)
			} else {
				u.data = [][]byte{b}
			}
			units = append(units, u)
		}
		rate, dur := int64(trak.Mdia.Mdhd.Timescale), int64(trak.Mdia.Mdhd.Duration)
		if trak.Mdia.Hdlr.HandlerType == "vide" {
			m.video, m.videoRate, m.videoLoop = units, rate, dur
		} else {
			m.audio, m.audioRate, m.audioLoop = units, rate, dur
		}
	}
	if len(m.video) == 0 || len(m.audio) == 0 {
		t.Fatalf("%s: want a video and an audio track", path)
	}
	return m
}

// expectedAU is a sample's NAL units, with the avcC's SPS and PPS in front
// of an IDR that lacks them (RTMP sends those only in the sequence header).
func expectedAU(sample []byte, avcC *mp4.AvcCBox) [][]byte {
	var nalus [][]byte
	idr, sps := false, false
	for len(sample) >= 4 {
		n := int(sample[0])<<24 | int(sample[1])<<16 | int(sample[2])<<8 | int(sample[3])
		nalus = append(nalus, sample[4:4+n])
		idr = idr || sample[4]&0x1F == 5
		sps = sps || sample[4]&0x1F == 7
		sample = sample[4+n:]
	}
	if idr && !sps {
		nalus = append(append(slices.Clone(avcC.SPSnalus), avcC.PPSnalus...), nalus...)
	}
	return nalus
}

// looped repeats units n times: ffmpeg -stream_loop sends the file again and again.
func looped[T any](units []T, n int) []T {
	out := make([]T, 0, len(units)*n)
	for range n {
		out = append(out, units...)
	}
	return out
}

func fileAUs(us []fileUnit) [][][]byte {
	out := make([][][]byte, len(us))
	for i, u := range us {
		out[i] = u.data
	}
	return out
}

func fileFrames(us []fileUnit) [][]byte {
	out := make([][]byte, len(us))
	for i, u := range us {
		out[i] = u.data[0]
	}
	return out
}

// checkLoopTimes compares the HLS tier's presentation times of a run of
// units with the file's, both relative to the run's first unit. The test
// files loop seamlessly (testdata/README.md), so loop k of the file is the
// file shifted by k times its duration.
func checkLoopTimes(t testing.TB, what string, got []hlsUnit, gotRate int, file []fileUnit, fileRate, loopTicks int64, start int) {
	t.Helper()
	const tolerance = time.Millisecond
	at := func(i int) int64 { return file[i%len(file)].pts + int64(i/len(file))*loopTicks }
	worst := time.Duration(0)
	for i, u := range got {
		hls := time.Duration(u.pts-got[0].pts) * time.Second / time.Duration(gotRate)
		ref := time.Duration(at(start+i)-at(start)) * time.Second / time.Duration(fileRate)
		d := (hls - ref).Abs()
		worst = max(worst, d)
		if d > tolerance {
			t.Errorf("%s unit %d (file sample %d): HLS time %v, file %v from the run's first unit (off by %v, tolerance %v)",
				what, i, (start+i)%len(file), hls, ref, d, tolerance)
			return
		}
	}
	t.Logf("%s: %d units from file sample %d, presentation times within %v of the file's", what, len(got), start%len(file), worst)
}

// watchRTMP has ffmpeg publish file as stream "live" over RTMP and attaches
// a pion WHEP viewer and gohlslib's HLS reader to it.
func watchRTMP(t *testing.T, ctx context.Context, file string) (*gateway, *whepClient, *hlsReader) {
	t.Helper()
	g := startGateway(t, withRTMP())
	publishFile(t, ctx, g, file, "live", testToken)
	if err := waitLive(ctx, g, "live", true); err != nil {
		t.Fatal(err)
	}
	viewer := newWHEPClient(t, clientAPI(t))
	if err := viewer.play(ctx, g.base, "live"); err != nil {
		t.Fatalf("play: %v", err)
	}
	return g, viewer, readHLS(t, g.base+"/hls/live/index.m3u8")
}

// TestRTMPToWHEPAndLLHLS: the real ffmpeg publishes the H264+AAC file over
// RTMP; a pion WHEP viewer receives the file's video access units and the
// audio as Opus (the audio bridge; audio_quality_test.go checks how it
// sounds), and gohlslib's client reads its video and the AAC audio, as it
// came, from LL-HLS with the file's timing.
func TestRTMPToWHEPAndLLHLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	file := readFileMedia(t, rtmpBaselineFile)
	g, viewer, hls := watchRTMP(t, ctx, rtmpBaselineFile)

	const wantVideo, wantAudio = 100, 160 // over three seconds of each: across a loop of the file
	if err := viewer.got.waitFor(ctx, "video units and Opus packets", func(v [][][]byte, a [][]byte) bool {
		return len(v) >= wantVideo && len(a) >= wantAudio
	}); err != nil {
		t.Fatal(err)
	}
	gotV, gotA, _ := viewer.got.snapshot()
	if !isKeyframe(gotV[0]) {
		t.Errorf("the first video unit the viewer gets is not a keyframe")
	}
	sentV := looped(fileAUs(file.video), 20)
	if _, err := findRun(sentV, gotV, auEqual); err != nil {
		t.Errorf("WHEP video: %v", err)
	}
	checkOpusPackets(t, "WHEP audio", gotA)

	hv, ha, err := hls.waitUnits(ctx, wantVideo, wantAudio)
	if err != nil {
		t.Fatal(err)
	}
	vStart, err := findRun(sentV, units(hv), auEqual)
	if err != nil {
		t.Fatalf("HLS video: %v", err)
	}
	checkLoopTimes(t, "HLS video", hv, hls.videoRate, file.video, file.videoRate, file.videoLoop, vStart)
	aStart, err := findRun(looped(fileFrames(file.audio), 20), flatten(ha), bytes.Equal)
	if err != nil {
		t.Fatalf("HLS audio: %v", err)
	}
	checkLoopTimes(t, "HLS audio", ha, hls.audioRate, file.audio, file.audioRate, file.audioLoop, aStart)
	if hls.audioRate != 48000 {
		t.Errorf("HLS audio clock %d Hz, want the AAC sample rate 48000", hls.audioRate)
	}
	if st, ok := g.Registry().Get("live"); !ok || st.BFrames() {
		t.Errorf("stream flags B-frames on a baseline source (or is gone: %v)", ok)
	}
}

// TestRTMPBFrames: a source with B-frames keeps its presentation order in
// LL-HLS (DTS rising, PTS >= DTS, PTS steps as in the file), the stream is
// flagged, and WebRTC viewers are still served.
func TestRTMPBFrames(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	file := readFileMedia(t, rtmpBFramesFile)
	g, viewer, hls := watchRTMP(t, ctx, rtmpBFramesFile)
	hv, _, err := hls.waitUnits(ctx, 60, 0)
	if err != nil {
		t.Fatal(err)
	}
	start, err := findRun(looped(fileAUs(file.video), 20), units(hv), auEqual)
	if err != nil {
		t.Fatalf("HLS video: %v", err)
	}
	checkLoopTimes(t, "HLS video PTS", hv, hls.videoRate, file.video, file.videoRate, file.videoLoop, start)
	reordered := false
	for i := range hv {
		if i > 0 && hv[i].dts <= hv[i-1].dts {
			t.Fatalf("video DTS not rising at unit %d: %d after %d", i, hv[i].dts, hv[i-1].dts)
		}
		if hv[i].pts < hv[i].dts {
			t.Fatalf("video unit %d: PTS %d before DTS %d", i, hv[i].pts, hv[i].dts)
		}
		reordered = reordered || i > 0 && hv[i].pts < hv[i-1].pts
	}
	if !reordered {
		t.Errorf("no unit presented before its predecessor: the B-frames' order was lost")
	}
	st, ok := g.Registry().Get("live")
	if !ok || !st.BFrames() {
		t.Errorf("stream not flagged for B-frames (stream found: %v)", ok)
	}
	if err := viewer.got.waitFor(ctx, "WebRTC video", func(v [][][]byte, _ [][]byte) bool { return len(v) >= 30 }); err != nil {
		t.Fatal(err)
	}
}

// TestRTMPRefused: a wrong or missing token, a stream name that is not
// under /live, and codecs frontrow does not route are refused: ffmpeg exits
// with an error and no stream appears.
func TestRTMPRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	g := startGateway(t, withRTMP())
	lavfi := []string{"-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000", "-t", "5"}
	cases := []struct {
		name, stream string
		args         []string
	}{
		{"wrong token", "wrongtoken", []string{"-re", "-i", rtmpBaselineFile, "-c", "copy", "-f", "flv", rtmpURL(g, "wrongtoken", "not-the-token")}},
		{"no token", "notoken", []string{"-re", "-i", rtmpBaselineFile, "-c", "copy", "-f", "flv", rtmpURL(g, "notoken", "")}},
		{"other application", "live", []string{"-re", "-i", rtmpBaselineFile, "-c", "copy", "-f", "flv",
			strings.Replace(rtmpURL(g, "live", testToken), "/live/", "/app/", 1)}},
		{"Sorenson video", "flv1", append(slices.Clone(lavfi), "-c:v", "flv1", "-c:a", "aac", "-f", "flv", rtmpURL(g, "flv1", testToken))},
		{"MP3 audio", "mp3", append(slices.Clone(lavfi), "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libmp3lame", "-f", "flv", rtmpURL(g, "mp3", testToken))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := startFFmpeg(t, ctx, c.args...)
			if err := r.wait(ctx); err != nil {
				t.Fatal(err)
			}
			if r.err == nil {
				t.Errorf("ffmpeg exited 0; want a refused publish")
			}
			if _, ok := g.Registry().Get(c.stream); ok {
				t.Errorf("stream %q exists after a refused publish", c.stream)
			}
		})
	}
}

// TestRTMPReconnect: an encoder that drops and comes back within the grace
// period keeps a WHEP viewer receiving on the same connection, and the
// LL-HLS playlist marks the cut with its timing tags unchanged.
func TestRTMPReconnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	file := readFileMedia(t, rtmpBaselineFile)
	sentV := looped(fileAUs(file.video), 20)
	g := startGateway(t, withRTMP(), withGrace(10*time.Second))
	first := publishFile(t, ctx, g, rtmpBaselineFile, "live", testToken)
	if err := waitLive(ctx, g, "live", true); err != nil {
		t.Fatal(err)
	}
	viewer := newWHEPClient(t, clientAPI(t))
	if err := viewer.play(ctx, g.base, "live"); err != nil {
		t.Fatalf("play: %v", err)
	}
	if err := viewer.got.waitFor(ctx, "first frames", func(v [][][]byte, _ [][]byte) bool { return len(v) >= 30 }); err != nil {
		t.Fatal(err)
	}
	first.stop() // the encoder vanishes (killed: no FCUnpublish)
	if err := waitLive(ctx, g, "live", false); err != nil {
		t.Fatal(err)
	}
	if _, ok := g.Registry().Get("live"); !ok {
		t.Fatal("stream ended at once; want it kept for the grace period")
	}
	before, _, _ := viewer.got.snapshot()

	publishFile(t, ctx, g, rtmpBaselineFile, "live", testToken)
	if err := viewer.got.waitFor(ctx, "frames after reconnect", func(v [][][]byte, _ [][]byte) bool {
		return len(v) >= len(before)+30
	}); err != nil {
		t.Fatal(err)
	}
	if s := viewer.pc.ConnectionState(); s != webrtc.PeerConnectionStateConnected {
		t.Errorf("viewer connection is %s after the encoder came back", s)
	}
	gotV, _, _ := viewer.got.snapshot()
	after := gotV[len(before):]
	checkResumed(t, after, sentV)
	checkHLSDiscontinuity(t, ctx, g, "live")
}

// TestRTMPBadInput: while a stream is live, garbage on the RTMP port, a
// client that stops in the middle of a chunk, a second publisher for the
// stream and an unsupported codec are dealt with, and the viewer keeps
// receiving the stream as it was.
func TestRTMPBadInput(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	file := readFileMedia(t, rtmpBaselineFile)
	g := startGateway(t, withRTMP())
	publishFile(t, ctx, g, rtmpBaselineFile, "live", testToken)
	if err := waitLive(ctx, g, "live", true); err != nil {
		t.Fatal(err)
	}
	viewer := newWHEPClient(t, clientAPI(t))
	if err := viewer.play(ctx, g.base, "live"); err != nil {
		t.Fatalf("play: %v", err)
	}
	if err := viewer.got.waitFor(ctx, "first frames", func(v [][][]byte, _ [][]byte) bool { return len(v) >= 15 }); err != nil {
		t.Fatal(err)
	}
	addr := g.RTMPAddr().String()

	// Not RTMP at all: closed at once.
	httpConn := dialRTMP(t, ctx, addr)
	if _, err := httpConn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if err := waitClosedByPeer(ctx, httpConn); err != nil {
		t.Errorf("HTTP request on the RTMP port: %v", err)
	}
	// An RTMP version byte, then noise through the handshake and beyond.
	noise := make([]byte, 16*1024)
	_, _ = rand.Read(noise)
	noise[0] = 3
	noiseConn := dialRTMP(t, ctx, addr)
	_, _ = noiseConn.Write(noise)
	// A client that completes the handshake, then stops inside a chunk: a
	// type-0 header on chunk stream 3 announcing a 1000-byte command, 10
	// bytes of which come. It holds its own goroutine only.
	stalled := dialRTMP(t, ctx, addr)
	if _, _, err := handshake.DoClient(stalled, false, false); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	half := []byte{0x03, 0, 0, 0, 0x00, 0x03, 0xE8, 20, 0, 0, 0, 0}
	if _, err := stalled.Write(append(half, make([]byte, 10)...)); err != nil {
		t.Fatal(err)
	}
	// A second publisher for the live stream, and one with a codec
	// frontrow does not route: both refused.
	second := publishFile(t, ctx, g, rtmpBaselineFile, "live", testToken)
	flv1 := startFFmpeg(t, ctx, "-re", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30", "-t", "5",
		"-c:v", "flv1", "-f", "flv", rtmpURL(g, "other", testToken))
	for _, r := range []*ffmpegRun{second, flv1} {
		if err := r.wait(ctx); err != nil {
			t.Fatal(err)
		}
		if r.err == nil {
			t.Errorf("a refused ffmpeg exited 0 (%s)", strings.Join(r.cmd.Args, " "))
		}
	}
	if _, ok := g.Registry().Get("other"); ok {
		t.Errorf("a stream with an unsupported codec was published")
	}

	before, _, _ := viewer.got.snapshot()
	if err := viewer.got.waitFor(ctx, "frames after the bad input", func(v [][][]byte, _ [][]byte) bool {
		return len(v) >= len(before)+45
	}); err != nil {
		t.Fatal(err)
	}
	gotV, _, _ := viewer.got.snapshot()
	if _, err := findRun(looped(fileAUs(file.video), 20), gotV, auEqual); err != nil {
		t.Errorf("viewer's video is not the first publisher's, unbroken: %v", err)
	}
	if st, ok := g.Registry().Get("live"); !ok || !st.Live() {
		t.Errorf("the first publisher lost its stream")
	}
}

func dialRTMP(t testing.TB, ctx context.Context, addr string) net.Conn {
	t.Helper()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// waitClosedByPeer reads until the server closes the connection.
func waitClosedByPeer(ctx context.Context, c net.Conn) error {
	deadline, _ := ctx.Deadline()
	_ = c.SetReadDeadline(deadline)
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return errors.New("connection still open")
			}
			return nil
		}
	}
}

// forwardProbe is an in-process viewer of the stream: for each video packet
// it notes how long after its RTMP frame's arrival the stream handed it to
// viewers, keyed by the sequence number every viewer sends it with.
type forwardProbe struct {
	mu      sync.Mutex
	arrival map[uint16]time.Time
	handoff map[uint16]time.Duration
}

func (p *forwardProbe) WritePacket(kind packager.Kind, pkt *stream.Packet) {
	if kind != packager.KindVideo {
		return
	}
	d := time.Since(pkt.Arrival)
	p.mu.Lock()
	p.arrival[pkt.Header.SequenceNumber] = pkt.Arrival
	p.handoff[pkt.Header.SequenceNumber] = d
	p.mu.Unlock()
}

func (p *forwardProbe) StreamEnded() {}

// BenchmarkRTMPForward measures the delay from an RTMP frame's arrival (its
// message read off the socket) to its RTP packets leaving for a viewer:
// "handoff" is until the stream hands the frame's last packet to the
// viewers' queues (RTP packetized once, for all), "received" until a pion
// WHEP viewer on loopback has read that packet (the viewer's queue, SRTP,
// UDP and pion's receive path included: an upper bound for "leaving").
// One op is one video frame; run with -benchtime=300x for 10 s of video:
//
//	go test ./e2e -run '^$' -bench RTMPForward -benchtime=300x
func BenchmarkRTMPForward(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	g := startGateway(b, withRTMP())
	publishFile(b, ctx, g, rtmpBaselineFile, "live", testToken)
	if err := waitLive(ctx, g, "live", true); err != nil {
		b.Fatal(err)
	}
	st, _ := g.Registry().Get("live")
	probe := &forwardProbe{arrival: map[uint16]time.Time{}, handoff: map[uint16]time.Duration{}}
	unsubscribe, err := st.Subscribe(probe)
	if err != nil {
		b.Fatal(err)
	}
	defer unsubscribe()

	viewer := newWHEPClient(b, clientAPI(b))
	type frameEnd struct {
		seq uint16
		at  time.Time
	}
	ends := make(chan frameEnd, 1024)
	viewer.pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			at := time.Now()
			if tr.Kind() == webrtc.RTPCodecTypeVideo && pkt.Marker {
				select {
				case ends <- frameEnd{pkt.SequenceNumber, at}:
				default:
				}
			}
		}
	})
	if err := viewer.play(ctx, g.base, "live"); err != nil {
		b.Fatal(err)
	}
	var handoff, received []time.Duration
	b.ResetTimer()
	for len(received) < b.N {
		select {
		case e := <-ends:
			probe.mu.Lock()
			arr, ok := probe.arrival[e.seq]
			h := probe.handoff[e.seq]
			probe.mu.Unlock()
			if ok {
				handoff = append(handoff, h)
				received = append(received, e.at.Sub(arr))
			}
		case <-ctx.Done():
			b.Fatal("no frames")
		}
	}
	b.StopTimer()
	reportDurations(b, "handoff", handoff)
	reportDurations(b, "received", received)
}
