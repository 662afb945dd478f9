package rtc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/transport/v4/stdnet"
	"github.com/pion/webrtc/v4"
)

// ICE timing for every session: a peer that stops answering consent checks
// (RFC 7675) is disconnected after half of Config.DisconnectTimeout and torn
// down (ICE failed) after all of it, so a vanished viewer or publisher costs
// nothing for long.
const (
	// DefaultDisconnectTimeout is Config.DisconnectTimeout when zero.
	DefaultDisconnectTimeout = 10 * time.Second
	// DefaultPublishBitrate is Config.PublishBitrate when zero, kbit/s:
	// Chromium's own ceiling for 720p and above.
	DefaultPublishBitrate = 2500
	iceKeepalive          = 2 * time.Second
)

// iceTimeouts are the pion ICE timeouts for a disconnect timeout:
// disconnected at d/2 and failed at d, and keepalives (consent checks) often
// enough that a live peer is never taken for gone. pion counts its failed
// timeout from the moment the disconnected one ran out (ice/v4 agent.go,
// validateSelectedPair), so failed is the rest of d, not d.
func iceTimeouts(d time.Duration) (disconnected, failed, keepalive time.Duration) {
	if d <= 0 {
		d = DefaultDisconnectTimeout
	}
	return d / 2, d - d/2, min(iceKeepalive, d/4)
}

// Config says where the WebRTC tier listens and what it advertises.
type Config struct {
	// UDPAddr is the one UDP address every ICE session shares (ICE UDP mux).
	UDPAddr string
	// TCPAddr is the TCP address of passive ICE-TCP (RFC 6544) for viewers
	// whose networks drop UDP; empty leaves it off.
	TCPAddr string
	// Hosts are the IPs or names advertised as host candidates; empty means
	// the machine's interfaces.
	Hosts []string
	// DisconnectTimeout is how long a session whose peer stopped answering
	// ICE consent checks lives on before it is closed (ICE failed); it is
	// counted disconnected after half of it. DefaultDisconnectTimeout if zero.
	DisconnectTimeout time.Duration
	// PublishBitrate (kbit/s) is what a browser publisher sends at from
	// its first second: its start estimate and ceiling (see
	// WithPublishBitrate); congestion feedback lowers it on a weaker path.
	// DefaultPublishBitrate if zero; negative leaves the browser's own
	// (300 kbit/s at first).
	PublishBitrate int
	Logger         *slog.Logger
}

// Engine is the WebRTC tier's shared machinery: one UDP socket, the pion
// API the publishers' PeerConnections are built with, and the routes of
// the viewers' lean connections (gateway/peer) on the same socket.
type Engine struct {
	// Publish builds WHIP publishers' peer connections: receive only, with
	// NACK generation, receiver reports and transport-wide congestion
	// feedback toward the publisher.
	Publish *webrtc.API

	conn           net.PacketConn
	mux            *udpMux
	publishBitrate int
	hosts          []string      // advertised host IPs; empty: the interfaces'
	disconnect     time.Duration // Config.DisconnectTimeout, defaulted
	tcp            *tcpMux       // nil when ICE-TCP is off
}

