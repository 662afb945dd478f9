package peer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/fingerprint"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/frontrow-live/frontrow/gateway/rtc"
)

const (
	// defaultDisconnectTimeout is Config.DisconnectTimeout when zero.
	defaultDisconnectTimeout = 10 * time.Second
	// maxPacket is the largest RTP or RTCP packet sent (under the MTU with
	// the SRTP tag), and the scratch buffers' size.
	maxPacket = 1500
	// srtpOverhead is room for the SRTP auth tag (GCM: 16 bytes, SHA1-80: 10)
	// and an SRTCP index.
	srtpOverhead = 32
)

// Engine is what a Conn needs of the shared WebRTC machinery (rtc.Engine):
// the one UDP port, shared with the publishers' PeerConnections.
type Engine interface {
	Route(ufrag string, h rtc.DatagramHandler) (unroute func(), err error)
	WriteTo(b []byte, to netip.AddrPort) error
	LocalAddr() net.Addr
}

// Config is one viewer connection's set-up, from its offer and answer.
type Config struct {
	Engine      Engine
	Certificate *Certificate
	// Local and RemoteUfrag are the ICE credentials of the answer and the
	// offer.
	Local       Credentials
	RemoteUfrag string
	// RemoteFingerprint is the offer's a=fingerprint ("sha-256 AB:CD:..."):
	// the DTLS client must show a certificate that hashes to it.
	RemoteFingerprint string
	// DisconnectTimeout closes a connection whose peer sent no valid ICE
	// check for this long (RFC 7675 consent, from the receiving side: an
	// ICE-lite agent sends no checks, the browser does, every few
	// seconds), or that did not connect within it. It counts as
	// disconnected after half of it.
	DisconnectTimeout time.Duration
	// OnConnected runs once DTLS is up and the SRTP keys are known.
	OnConnected func()
	// OnRTCP gets the peer's RTCP, on the socket's read goroutine: it must
	// be quick and must not block.
	OnRTCP func([]rtcp.Packet)
	Logger *slog.Logger
}

// Conn is one viewer's WebRTC transport: ICE-lite on the shared UDP port,
// a DTLS server handshake, then SRTP and SRTCP with the exported keys. Its
// goroutines (the connection's life, and DTLS's reader once connected) end
// before Close returns.
type Conn struct {
	cfg     Config
	log     *slog.Logger
	routeMu sync.Mutex
	unroute []func() // one per ICE generation's local ufrag

	ice *ICE // safe for concurrent use

	remote   atomic.Pointer[Path] // the selected path, once there is one
	selected chan struct{}        // closed on the first selection
	selOnce  sync.Once

	dtlsIn *datagramConn
	dtls   atomic.Pointer[dtls.Conn]

	// in decrypts the peer's SRTCP; only the read goroutine uses it, once
	// set.
	in      atomic.Pointer[srtp.Context]
	inMu    sync.Mutex // the scratch buffers: packets may come on several paths at once
	inBuf   []byte
	stunBuf []byte

	// out seals what is sent, set once DTLS is up. Only one goroutine
	// seals (the viewer's send worker): SealRTP and SealRTCP take no lock.
	out    atomic.Pointer[srtp.Context]
	outHdr rtp.Header // SealRTP's scratch

	started      atomic.Bool // Start ran, or Close before it
	disconnected atomic.Bool
	reason       atomic.Pointer[string]
	// ctx ends with Close.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
}

// ErrNotConnected is a write before DTLS is up.
var ErrNotConnected = errors.New("peer: not connected")

