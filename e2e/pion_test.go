package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/frontrow-live/frontrow/packager"
)

// clientAPI is a pion peer as a browser-like client would be: H264
// constrained baseline and Opus, the default interceptors (NACK, reports),
// ICE on 127.0.0.1 only and no mDNS.
func clientAPI(t testing.TB) *webrtc.API { return clientAPIWith(t, nil) }

// clientAPIWith is clientAPI with extra settings.
func clientAPIWith(t testing.TB, tweak func(*webrtc.SettingEngine)) *webrtc.API {
	t.Helper()
	return clientAPIInterceptors(t, webrtc.RegisterDefaultInterceptors, tweak)
}

// clientAPIInterceptors is clientAPIWith with the interceptors register
// sets up instead of pion's defaults.
func clientAPIInterceptors(t testing.TB, register func(*webrtc.MediaEngine, *interceptor.Registry) error, tweak func(*webrtc.SettingEngine)) *webrtc.API {
	t.Helper()
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: fb,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}, PayloadType: 109}, webrtc.RTPCodecTypeVideo); err != nil {
		t.Fatal(err)
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
	}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := register(m, reg); err != nil {
		t.Fatal(err)
	}
	var s webrtc.SettingEngine
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIncludeLoopbackCandidate(true)
	s.SetIPFilter(func(ip net.IP) bool { return ip.Equal(net.IPv4(127, 0, 0, 1)) })
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if tweak != nil {
		tweak(&s)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s))
}

// offerAndPost completes ICE gathering, POSTs the offer and applies the answer.
func offerAndPost(ctx context.Context, pc *webrtc.PeerConnection, url, token string) (location string, err error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	resp, err := postSDP(ctx, url, token, pc.LocalDescription().SDP)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated {
		return "", &statusErr{code: resp.StatusCode, body: string(body)}
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		return "", err
	}
	return resp.Header.Get("Location"), nil
}

type statusErr struct {
	code int
	body string
}

func (e *statusErr) Error() string {
	return fmt.Sprintf("status %d: %s", e.code, strings.TrimSpace(e.body))
}

func postSDP(ctx context.Context, url, token, sdp string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(sdp))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return http.DefaultClient.Do(req)
}

// waitConnected waits for the peer connection to connect.
func waitConnected(ctx context.Context, pc *webrtc.PeerConnection) error {
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	if pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		return nil
	}
	select {
	case <-connected:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("peer connection not connected (state %s): %w", pc.ConnectionState(), ctx.Err())
	}
}

// whipClient is a pion WHIP publisher; it is a demo.Sink, so the demo source
// plays the test file through it. Every packet it sends is recorded.
type whipClient struct {
	pc           *webrtc.PeerConnection
	video, audio *webrtc.TrackLocalStaticRTP
	location     string
	sent         *recorder
	pliCh        chan struct{} // gets a token per keyframe request the gateway sends (never blocks)
}

func newWHIPClient(t testing.TB, api *webrtc.API) *whipClient {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &whipClient{pc: pc, sent: newRecorder(), pliCh: make(chan struct{}, 1)}
	c.video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "pub")
	if err != nil {
		t.Fatal(err)
	}
	c.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "pub")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range []*webrtc.TrackLocalStaticRTP{c.video, c.audio} {
		if _, err := pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
			t.Fatal(err)
		}
	}
	// Drain RTCP so the interceptors (NACK responder, reports) keep
	// working, and count the keyframe requests.
	for _, s := range pc.GetSenders() {
		go func() {
			for {
				pkts, _, err := s.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					switch p.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						select {
						case c.pliCh <- struct{}{}:
						default:
						}
					}
				}
			}
		}()
	}
	t.Cleanup(func() { _ = pc.Close() })
	return c
}

// publish POSTs the offer to /whip/{stream} and waits for the connection.
func (c *whipClient) publish(ctx context.Context, base, stream, token string) error {
	loc, err := offerAndPost(ctx, c.pc, base+"/whip/"+stream, token)
	if err != nil {
		return err
	}
	c.location = loc
	return waitConnected(ctx, c.pc)
}

// WriteRTP sends one packet and records it.
func (c *whipClient) WriteRTP(kind packager.Kind, pkt *rtp.Packet, _ time.Time) error {
	c.sent.add(kind, pkt)
	if kind == packager.KindVideo {
		return c.video.WriteRTP(pkt)
	}
	return c.audio.WriteRTP(pkt)
}

// WriteSenderReport does nothing: pion's report interceptor sends the real SRs.
func (c *whipClient) WriteSenderReport(packager.Kind, time.Time, uint32) {}

// whepClient is a pion WHEP viewer that reassembles what it receives.
type whepClient struct {
	pc       *webrtc.PeerConnection
	location string
	got      *recorder
	postedAt time.Time
}

