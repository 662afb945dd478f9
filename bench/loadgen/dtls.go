package loadgen

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/dtls/v3"
	"github.com/pion/dtls/v3/pkg/crypto/fingerprint"
	"github.com/pion/dtls/v3/pkg/crypto/selfsign"
	"github.com/pion/srtp/v3"
)

// dtlsFlightInterval is the first DTLS retransmission timeout (pion backs
// off from it). Shorter than pion's 1 s: a ClientHello that reaches the
// gateway a moment before its DTLS transport listens is resent soon.
const dtlsFlightInterval = 200 * time.Millisecond

// dtlsQueue bounds the DTLS datagrams waiting for the handshake; more are
// dropped (DTLS retransmits).
const dtlsQueue = 32

// Certificate is a viewer's DTLS identity. Generating one costs about as
// much as the rest of a viewer's setup, so share one across many viewers.
type Certificate struct {
	cert        tls.Certificate
	fingerprint string // sha-256, upper-case hex pairs with colons
}

// NewCertificate generates a self-signed ECDSA P-256 certificate, as
// browsers and pion use for WebRTC.
func NewCertificate() (*Certificate, error) {
	cert, err := selfsign.GenerateSelfSigned()
	if err != nil {
		return nil, fmt.Errorf("loadgen: certificate: %w", err)
	}
	x, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("loadgen: certificate: %w", err)
	}
	fp, err := fingerprint.Fingerprint(x, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("loadgen: certificate fingerprint: %w", err)
	}
	return &Certificate{cert: cert, fingerprint: fp}, nil
}

// Fingerprint is the certificate's sha-256 fingerprint as offered in SDP
// (a=fingerprint:sha-256 ...), for matching against the gateway's logs.
func (c *Certificate) Fingerprint() string { return c.fingerprint }

// dtlsConn is the net.PacketConn pion/dtls runs its handshake over: reads
// come from the viewer's reader goroutine (DTLS datagrams, RFC 7983 first
// byte 20-63), writes go out of the viewer's socket to the gateway. Closing
// it leaves the socket open.
type dtlsConn struct {
	sock   *net.UDPConn
	remote netip.AddrPort
	raddr  *net.UDPAddr
	in     chan []byte
	mute   atomic.Bool // writes are dropped: the DTLS session is abandoned

	closeOnce sync.Once
	closed    chan struct{}

	mu       sync.Mutex
	deadline time.Time
	changed  chan struct{} // closed and replaced when the deadline changes
}

func newDTLSConn(sock *net.UDPConn, remote netip.AddrPort) *dtlsConn {
	return &dtlsConn{
		sock: sock, remote: remote, raddr: net.UDPAddrFromAddrPort(remote),
		in: make(chan []byte, dtlsQueue), closed: make(chan struct{}), changed: make(chan struct{}),
	}
}

// deliver hands a datagram to the handshake without ever blocking the
// reader goroutine.
func (c *dtlsConn) deliver(p []byte) {
	select {
	case c.in <- append([]byte(nil), p...):
	default:
	}
}

// ReadFrom returns the next DTLS datagram, honouring the read deadline
// (pion cancels reads by setting one in the past).
func (c *dtlsConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		deadline, changed := c.deadline, c.changed
		c.mu.Unlock()
		var timer *time.Timer
		var expired <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			timer = time.NewTimer(d)
			expired = timer.C
		}
		n, err, again := 0, error(nil), false
		select {
		case p := <-c.in:
			n = copy(b, p)
		case <-c.closed:
			err = net.ErrClosed
		case <-expired:
			err = os.ErrDeadlineExceeded
		case <-changed:
			again = true
		}
		if timer != nil {
			timer.Stop()
		}
		if !again {
			if err != nil {
				return 0, nil, err
			}
			return n, c.raddr, nil
		}
	}
}

// WriteTo sends to the gateway, whatever addr says: the handshake has one peer.
func (c *dtlsConn) WriteTo(b []byte, _ net.Addr) (int, error) {
	if c.mute.Load() {
		return len(b), nil
	}
	return c.sock.WriteToUDPAddrPort(b, c.remote)
}

func (c *dtlsConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}

func (c *dtlsConn) LocalAddr() net.Addr { return c.sock.LocalAddr() }