// New opens the UDP port (and the ICE-TCP one) and builds the publishers'
// API.
func New(cfg Config) (*Engine, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	conn, err := net.ListenPacket("udp", cfg.UDPAddr)
	if err != nil {
		return nil, fmt.Errorf("webrtc: listen udp %s: %w", cfg.UDPAddr, err)
	}
	hosts, err := resolveHosts(cfg.Hosts)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	disconnected, failed, keepalive := iceTimeouts(cfg.DisconnectTimeout)
	loopback := isLoopbackAddr(conn.LocalAddr())
	for _, h := range hosts {
		loopback = loopback || net.ParseIP(h).IsLoopback()
	}
	// Our mux, not pion's ice.UDPMuxDefault: see udpMux for why.
	e := &Engine{conn: conn, mux: newUDPMux(conn, loopback, cfg.Logger), publishBitrate: cfg.PublishBitrate}
	if e.publishBitrate == 0 {
		e.publishBitrate = DefaultPublishBitrate
	}
	e.hosts, e.disconnect = hosts, disconnected+failed
	if cfg.TCPAddr != "" {
		ln, err := net.Listen("tcp", cfg.TCPAddr)
		if err != nil {
			_ = e.Close()
			return nil, fmt.Errorf("webrtc: listen tcp %s: %w", cfg.TCPAddr, err)
		}
		e.tcp = newTCPMux(ln, e.mux.tcpHandler, tcpFirstFrameTimeout, cfg.Logger)
	}
	// One view of the interfaces for every session: without it each ICE
	// agent lists them anew (a netlink dump, ~9 KiB kept per viewer). The
	// sessions only read it: continual gathering, which refreshes it, is off.
	shared, err := stdnet.NewNet()
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("webrtc: network interfaces: %w", err)
	}
	settings := func() webrtc.SettingEngine {
		var s webrtc.SettingEngine
		s.SetNet(shared)
		s.SetICEUDPMux(e.mux)
		s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
		s.SetIncludeLoopbackCandidate(loopback)
		s.SetICETimeouts(disconnected, failed, keepalive)
		s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
		if e.tcp != nil {
			// Publishers on networks that drop UDP reach the same passive
			// ICE-TCP port as viewers.
			s.SetICETCPMux(pionTCPMux{e.tcp})
			s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6,
				webrtc.NetworkTypeTCP4, webrtc.NetworkTypeTCP6})
		}
		// Answer actpass offers as the DTLS server (a=setup:passive), as
		// WHIP and WHEP clients expect (RFC 9725 section 4.2).
		_ = s.SetAnsweringDTLSRole(webrtc.DTLSRoleServer)
		if len(hosts) > 0 {
			s.SetNAT1To1IPs(hosts, webrtc.ICECandidateTypeHost)
		}
		return s
	}
	if e.Publish, err = buildAPI(settings(), publishInterceptors); err != nil {
		_ = e.Close()
		return nil, err
	}
	return e, nil
}

func buildAPI(s webrtc.SettingEngine, interceptors func(*webrtc.MediaEngine, *interceptor.Registry) error) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := registerCodecs(m); err != nil {
		return nil, fmt.Errorf("webrtc: register codecs: %w", err)
	}
	reg := &interceptor.Registry{}
	if err := interceptors(m, reg); err != nil {
		return nil, fmt.Errorf("webrtc: interceptors: %w", err)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s)), nil
}

// publishInterceptors ask the publisher to resend lost packets (RFC 4585
// generic NACK), report reception (RFC 3550 RR) and send transport-wide
// congestion feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01):
// without it a browser falls back to its loss-based estimate and starts at
// 300 kbit/s, climbing 8 % a second. The answer then carries transport-cc
// feedback and the transport-wide sequence number extension for audio and
// video; OBS, which sends at a fixed rate, offers neither and is unaffected.
func publishInterceptors(m *webrtc.MediaEngine, r *interceptor.Registry) error {
	if err := webrtc.ConfigureTWCCSender(m, r); err != nil {
		return err
	}
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return err
	}
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return err
	}
	r.Add(gen)
	r.Add(rr)
	return nil
}

// PublishAnswer is a publisher's answer as the engine sends it: told its
// bitrate (Config.PublishBitrate).
func (e *Engine) PublishAnswer(answer []byte) ([]byte, error) {
	return WithPublishBitrate(answer, e.publishBitrate)
}

// SendStats are the shared socket's send totals.
func (e *Engine) SendStats() SendStats { return e.mux.SendStats() }

// LocalAddr is the UDP address ICE listens on.
func (e *Engine) LocalAddr() net.Addr { return e.conn.LocalAddr() }

// Close releases the UDP port. Sessions should be closed first.
func (e *Engine) Close() error {
	var errs []error
	if e.tcp != nil {
		errs = append(errs, e.tcp.close())
	}
	if e.mux != nil {
		errs = append(errs, e.mux.Close())
	}
	if err := e.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func resolveHosts(hosts []string) ([]string, error) {
	var out []string
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			out = append(out, ip.String())
			continue
		}
		ips, err := net.LookupIP(h)
		if err != nil || len(ips) == 0 {
			return nil, fmt.Errorf("webrtc.hosts: resolve %q: %v", h, err)
		}
		out = append(out, ips[0].String())
	}
	return out, nil
}

func isLoopbackAddr(a net.Addr) bool {
	u, ok := a.(*net.UDPAddr)
	return ok && u.IP.IsLoopback()
}
