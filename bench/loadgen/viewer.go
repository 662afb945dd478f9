package loadgen

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v4"
)

const (
	// readBufSize holds any datagram the gateway sends (its MTU is 1200).
	readBufSize = 2048
	// maxDatagram holds any datagram at all, as a UDP GRO run of packets
	// may be (Linux coalesces up to 64 KiB).
	maxDatagram = 1 << 16
	// oobSize is the room for a datagram's control messages: the one asked
	// for is UDP_GRO's segment size (24 bytes on 64-bit Linux).
	oobSize = 64
	// defaultDialTimeout bounds Dial when its context has no deadline.
	defaultDialTimeout = 30 * time.Second
	// deleteTimeout bounds the DELETE that Close sends.
	deleteTimeout = 5 * time.Second
	// maxBody bounds what is read of an HTTP response.
	maxBody = 1 << 20
	// iceRespQueue bounds the STUN responses waiting for connectICE.
	iceRespQueue = 8
	// defaultReadInterval is Config.ReadInterval when zero.
	defaultReadInterval = 100 * time.Millisecond
	// socketBuffer is the receive buffer asked for: room for what arrives
	// between drains, keyframe bursts included (the kernel may cap it).
	socketBuffer = 1 << 20
)

// Config is one viewer's settings; the zero value of each optional field
// is the usual choice.
type Config struct {
	// URL is the WHEP endpoint, e.g. http://127.0.0.1:8080/whep/demo.
	URL string
	// Token, if set, is sent as a Bearer token on POST and DELETE.
	Token string
	// BindIP is the local IP of the viewer's socket, advertised as its ICE
	// host candidate; "127.0.0.1" if empty. It must be a concrete address.
	BindIP string
	// HTTPClient sends the POST and DELETE; http.DefaultClient if nil.
	HTTPClient *http.Client
	// Certificate is the DTLS identity; share one across many viewers
	// (generating one is costly). Nil generates one for this viewer.
	Certificate *Certificate
	// ReadInterval is how long the reader sleeps between drains of the
	// socket once the first keyframe is in: longer spares CPU (fewer
	// wake-ups), Stats and consent answers lag by up to it. 0 means 100 ms;
	// negative reads each packet as it arrives (and leaves Drainer
	// unused). With a Drainer, the Drainer's interval is used instead.
	ReadInterval time.Duration
	// Drainer, if set, drains the viewer's socket once the first keyframe
	// is in, together with the other viewers that share it: one goroutine
	// and one set of buffers for them all. Share one across many viewers.
	// Nil: the viewer drains its socket on its own goroutine, which costs
	// it, with UDP_GRO on (Linux), a 64 KiB buffer (a datagram may carry a
	// whole GSO train) and a system call per datagram.
	Drainer *Drainer
}

// Viewer is one WHEP session held with the least work that keeps it real:
// one UDP socket, one reader goroutine, no decryption after the first
// keyframe.
type Viewer struct {
	client   *http.Client
	token    string
	conn     *net.UDPConn
	start    time.Time // POST sent; read by the reader only after keys is set
	resource string    // the session URL (Location), once the POST succeeded
	interval time.Duration
	drainer  *Drainer // nil: the reader goroutine drains the socket itself
	gro      bool     // UDP_GRO is on: a datagram may be a run of packets

	c            counters
	firstFrameCh chan struct{}

	// Handed from Dial to the reader goroutine.
	media atomic.Pointer[mediaMap]
	keys  atomic.Pointer[srtp.Context]
	dtls  atomic.Pointer[dtlsConn] // set while the handshake runs
	// consent is our check on an ICE-lite gateway, set once connected:
	// the reader repeats it every consentInterval (keepConsent).
	consent atomic.Pointer[iceCheck]
	// Handed from the reader goroutine to Dial's ICE checks.
	iceResp  chan []byte
	checked  chan struct{} // a gateway check was answered
	answered atomic.Uint64 // gateway checks answered

	// Owned by the reader goroutine.
	responder   *stunResponder
	nextConsent time.Time
	stunIn      stun.Message
	tracks      tracks
	ff          *firstFrame // nil once the first keyframe is in

	errMu   sync.Mutex
	readErr error // the reader goroutine's first I/O error, for Close

	// The socket: v.conn until the reader takes it out of Go's netpoller
	// (detached, read_linux.go), after which only the reader touches it.
	sockMu   sync.Mutex
	detached bool
	raw      rawSocket // reader-owned once detached
	stop     chan struct{}

	closing   atomic.Bool
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
}