func (c *dtlsConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *dtlsConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// SetWriteDeadline does nothing: a UDP write does not wait.
func (c *dtlsConn) SetWriteDeadline(time.Time) error { return nil }

// srtpKeys are what a viewer needs to decrypt the gateway's SRTP.
type srtpKeys struct {
	profile   srtp.ProtectionProfile
	key, salt []byte // the server's write key and salt
}

// handshake runs the DTLS client handshake over conn, checks the gateway's
// certificate against the answer's sha-256 fingerprint, and returns the
// negotiated profile with the server's SRTP write keys. The DTLS session
// is then abandoned without a word (conn muted, closed): the gateway keeps
// its side until ICE or the DELETE ends it, and nothing more is said on
// DTLS, so the viewer needs no goroutines of pion's after this.
func handshake(ctx context.Context, conn *dtlsConn, cert *Certificate, wantFingerprint string) (keys srtpKeys, err error) {
	verify := func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		if len(rawCerts) == 0 {
			return errors.New("gateway sent no certificate")
		}
		x, err := x509.ParseCertificate(rawCerts[0])
		if err != nil {
			return fmt.Errorf("gateway certificate: %w", err)
		}
		got, err := fingerprint.Fingerprint(x, crypto.SHA256)
		if err != nil {
			return fmt.Errorf("gateway certificate fingerprint: %w", err)
		}
		if !strings.EqualFold(got, wantFingerprint) {
			return fmt.Errorf("gateway certificate sha-256 %s does not match the answer's %s", got, wantFingerprint)
		}
		return nil
	}
	dc, err := dtls.ClientWithOptions(conn, conn.raddr,
		dtls.WithCertificates(cert.cert),
		// pion's offer order (webrtc constants.go) less AES-256-GCM.
		dtls.WithSRTPProtectionProfiles(dtls.SRTP_AEAD_AES_128_GCM, dtls.SRTP_AES128_CM_HMAC_SHA1_80),
		dtls.WithExtendedMasterSecret(dtls.RequestExtendedMasterSecret),
		dtls.WithInsecureSkipVerify(true), // self-signed: the fingerprint is the check
		dtls.WithVerifyPeerCertificate(verify),
		dtls.WithFlightInterval(dtlsFlightInterval),
	)
	if err != nil {
		return keys, fmt.Errorf("client: %w", err)
	}
	defer func() {
		conn.mute.Store(true)
		if cerr := dc.Close(); cerr != nil && !errors.Is(cerr, dtls.ErrConnClosed) && err == nil {
			err = fmt.Errorf("abandon session: %w", cerr)
		}
	}()
	if err := dc.HandshakeContext(ctx); err != nil {
		return keys, fmt.Errorf("handshake: %w", err)
	}
	profile, ok := dc.SelectedSRTPProtectionProfile()
	if !ok {
		return keys, errors.New("gateway chose no SRTP protection profile (use_srtp)")
	}
	switch profile {
	case dtls.SRTP_AEAD_AES_128_GCM:
		keys.profile = srtp.ProtectionProfileAeadAes128Gcm
	case dtls.SRTP_AES128_CM_HMAC_SHA1_80:
		keys.profile = srtp.ProtectionProfileAes128CmHmacSha1_80
	default:
		return keys, fmt.Errorf("gateway chose SRTP profile %#04x, which was not offered", uint16(profile))
	}
	state, ok := dc.ConnectionState()
	if !ok {
		return keys, errors.New("no DTLS connection state")
	}
	keys.key, keys.salt, err = serverWriteKeys(&state, keys.profile)
	return keys, err
}

// serverWriteKeys exports the DTLS-SRTP keying material (RFC 5764 section
// 4.2), laid out client key, server key, client salt, server salt, and
// returns the server's: what the gateway encrypts with.
func serverWriteKeys(exp srtp.KeyingMaterialExporter, profile srtp.ProtectionProfile) (key, salt []byte, err error) {
	keyLen, err := profile.KeyLen()
	if err != nil {
		return nil, nil, fmt.Errorf("srtp key length: %w", err)
	}
	saltLen, err := profile.SaltLen()
	if err != nil {
		return nil, nil, fmt.Errorf("srtp salt length: %w", err)
	}
	m, err := exp.ExportKeyingMaterial("EXTRACTOR-dtls_srtp", nil, 2*keyLen+2*saltLen)
	if err != nil {
		return nil, nil, fmt.Errorf("export keying material: %w", err)
	}
	key = m[keyLen : 2*keyLen]
	salt = m[2*keyLen+saltLen : 2*keyLen+2*saltLen]
	return key, salt, nil
}
