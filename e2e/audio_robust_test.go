package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/gateway/demo"
	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
	"github.com/frontrow-live/frontrow/testdata"
)

// waitBridge polls the stream's audio bridge figures until cond holds.
func waitBridge(ctx context.Context, g *gateway, name string, cond func(stream.AudioBridge) bool) (stream.AudioBridge, error) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		var b stream.AudioBridge
		if s, ok := g.Registry().Get(name); ok {
			b = s.AudioBridge()
			if cond(b) {
				return b, nil
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return b, fmt.Errorf("audio bridge of %q is %+v: %w", name, b, ctx.Err())
		}
	}
}

// corruptAudio copies an MP4 with the given audio samples (1-based)
// overwritten in place by a pattern no AAC decoder takes.
func corruptAudio(t *testing.T, path string, samples ...uint32) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, trak := range f.Moov.Traks {
		if trak.Mdia.Hdlr.HandlerType != "soun" {
			continue
		}
		for _, nr := range samples {
			r, err := trak.GetRangesForSampleInterval(nr, nr)
			if err != nil {
				t.Fatal(err)
			}
			b := data[r[0].Offset : r[0].Offset+r[0].Size]
			for i := range b {
				b[i] = []byte{0xde, 0xad, 0xbe, 0xef}[i%4]
			}
		}
	}
	out := filepath.Join(t.TempDir(), "corrupt.mp4")
	if err := os.WriteFile(out, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAudioCorruptAAC: an RTMP encoder sends three AAC frames that do not
// decode. Each costs itself: counted, its 23 ms silent in the WebRTC tier,
// whose Opus runs on without a break in its timestamps; the video and the
// stream go on, and the HLS tier gets the AAC as it came.
func TestAudioCorruptAAC(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	file := readFileMedia(t, sineFile)
	// Frames 100, 101 (2.32 s) and 160 (3.70 s), counted from 1 in the file.
	corrupt := corruptAudio(t, sineFile, 101, 102, 161)
	g := startGateway(t, withRTMP())
	startFFmpeg(t, ctx, "-re", "-i", corrupt, "-c", "copy", "-f", "flv", rtmpURL(g, "bad", testToken))
	if err := waitLive(ctx, g, "bad", true); err != nil {
		t.Fatal(err)
	}
	viewer := newWHEPClient(t, clientAPI(t))
	if err := viewer.play(ctx, g.base, "bad"); err != nil {
		t.Fatalf("play: %v", err)
	}
	b, err := waitBridge(ctx, g, "bad", func(b stream.AudioBridge) bool { return b.Corrupt >= 3 })
	if err != nil {
		t.Fatal(err)
	}
	// A second of video after the last corrupt frame.
	after := file.video[150].data
	if err := viewer.got.waitFor(ctx, "video a second after the corrupt frames", func(v [][][]byte, _ [][]byte) bool {
		return slices.ContainsFunc(v, func(au [][]byte) bool { return auEqual(au, after) })
	}); err != nil {
		t.Fatal(err)
	}
	b, _ = waitBridge(ctx, g, "bad", func(stream.AudioBridge) bool { return true })
	t.Logf("bridge: %+v", b.Stats)
	if b.Corrupt != 3 || b.Filled != 2 || b.Restarts != 0 || b.Dropped != 0 {
		t.Errorf("bridge %+v, want exactly the 3 corrupt frames counted, in 2 holes filled", b.Stats)
	}
	gotV, gotA, _ := viewer.got.snapshot()
	if _, err := findRun(fileAUs(file.video), gotV, auEqual); err != nil {
		t.Errorf("WHEP video is not the file's, unbroken: %v", err)
	}
	checkOpusPackets(t, "WHEP audio", gotA)
	_, ts := viewer.got.timestamps()
	for i := 1; i < len(ts); i++ {
		if d := ts[i] - ts[i-1]; d != 960 {
			t.Fatalf("WHEP Opus packet %d is %d ticks after the previous, want 960: the audio broke off", i, d)
		}
	}
	if st, ok := g.Registry().Get("bad"); !ok || !st.Live() {
		t.Error("the stream did not survive its corrupt audio")
	}
}

// corruptOpus is a demo.Sink that replaces the payloads of the given audio
// packets (counted from 0) with packets no Opus decoder takes (RFC 6716
// section 3.4: R2, a code 3 packet without its frame count; R5, more than
// 120 ms of frames).
type corruptOpus struct {
	*whipClient
	bad  map[int][]byte
	seen int
}

func (c *corruptOpus) WriteRTP(kind packager.Kind, pkt *rtp.Packet, at time.Time) error {
	if kind == packager.KindAudio {
		if p, ok := c.bad[c.seen]; ok {
			pkt = &rtp.Packet{Header: pkt.Header, Payload: p}
		}
		c.seen++
	}
	return c.whipClient.WriteRTP(kind, pkt, at)
}

// TestAudioCorruptOpus: a WHIP publisher sends three Opus packets that do
// not decode. Each costs itself: counted, its 20 ms silent in the HLS tier's
// AAC, which runs on frame after frame; the video goes on.
func TestAudioCorruptOpus(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	src, err := demo.NewSource(bytes.NewReader(testdata.DemoMP4))
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t)
	pub := newWHIPClient(t, clientAPI(t))
	if err := pub.publish(ctx, g.base, "bad", testToken); err != nil {
		t.Fatalf("publish: %v", err)
	}
	// At 3.0, 3.02 and 3.5 s: after the audio clock's sync (2 s at the latest).
	sink := &corruptOpus{whipClient: pub, bad: map[int][]byte{150: {0x03}, 151: {0xff, 0x00}, 175: {0x03}}}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = src.Run(runCtx, sink)
	}()
	t.Cleanup(func() { stop(); <-done })
	hls := readHLS(t, g.base+"/hls/bad/index.m3u8")
	if _, err := waitBridge(ctx, g, "bad", func(b stream.AudioBridge) bool { return b.Corrupt >= 3 }); err != nil {
		t.Fatal(err)
	}
	// A second of both tracks after the corrupt packets.
	v0, a0, err := hls.waitFor(ctx, "HLS media at the time the packets were counted", func(v, a []hlsUnit) bool { return len(v) > 0 && len(a) > 0 })
	if err != nil {
		t.Fatal(err)
	}
	hv, ha, err := hls.waitFor(ctx, "a second more of HLS", func(v, a []hlsUnit) bool {
		return len(v) >= len(v0)+30 && seconds(a[len(a)-1].pts, hls.audioRate) >= seconds(a0[len(a0)-1].pts, hls.audioRate)+time.Second
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := waitBridge(ctx, g, "bad", func(stream.AudioBridge) bool { return true })
	t.Logf("bridge: %+v; HLS %d video, %d AAC units", b.Stats, len(hv), len(ha))
	if b.Corrupt != 3 || b.Filled != 2 || b.Restarts != 0 || b.Dropped != 0 {
		t.Errorf("bridge %+v, want exactly the 3 corrupt packets counted, in 2 holes filled", b.Stats)
	}
	checkAACTier(t, hls, ha)
	for i := 1; i < len(hv); i++ {
		if hv[i].dts <= hv[i-1].dts {
			t.Fatalf("HLS video DTS not rising at unit %d", i)
		}
	}
	if st, ok := g.Registry().Get("bad"); !ok || !st.Live() {
		t.Error("the stream did not survive its corrupt audio")
	}
}