// New makes a connection; Start starts it: it then answers the peer's ICE
// checks and takes the DTLS handshake once a check nominates a pair.
func New(cfg Config) (*Conn, error) {
	if cfg.DisconnectTimeout <= 0 {
		cfg.DisconnectTimeout = defaultDisconnectTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Conn{
		cfg: cfg, log: cfg.Logger,
		ice:      NewICE(cfg.Local, cfg.RemoteUfrag),
		selected: make(chan struct{}),
		inBuf:    make([]byte, maxPacket), stunBuf: make([]byte, 0, 512),
		done: make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.dtlsIn = newDatagramConn(cfg.Engine.LocalAddr(), netip.AddrPort{}, c.writeToRemote)
	return c, nil
}

// Start answers the peer's checks from now on; the callbacks may run from
// then on, so the caller keeps the Conn before it starts it. Call it once;
// Close releases it either way.
func (c *Conn) Start() error {
	if c.started.Swap(true) {
		return errors.New("peer: started twice, or closed")
	}
	unroute, err := c.cfg.Engine.Route(c.cfg.Local.Ufrag, c)
	if err != nil {
		c.cancel()
		return fmt.Errorf("peer: route ufrag: %w", err)
	}
	c.routeMu.Lock()
	c.unroute = append(c.unroute, unroute)
	c.routeMu.Unlock()
	c.wg.Add(1)
	go c.run()
	return nil
}

// Path is where a peer's packets go: an address on the shared UDP socket,
// or an ICE-TCP connection (RFC 6544) when TCP is set.
type Path struct {
	UDP netip.AddrPort
	TCP *rtc.TCPLink
}

// Write sends one packet on the path: queued on the shared socket, or
// framed on the TCP connection (dropped there, not blocked, when it is
// backed up).
func (p Path) Write(e Engine, b []byte) error {
	if p.TCP != nil {
		return p.TCP.Write(b)
	}
	return e.WriteTo(b, p.UDP)
}

func (p Path) String() string {
	if p.TCP != nil {
		return "tcp " + p.TCP.Remote().String()
	}
	return "udp " + p.UDP.String()
}

// HandleDatagram is rtc.DatagramHandler: the socket's read goroutine hands
// over what the peer sends over UDP.
func (c *Conn) HandleDatagram(p []byte, from netip.AddrPort) { c.handle(p, Path{UDP: from}) }

// HandleTCP is rtc.TCPHandler: an ICE-TCP connection's read goroutine
// hands over what the peer sends on it.
func (c *Conn) HandleTCP(p []byte, link *rtc.TCPLink) { c.handle(p, Path{TCP: link}) }

// handle takes one packet from the peer, told apart by its first byte (RFC
// 7983). Packets may come on several paths at once (UDP and TCP while ICE
// checks both), so the scratch buffers are taken in turn.
func (c *Conn) handle(p []byte, from Path) {
	if len(p) == 0 {
		return
	}
	switch b := p[0]; {
	case b <= 3:
		c.inMu.Lock()
		c.handleSTUN(p, from)
		c.inMu.Unlock()
	case b >= 20 && b <= 63:
		if r := c.remote.Load(); r != nil && *r == from {
			c.dtlsIn.push(p)
		}
	case b >= 128 && b <= 191:
		if len(p) >= 2 && p[1] >= 192 && p[1] <= 223 { // RTCP (RFC 5761 section 4)
			c.inMu.Lock()
			c.handleRTCP(p)
			c.inMu.Unlock()
		}
	}
}

func (c *Conn) handleSTUN(p []byte, from Path) {
	addr := from.UDP
	if from.TCP != nil {
		addr = from.TCP.Remote()
	}
	resp, check, err := c.ice.Handle(c.stunBuf[:0], p, addr, time.Now())
	if err != nil {
		c.log.Debug("peer: stun", "from", from, "err", err)
	}
	if len(resp) > 0 {
		if err := from.Write(c.cfg.Engine, resp); err != nil {
			c.log.Debug("peer: stun response not sent", "err", err)
		}
	}
	if check.Selected {
		if old := c.remote.Load(); old == nil || *old != from {
			c.remote.Store(&from)
			if old != nil {
				c.log.Debug("peer: remote moved", "from", old.String(), "to", from.String())
			}
		}
		c.selOnce.Do(func() { close(c.selected) })
	}
	if check.Valid && c.disconnected.CompareAndSwap(true, false) {
		c.log.Debug("peer: consent back")
	}
}

func (c *Conn) handleRTCP(p []byte) {
	in := c.in.Load()
	if in == nil || c.cfg.OnRTCP == nil {
		return
	}
	plain, err := in.DecryptRTCP(c.inBuf[:0], p, nil)
	if err != nil {
		return // not authentic, or replayed: dropped (RFC 3711 section 3.4)
	}
	pkts, err := rtcp.Unmarshal(plain)
	if err != nil {
		return
	}
	c.cfg.OnRTCP(pkts)
}

func (c *Conn) writeToRemote(b []byte) error {
	r := c.remote.Load()
	if r == nil {
		return ErrNotConnected
	}
	return r.Write(c.cfg.Engine, b)
}

// run is the connection's life: wait for ICE, take the DTLS handshake,
// then watch consent until the end.
func (c *Conn) run() {
	defer c.wg.Done()
	defer close(c.done)
	d := c.cfg.DisconnectTimeout
	started := time.Now()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-c.selected:
	case <-timer.C:
		c.finish("ice failed") // no check nominated a pair in time
		return
	case <-c.ctx.Done():
		c.finish("")
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, d-time.Since(started))
	err := c.handshake(ctx)
	cancel()
	if err != nil {
		c.finish("dtls handshake: " + err.Error())
		return
	}
	if c.cfg.OnConnected != nil {
		c.cfg.OnConnected()
	}
	readDone := make(chan struct{})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(readDone)
		c.readDTLS()
	}()
	tick := time.NewTicker(max(d/8, 50*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-c.ctx.Done():
			c.finish("")
			return
		case <-readDone:
			c.finish("dtls closed by peer")
			return
		case now := <-tick.C:
			last := c.ice.LastCheck()
			switch silent := now.Sub(last); {
			case silent >= d:
				c.finish("ice failed") // consent lost (RFC 7675 section 5.1)
				return
			case silent >= d/2 && c.disconnected.CompareAndSwap(false, true):
				c.log.Debug("peer: disconnected: no ICE check", "for", silent.Round(time.Millisecond))
			}
		}
	}
}

