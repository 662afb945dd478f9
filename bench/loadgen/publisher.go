package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/gateway/demo"
	"github.com/frontrow-live/frontrow/packager"
)

// PublisherConfig says what to publish where.
type PublisherConfig struct {
	URL    string // WHIP endpoint, e.g. http://127.0.0.1:8080/whip/bench
	Token  string // publish token, sent as a Bearer token
	MP4    []byte // H264 + Opus file, played in real time and looped
	BindIP string // the one local IP ICE uses; default 127.0.0.1
	// HTTPClient posts the offer; default http.DefaultClient.
	HTTPClient *http.Client
}

// Publisher is a pion WHIP client that plays a file into the gateway as an
// encoder would: real time, looping, answering NACKs and sending SRs.
type Publisher struct {
	pc           *webrtc.PeerConnection
	video, audio *webrtc.TrackLocalStaticRTP
	client       *http.Client
	resource     string
	token        string
	src          *demo.Source // answers the gateway's keyframe requests

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// Publish connects to the WHIP endpoint and starts playing the file; it
// returns once the peer connection is up.
func Publish(ctx context.Context, cfg PublisherConfig) (*Publisher, error) {
	if cfg.BindIP == "" {
		cfg.BindIP = "127.0.0.1"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	src, err := demo.NewSource(bytes.NewReader(cfg.MP4))
	if err != nil {
		return nil, fmt.Errorf("loadgen: publisher: %w", err)
	}
	api, err := publisherAPI(net.ParseIP(cfg.BindIP))
	if err != nil {
		return nil, fmt.Errorf("loadgen: publisher: %w", err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("loadgen: publisher: %w", err)
	}
	p := &Publisher{pc: pc, client: cfg.HTTPClient, token: cfg.Token, src: src}
	if err := p.addTracks(); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("loadgen: publisher: %w", err)
	}
	if err := p.connect(ctx, cfg); err != nil {
		_ = pc.Close()
		return nil, fmt.Errorf("loadgen: publisher: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = src.Run(runCtx, p) // ends with runCtx or a failed write; Close reports the connection's fate
	}()
	return p, nil
}

func publisherAPI(ip net.IP) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeH264, ClockRate: 90000, RTCPFeedback: fb,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	}, PayloadType: 102}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
	}, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	var s webrtc.SettingEngine
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetIncludeLoopbackCandidate(ip.IsLoopback())
	s.SetIPFilter(func(candidate net.IP) bool { return candidate.Equal(ip) })
	nt := webrtc.NetworkTypeUDP4
	if ip.To4() == nil {
		nt = webrtc.NetworkTypeUDP6
	}
	s.SetNetworkTypes([]webrtc.NetworkType{nt})
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s)), nil
}

func (p *Publisher) addTracks() error {
	var err error
	p.video, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "loadgen")
	if err != nil {
		return err
	}
	p.audio, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "loadgen")
	if err != nil {
		return err
	}
	for _, tr := range []*webrtc.TrackLocalStaticRTP{p.video, p.audio} {
		sender, err := p.pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return err
		}
		// Read RTCP so the interceptors (NACK responder, reports) run, and
		// answer keyframe requests with a keyframe as an encoder would.
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				pkts, _, err := sender.Sender().ReadRTCP()
				if err != nil {
					return
				}
				for _, pkt := range pkts {
					switch pkt.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						p.src.RequestKeyframe()
					}
				}
			}
		}()
	}
	return nil
}

// connect gathers candidates, POSTs the offer and waits for the connection.
func (p *Publisher) connect(ctx context.Context, cfg PublisherConfig) error {
	connected := make(chan struct{})
	var once sync.Once
	p.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	offer, err := p.pc.CreateOffer(nil)
	if err != nil {
		return fmt.Errorf("create offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(offer); err != nil {
		return fmt.Errorf("set offer: %w", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return fmt.Errorf("gather candidates: %w", ctx.Err())
	}
	answer, location, err := postOffer(ctx, p.client, cfg.URL, cfg.Token, p.pc.LocalDescription().SDP)
	if err != nil {
		return err
	}
	p.resource = location
	if err := p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return fmt.Errorf("set answer: %w", err)
	}
	select {
	case <-connected:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("connect (state %s): %w", p.pc.ConnectionState(), ctx.Err())
	}
}

// postOffer POSTs an SDP offer (WHIP or WHEP) and returns the answer and
// the session resource's absolute URL.
func postOffer(ctx context.Context, client *http.Client, endpoint, token, offer string) (answer, resource string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(offer))
	if err != nil {
		return "", "", fmt.Errorf("post offer: %w", err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("post offer: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", "", fmt.Errorf("post offer: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return "", "", fmt.Errorf("post offer: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	loc, err := resp.Location()
	if err != nil {
		return "", "", fmt.Errorf("post offer: no session resource: %w", err)
	}
	return string(body), loc.String(), nil
}

// deleteResource ends a WHIP or WHEP session (a 404 means it is gone already).
func deleteResource(client *http.Client, resource, token string) error {
	if _, err := url.Parse(resource); err != nil || resource == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, resource, nil)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("delete session: %s", resp.Status)
	}
	return nil
}

// WriteRTP sends one packet of the file (demo.Sink).
func (p *Publisher) WriteRTP(kind packager.Kind, pkt *rtp.Packet, _ time.Time) error {
	if kind == packager.KindVideo {
		return p.video.WriteRTP(pkt)
	}
	return p.audio.WriteRTP(pkt)
}

// WriteSenderReport does nothing: pion's report interceptor sends the SRs.
func (p *Publisher) WriteSenderReport(packager.Kind, time.Time, uint32) {}

// Close stops playing, DELETEs the session and closes the connection. Idempotent.
func (p *Publisher) Close() error {
	p.closeOnce.Do(func() {
		p.cancel()
		errs := []error{deleteResource(p.client, p.resource, p.token)}
		if err := p.pc.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close peer connection: %w", err))
		}
		p.wg.Wait()
		if err := errors.Join(errs...); err != nil {
			p.closeErr = fmt.Errorf("loadgen: publisher: %w", err)
		}
	})
	return p.closeErr
}