// Dial starts a viewer: it POSTs the offer and returns once ICE and DTLS
// are done and the SRTP keys known, or with an error naming the step that
// failed (any session created is DELETEd). Detection of the first keyframe
// goes on in the background; see FirstFrame. Without a deadline in ctx,
// Dial gives up after 30 s.
func Dial(ctx context.Context, cfg Config) (*Viewer, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("loadgen: bad URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("loadgen: bad URL %q: want http(s)://host/whep/stream", cfg.URL)
	}
	if cfg.BindIP == "" {
		cfg.BindIP = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(cfg.BindIP)
	if err != nil {
		return nil, fmt.Errorf("loadgen: bad BindIP: %w", err)
	}
	ip = ip.Unmap()
	if ip.IsUnspecified() {
		return nil, fmt.Errorf("loadgen: BindIP %s: need a concrete address, it is the ICE candidate", ip)
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	cert := cfg.Certificate
	if cert == nil {
		if cert, err = NewCertificate(); err != nil {
			return nil, err
		}
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultDialTimeout)
		defer cancel()
	}
	switch {
	case cfg.ReadInterval < 0:
		cfg.Drainer = nil
	case cfg.Drainer != nil:
		cfg.ReadInterval = cfg.Drainer.interval
	case cfg.ReadInterval == 0:
		cfg.ReadInterval = defaultReadInterval
	}
	ufrag, err := randomString(8)
	if err != nil {
		return nil, fmt.Errorf("loadgen: ice credentials: %w", err)
	}
	pwd, err := randomString(24)
	if err != nil {
		return nil, fmt.Errorf("loadgen: ice credentials: %w", err)
	}
	network := "udp4"
	if ip.Is6() {
		network = "udp6"
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		return nil, fmt.Errorf("loadgen: listen: %w", err)
	}
	if err := conn.SetReadBuffer(socketBuffer); err != nil {
		return nil, errors.Join(fmt.Errorf("loadgen: socket buffer: %w", err), conn.Close())
	}
	v := &Viewer{
		client: cfg.HTTPClient, token: cfg.Token, conn: conn, interval: cfg.ReadInterval,
		drainer: cfg.Drainer, gro: enableGRO(conn),
		firstFrameCh: make(chan struct{}), stop: make(chan struct{}),
		iceResp: make(chan []byte, iceRespQueue), checked: make(chan struct{}, 1),
		responder: newSTUNResponder(ufrag, pwd), ff: newFirstFrame(),
	}
	v.stunIn.Raw = make([]byte, 0, stunBufSize)
	v.wg.Add(1)
	go v.read()
	if err := v.setup(ctx, u, cert, ufrag, pwd); err != nil {
		return nil, errors.Join(err, v.Close())
	}
	return v, nil
}

// setup is Dial's sequence once the reader goroutine answers on the socket.
func (v *Viewer) setup(ctx context.Context, u *url.URL, cert *Certificate, ufrag, pwd string) error {
	local := v.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	sid, err := randomUint64()
	if err != nil {
		return fmt.Errorf("loadgen: offer: %w", err)
	}
	offer := buildOffer(offerParams{
		sessionID: sid >> 2, ufrag: ufrag, pwd: pwd, fingerprint: cert.fingerprint,
		candidate: netip.AddrPortFrom(local.Addr().Unmap(), local.Port()),
	})
	v.start = time.Now()
	raw, err := v.post(ctx, u, offer)
	if err != nil {
		return err
	}
	ans, err := parseAnswer(raw)
	if err != nil {
		return fmt.Errorf("loadgen: %w", err)
	}
	remote, err := pickCandidate(ans.candidates, local.Addr().Unmap())
	if err != nil {
		return fmt.Errorf("loadgen: ice: %w", err)
	}
	v.media.Store(&ans.media)
	check, err := newICECheck(remote, ans.ufrag, ans.pwd, ufrag)
	if err != nil {
		return fmt.Errorf("loadgen: ice: %w", err)
	}
	if err := v.connectICE(ctx, check, ans.lite); err != nil {
		return fmt.Errorf("loadgen: ice: %w", err)
	}
	if ans.lite {
		v.consent.Store(check)
	}
	dc := newDTLSConn(v.conn, remote)
	v.dtls.Store(dc)
	keys, err := handshake(ctx, dc, cert, ans.fingerprint)
	v.dtls.Store(nil)
	if err != nil {
		return fmt.Errorf("loadgen: dtls: %w", err)
	}
	v.c.connected.Store(int64(time.Since(v.start)))
	sc, err := srtp.CreateContext(keys.key, keys.salt, keys.profile)
	if err != nil {
		return fmt.Errorf("loadgen: srtp: %w", err)
	}
	v.keys.Store(sc)
	return nil
}

// post sends the offer and returns the answer; the session resource is
// recorded as soon as the gateway names it, so that Close deletes it.
func (v *Viewer) post(ctx context.Context, u *url.URL, offer string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(offer))
	if err != nil {
		return nil, fmt.Errorf("loadgen: offer: %w", err)
	}
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Accept", "application/sdp")
	v.authorize(req)
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loadgen: offer: %w", err)
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if cerr := resp.Body.Close(); rerr == nil {
		rerr = cerr
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("loadgen: POST %s: %s: %s", u.Redacted(), resp.Status, excerpt(body, rerr))
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("loadgen: POST %s: 201 without a Location header", u.Redacted())
	}
	res, err := u.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("loadgen: POST %s: bad Location %q: %w", u.Redacted(), loc, err)
	}
	v.resource = res.String()
	if rerr != nil {
		return nil, fmt.Errorf("loadgen: read answer: %w", rerr)
	}
	return body, nil
}