// handshake is the DTLS server side (RFC 5763: the answerer is passive),
// the client's certificate checked against the offer's fingerprint, then
// the SRTP keys exported (RFC 5764 section 4.2).
func (c *Conn) handshake(ctx context.Context) error {
	remote := c.remote.Load()
	raddr := net.Addr(net.UDPAddrFromAddrPort(remote.UDP))
	if remote.TCP != nil {
		raddr = net.TCPAddrFromAddrPort(remote.TCP.Remote())
	}
	conn, err := dtls.Server(c.dtlsIn, raddr, &dtls.Config{
		Certificates:           []tls.Certificate{c.cfg.Certificate.tls},
		SRTPProtectionProfiles: []dtls.SRTPProtectionProfile{dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80},
		ExtendedMasterSecret:   dtls.RequireExtendedMasterSecret,
		ClientAuth:             dtls.RequireAnyClientCert,
		InsecureSkipVerify:     true, // self-signed: the fingerprint is the check
		VerifyPeerCertificate:  c.verifyFingerprint,
	})
	if err != nil {
		return err
	}
	c.dtls.Store(conn)
	if err := conn.HandshakeContext(ctx); err != nil {
		return err
	}
	state, ok := conn.ConnectionState()
	if !ok {
		return errors.New("no connection state")
	}
	profile, ok := conn.SelectedSRTPProtectionProfile()
	if !ok {
		return errors.New("no SRTP protection profile negotiated")
	}
	cfg := srtp.Config{Profile: srtp.ProtectionProfile(profile)}
	if err := cfg.ExtractSessionKeysFromDTLS(&state, false); err != nil {
		return fmt.Errorf("srtp keys: %w", err)
	}
	out, err := srtp.CreateContext(cfg.Keys.LocalMasterKey, cfg.Keys.LocalMasterSalt, cfg.Profile)
	if err != nil {
		return fmt.Errorf("srtp context: %w", err)
	}
	in, err := srtp.CreateContext(cfg.Keys.RemoteMasterKey, cfg.Keys.RemoteMasterSalt, cfg.Profile)
	if err != nil {
		return fmt.Errorf("srtcp context: %w", err)
	}
	c.out.Store(out)
	c.in.Store(in)
	return nil
}

func (c *Conn) verifyFingerprint(raw [][]byte, _ [][]*x509.Certificate) error {
	if len(raw) == 0 {
		return errors.New("no client certificate")
	}
	algo, want, ok := strings.Cut(c.cfg.RemoteFingerprint, " ")
	if !ok {
		return errors.New("offer has no usable fingerprint")
	}
	hash, err := fingerprint.HashFromString(algo)
	if err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(raw[0])
	if err != nil {
		return err
	}
	got, err := fingerprint.Fingerprint(cert, hash)
	if err != nil {
		return err
	}
	if !strings.EqualFold(got, want) {
		return errors.New("client certificate does not match the offer's fingerprint")
	}
	return nil
}

// readDTLS reads application data until the peer closes DTLS (a
// close_notify alert) or the connection ends. Nothing is expected on it
// yet (no data channels), so what comes is dropped.
func (c *Conn) readDTLS() {
	conn := c.dtls.Load()
	buf := make([]byte, maxPacket)
	for {
		if _, err := conn.Read(buf); err != nil {
			return
		}
	}
}