func newWHEPClient(t testing.TB, api *webrtc.API) *whepClient {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c := &whepClient{pc: pc, got: newRecorder()}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		kind := packager.KindAudio
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			kind = packager.KindVideo
		}
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			c.got.add(kind, pkt)
		}
	})
	t.Cleanup(func() { _ = pc.Close() })
	return c
}

func (c *whepClient) play(ctx context.Context, base, stream string) error {
	c.postedAt = time.Now()
	loc, err := offerAndPost(ctx, c.pc, base+"/whep/"+stream, "")
	if err != nil {
		return err
	}
	c.location = loc
	return nil
}

// recorder collects the RTP a client sent or received and rebuilds access
// units from it: H264 with pion's sample builder (reordering, dropping
// incomplete units), Opus as one packet per unit.
type recorder struct {
	mu      sync.Mutex
	sb      *samplebuilder.SampleBuilder
	video   [][][]byte // access units as NAL unit lists
	videoTS []uint32   // RTP timestamp of each video unit
	audio   [][]byte
	audioTS []uint32
	changed chan struct{} // closed and replaced on every new unit
	firstAt time.Time     // when the first video unit completed
	// keyTS and keyAt track the first keyframe: keyAt is when its last
	// packet (marker bit) arrived, the moment a decoder could show it.
	keyTS    uint32
	keySeen  bool
	keyAt    time.Time
	keyReady chan struct{}
}

func newRecorder() *recorder {
	return &recorder{
		sb:       samplebuilder.New(512, &codecs.H264Packet{IsAVC: true}, 90000),
		changed:  make(chan struct{}),
		keyReady: make(chan struct{}),
	}
}

func (r *recorder) add(kind packager.Kind, pkt *rtp.Packet) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if kind == packager.KindAudio {
		r.audio = append(r.audio, bytes.Clone(pkt.Payload))
		r.audioTS = append(r.audioTS, pkt.Timestamp)
		r.notify()
		return
	}
	if !r.keySeen && payloadStartsIDR(pkt.Payload) {
		r.keySeen, r.keyTS = true, pkt.Timestamp
	}
	if r.keySeen && r.keyAt.IsZero() && pkt.Marker && pkt.Timestamp == r.keyTS {
		r.keyAt = time.Now()
		close(r.keyReady)
	}
	r.sb.Push(pkt.Clone())
	for s := r.sb.Pop(); s != nil; s = r.sb.Pop() {
		var au h264.AVCC
		if err := au.Unmarshal(s.Data); err != nil {
			continue
		}
		if len(r.video) == 0 {
			r.firstAt = time.Now()
		}
		r.video = append(r.video, au)
		r.videoTS = append(r.videoTS, s.PacketTimestamp)
		r.notify()
	}
}

func (r *recorder) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// snapshot returns copies of the units so far and a channel closed on the next one.
func (r *recorder) snapshot() (video [][][]byte, audio [][]byte, changed <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][][]byte(nil), r.video...), append([][]byte(nil), r.audio...), r.changed
}

// firstVideoAt is when the first video unit was complete.
func (r *recorder) firstVideoAt() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.firstAt
}

// timestamps returns the RTP timestamps of the units so far.
func (r *recorder) timestamps() (video, audio []uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]uint32(nil), r.videoTS...), append([]uint32(nil), r.audioTS...)
}

// waitFor waits until cond holds for the recorded units, or ctx ends.
func (r *recorder) waitFor(ctx context.Context, what string, cond func(video [][][]byte, audio [][]byte) bool) error {
	for {
		v, a, changed := r.snapshot()
		if cond(v, a) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s (have %d video, %d audio units): %w", what, len(v), len(a), ctx.Err())
		}
	}
}

// isKeyframe reports whether an access unit holds an IDR.
func isKeyframe(au [][]byte) bool { return h264.IsRandomAccess(au) }

// del sends DELETE to a session URL and checks the status.
func del(t testing.TB, ctx context.Context, url, token string, want int) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("DELETE %s: status %d, want %d", url, resp.StatusCode, want)
	}
}

// offerSDP makes an offer with one video and one audio section in the given
// direction ("sendonly" to publish, "recvonly" to play) and full candidates.
func offerSDP(t testing.TB, api *webrtc.API, direction string) string {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	dir := webrtc.NewRTPTransceiverDirection(direction)
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
			t.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	return pc.LocalDescription().SDP
}

// payloadStartsIDR reports whether an H264 RTP payload begins an access unit
// with an IDR or its parameter sets (RFC 6184: single NAL, STAP-A, FU-A).
func payloadStartsIDR(p []byte) bool {
	if len(p) < 2 {
		return false
	}
	key := func(t byte) bool { return t == 5 || t == 7 || t == 8 }
	switch t := p[0] & 0x1F; t {
	case 24:
		return len(p) > 3 && key(p[3]&0x1F)
	case 28:
		return p[1]&0x80 != 0 && key(p[1]&0x1F)
	default:
		return key(t)
	}
}