func (v *Viewer) authorize(req *http.Request) {
	if v.token != "" {
		req.Header.Set("Authorization", "Bearer "+v.token)
	}
}

// excerpt is the start of an error response's body, for the error message.
func excerpt(body []byte, readErr error) string {
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	if s == "" {
		s = "(empty body)"
	}
	if readErr != nil {
		s += fmt.Sprintf(" (reading the body: %v)", readErr)
	}
	return s
}

// Stats returns the viewer's counts so far; safe to call at any time.
func (v *Viewer) Stats() Stats { return v.c.snapshot() }

// FirstFrame is closed when the first keyframe has arrived whole, so an
// orchestrator can wait for it (Stats().FirstFrame says when it came).
func (v *Viewer) FirstFrame() <-chan struct{} { return v.firstFrameCh }

// Close DELETEs the session, closes the socket and waits for the reader
// goroutine. It returns the errors of those steps and of the reader's I/O,
// if any. Calling it again returns the same result.
func (v *Viewer) Close() error {
	v.closeOnce.Do(func() {
		var errs []error
		if v.resource != "" {
			errs = append(errs, v.deleteSession())
		}
		v.sockMu.Lock()
		v.closing.Store(true)
		if !v.detached {
			if err := v.conn.Close(); err != nil {
				errs = append(errs, fmt.Errorf("loadgen: close socket: %w", err))
			}
		} else if err := v.raw.close(); err != nil {
			errs = append(errs, fmt.Errorf("loadgen: %w", err))
		}
		v.sockMu.Unlock()
		close(v.stop)
		v.wg.Wait()
		v.errMu.Lock()
		errs = append(errs, v.readErr)
		v.errMu.Unlock()
		v.closeErr = errors.Join(errs...)
	})
	return v.closeErr
}

func (v *Viewer) deleteSession() error {
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, v.resource, nil)
	if err != nil {
		return fmt.Errorf("loadgen: delete session: %w", err)
	}
	v.authorize(req)
	resp, err := v.client.Do(req)
	if err != nil {
		return fmt.Errorf("loadgen: delete session: %w", err)
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if cerr := resp.Body.Close(); rerr == nil {
		rerr = cerr
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("loadgen: DELETE %s: %s: %s", v.resource, resp.Status, excerpt(body, rerr))
	}
	if rerr != nil {
		return fmt.Errorf("loadgen: delete session: read response: %w", rerr)
	}
	return nil
}

// noteErr keeps the reader goroutine's first I/O error for Close.
func (v *Viewer) noteErr(err error) {
	v.errMu.Lock()
	if v.readErr == nil {
		v.readErr = err
	}
	v.errMu.Unlock()
}

// read is the viewer's goroutine: it demultiplexes every datagram by its
// first byte (RFC 7983) until the viewer is closed. Until the first
// keyframe is in it reads each datagram as it arrives, so that arrival
// times are exact; then, unless the read interval is negative, the socket
// is drained only every interval (readBatched), which spares most wake-ups,
// by this goroutine or by the viewer's Drainer.
func (v *Viewer) read() {
	defer v.wg.Done()
	size := readBufSize
	if v.gro {
		size = maxDatagram
	}
	buf, oob := make([]byte, size), make([]byte, oobSize)
	for v.ff != nil || v.interval <= 0 {
		n, oobn, _, from, err := v.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if !v.closing.Load() {
				v.noteErr(fmt.Errorf("loadgen: read: %w", err))
			}
			return
		}
		now := time.Now()
		if v.ff != nil {
			v.ff.at = now // every packet of a GRO run arrived with it
		}
		v.handleDatagram(buf[:n], n, groSegment(oob[:oobn]), from)
		v.keepConsent(now)
	}
	if err := v.readBatched(buf); err != nil {
		v.noteErr(fmt.Errorf("loadgen: read: %w", err))
	}
}