// Remote is where the peer's media goes: the path of its selected
// candidate pair; false before ICE selected one.
func (c *Conn) Remote() (Path, bool) {
	r := c.remote.Load()
	if r == nil {
		return Path{}, false
	}
	return *r, true
}

// SealRTP writes one RTP packet (h, then payload, then padding bytes of
// RTP padding, RFC 3550 section 5.1, when padding > 0) into dst's array
// and encrypts it there: dst must have room for the packet and the SRTP
// tag (maxPacket + srtpOverhead is always enough). It returns the SRTP
// packet, or false before the connection is up. h.Padding and
// h.PaddingSize are set from padding. One goroutine at a time may seal.
func (c *Conn) SealRTP(dst []byte, h *rtp.Header, payload []byte, padding int) ([]byte, bool, error) {
	out := c.out.Load()
	if out == nil {
		return nil, false, nil
	}
	h.Padding, h.PaddingSize = padding > 0, byte(padding)
	size := h.MarshalSize() + len(payload) + padding
	if size+srtpOverhead > cap(dst) {
		return nil, false, fmt.Errorf("peer: rtp packet of %d bytes too large", size)
	}
	buf := dst[:size]
	n, err := h.MarshalTo(buf)
	if err != nil {
		return nil, false, fmt.Errorf("peer: rtp header: %w", err)
	}
	n += copy(buf[n:], payload)
	if padding > 0 {
		clear(buf[n : size-1])
		buf[size-1] = byte(padding)
	}
	enc, err := out.EncryptRTP(dst[:0], buf, &c.outHdr)
	if err != nil {
		return nil, false, fmt.Errorf("peer: srtp: %w", err)
	}
	return enc, true, nil
}

// SealRTCP encrypts compound RTCP into dst's array (room as for SealRTP);
// false before the connection is up.
func (c *Conn) SealRTCP(dst []byte, pkts []rtcp.Packet) ([]byte, bool, error) {
	out := c.out.Load()
	if out == nil {
		return nil, false, nil
	}
	raw, err := rtcp.Marshal(pkts) // a report a second: its allocation is no matter
	if err != nil {
		return nil, false, fmt.Errorf("peer: rtcp: %w", err)
	}
	if len(raw)+srtpOverhead > cap(dst) {
		return nil, false, fmt.Errorf("peer: rtcp of %d bytes too large", len(raw))
	}
	enc, err := out.EncryptRTCP(dst[:0], raw, nil)
	if err != nil {
		return nil, false, fmt.Errorf("peer: srtcp: %w", err)
	}
	return enc, true, nil
}

// Done is closed when the connection has ended (Reason says why).
func (c *Conn) Done() <-chan struct{} { return c.done }

// Reason is why the connection ended: "" when it was closed by Close.
func (c *Conn) Reason() string {
	if r := c.reason.Load(); r != nil {
		return *r
	}
	return ""
}

// finish tears the connection down from run: DTLS closed (a close_notify
// to the peer when the handshake was done), the route removed.
func (c *Conn) finish(reason string) {
	if reason != "" {
		c.reason.Store(&reason)
	}
	if conn := c.dtls.Load(); conn != nil {
		if err := conn.Close(); err != nil {
			c.log.Debug("peer: dtls close", "err", err)
		}
	}
	_ = c.dtlsIn.Close()
	c.routeMu.Lock()
	for _, u := range c.unroute {
		u()
	}
	c.unroute = nil
	c.routeMu.Unlock()
}

// Restart begins a new ICE generation (an ICE restart, RFC 8445 section
// 9): the peer's checks with the new credentials are answered from now on,
// on whatever address they come from, and media moves to the pair the
// peer nominates with them. DTLS and SRTP go on as they are: the picture
// does not wait for a handshake or a keyframe.
func (c *Conn) Restart(local Credentials, remoteUfrag string) error {
	c.routeMu.Lock()
	defer c.routeMu.Unlock()
	if c.unroute == nil {
		return errors.New("peer: connection closed")
	}
	unroute, err := c.cfg.Engine.Route(local.Ufrag, c)
	if err != nil {
		return fmt.Errorf("peer: route ufrag: %w", err)
	}
	c.unroute = append(c.unroute, unroute)
	c.ice.Restart(local, remoteUfrag)
	return nil
}

// Close ends the connection and waits for its goroutines. Idempotent.
func (c *Conn) Close() error {
	c.cancel()
	if !c.started.Swap(true) { // never started: nothing runs to close done
		_ = c.dtlsIn.Close()
		close(c.done)
	}
	c.wg.Wait()
	return nil
}