// handleDatagram demultiplexes one datagram of size bytes, of which p may
// be only the start (a batched read of a prefix). seg is its UDP GRO
// segment size, 0 if none: the datagram is then a run of seg-byte packets,
// the last maybe shorter, each handled as if it had come alone. A packet
// that starts beyond p, which the buffers' sizes rule out, is not counted.
func (v *Viewer) handleDatagram(p []byte, size, seg int, from netip.AddrPort) {
	if seg <= 0 || seg >= size {
		v.handle(p, size, from)
		return
	}
	v.c.trains.Add(1)
	for off := 0; off < size; off += seg {
		n := min(seg, size-off)
		v.handle(p[min(off, len(p)):min(off+n, len(p))], n, from)
	}
}

// handle demultiplexes one packet (RFC 7983 section 7) of size bytes, of
// which p may be only the start.
func (v *Viewer) handle(p []byte, size int, from netip.AddrPort) {
	if len(p) == 0 {
		return
	}
	switch b := p[0]; {
	case b <= 3:
		if len(p) == size {
			v.handleSTUN(p, from)
		}
	case b >= 20 && b <= 63:
		if dc := v.dtls.Load(); dc != nil && len(p) == size {
			dc.deliver(p)
		}
	case b >= 128 && b <= 191:
		if len(p) >= 2 && p[1] >= 192 && p[1] <= 223 {
			v.c.rtcp.Add(1)
		} else {
			v.handleRTP(p, size)
		}
	}
}

// handleSTUN answers the gateway's Binding requests and passes responses
// to our own requests on to connectICE.
func (v *Viewer) handleSTUN(p []byte, from netip.AddrPort) {
	m := &v.stunIn
	m.Raw = append(m.Raw[:0], p...)
	if err := m.Decode(); err != nil {
		return
	}
	switch m.Type.Class {
	case stun.ClassRequest:
		if m.Type.Method != stun.MethodBinding {
			return
		}
		resp, err := v.responder.answer(m, from)
		if err != nil {
			return // not for us, or not authentic: no answer (RFC 8445 section 7.3)
		}
		if err := v.writeTo(resp, from); err != nil {
			if !v.closing.Load() {
				v.noteErr(fmt.Errorf("loadgen: ice: answer check: %w", err))
			}
			return
		}
		v.answered.Add(1)
		select {
		case v.checked <- struct{}{}:
		default:
		}
	case stun.ClassSuccessResponse, stun.ClassErrorResponse:
		select {
		case v.iceResp <- append([]byte(nil), p...):
		default:
		}
	}
}

// handleRTP counts an SRTP packet of size bytes from its cleartext header
// (p holds at least that): SSRC, sequence number, payload type. Nothing
// here allocates once the first keyframe is in.
func (v *Viewer) handleRTP(p []byte, size int) {
	if len(p) < 12 {
		return
	}
	ssrc := binary.BigEndian.Uint32(p[8:12])
	seq := binary.BigEndian.Uint16(p[2:4])
	v.c.packets.Add(1)
	v.c.bytes.Add(uint64(size))
	t := v.tracks.find(ssrc)
	if t == nil {
		k := kindUnknown
		if m := v.media.Load(); m != nil {
			k = m.kindOf(ssrc, p[1]&0x7f)
		}
		if t = v.tracks.add(ssrc, seq, k); t == nil {
			v.countKind(k, p)
			return
		}
	}
	if t.update(seq) {
		v.c.lost.Store(v.tracks.lost())
	}
	v.countKind(t.kind, p)
}

func (v *Viewer) countKind(k kind, p []byte) {
	switch k {
	case kindVideo:
		v.c.video.Add(1)
		if v.ff != nil {
			v.beforeFirstFrame(p)
		}
	case kindAudio:
		v.c.audio.Add(1)
	}
}

// beforeFirstFrame feeds a video packet to the keyframe search, holding it
// while the keys are not yet handed over.
func (v *Viewer) beforeFirstFrame(p []byte) {
	f := v.ff
	at := f.at
	if f.ctx == nil {
		if f.ctx = v.keys.Load(); f.ctx == nil {
			f.hold(p, at)
			return
		}
	}
	pending := f.pending
	f.pending = nil
	for _, q := range pending {
		if v.firstFrameStep(q.data, q.at) {
			return
		}
	}
	v.firstFrameStep(p, at)
}

// firstFrameStep decrypts one packet; when it completes the keyframe the
// arrival time is recorded, FirstFrame closed and the search dropped.
func (v *Viewer) firstFrameStep(p []byte, at time.Time) bool {
	done, err := v.ff.step(p)
	if err != nil {
		v.c.decryptErrors.Add(1)
		return false
	}
	if !done {
		return false
	}
	// Packets held while the handshake ran cannot be shown before it
	// ended: a frame counts from the later of its arrival and the keys.
	v.c.firstFrame.Store(max(1, int64(at.Sub(v.start)), v.c.connected.Load()))
	v.ff = nil
	close(v.firstFrameCh)
	return true
}
