package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/pion/stun/v4"
)

// ICE by hand (RFC 8445): the viewer is the offerer, so the controlling
// agent. It has one host candidate (its socket) and checks one of the
// gateway's, nominating it at once (USE-CANDIDATE on every request). The
// gateway runs full pion ICE: it checks our candidate too, and keeps
// checking it every couple of seconds for consent (RFC 7675), so the
// reader goroutine answers its Binding requests for the viewer's life.

// ICE timing: first retransmission soon (loopback), then backing off.
const (
	iceRTO    = 20 * time.Millisecond
	iceMaxRTO = 500 * time.Millisecond
	// consentInterval is how often a viewer of an ICE-lite gateway
	// refreshes consent with a Binding request (RFC 7675 section 5.1 says
	// 4-6 s; a gateway may time out sooner, as frontrow's tests set it).
	consentInterval = time.Second
)

// iceChars is the ice-char alphabet (RFC 8839 section 5.4) less '+' and '/'.
const iceChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomString draws n characters from iceChars.
func randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	for i := range b {
		b[i] = iceChars[int(b[i])%len(iceChars)]
	}
	return string(b), nil
}

func randomUint64() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("random: %w", err)
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// rawAttr adds an attribute as given (PRIORITY, ICE-CONTROLLING,
// USE-CANDIDATE: pion/stun knows their numbers, pion/ice their codecs).
type rawAttr struct {
	t stun.AttrType
	v []byte
}

func (a rawAttr) AddTo(m *stun.Message) error {
	m.Add(a.t, a.v)
	return nil
}

// stunResponder answers the gateway's connectivity and consent checks. It
// belongs to the reader goroutine and reuses its buffers: answering a check
// allocates nothing.
type stunResponder struct {
	prefix []byte                // "ourUfrag:", how the USERNAME of a check to us starts
	key    stun.MessageIntegrity // short-term key: our ice-pwd
	resp   stun.Message
	xor    stun.XORMappedAddress
	ip     [16]byte
}

// stunBufSize leaves room after any STUN message for the HMAC pion/stun
// appends while checking or adding MESSAGE-INTEGRITY (else it allocates).
const stunBufSize = 1500

func newSTUNResponder(ufrag, pwd string) *stunResponder {
	r := &stunResponder{prefix: []byte(ufrag + ":"), key: stun.NewShortTermIntegrity(pwd)}
	r.resp.Raw = make([]byte, 0, stunBufSize)
	return r
}

// answer checks a decoded Binding request (USERNAME ours, FINGERPRINT and
// MESSAGE-INTEGRITY with our password) and returns the success response to
// send back to from: XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY, FINGERPRINT.
// req.Raw should have spare capacity (stunBufSize).
func (s *stunResponder) answer(req *stun.Message, from netip.AddrPort) ([]byte, error) {
	user, err := req.Get(stun.AttrUsername)
	if err != nil {
		return nil, fmt.Errorf("check without USERNAME: %w", err)
	}
	if !bytes.HasPrefix(user, s.prefix) {
		return nil, fmt.Errorf("check for another agent (USERNAME %q)", user)
	}
	if err := stun.Fingerprint.Check(req); err != nil {
		return nil, fmt.Errorf("check's FINGERPRINT: %w", err)
	}
	if err := s.key.Check(req); err != nil {
		return nil, fmt.Errorf("check's MESSAGE-INTEGRITY: %w", err)
	}
	m := &s.resp
	m.Reset()
	m.Type = stun.BindingSuccess
	m.TransactionID = req.TransactionID
	m.WriteHeader()
	addr := from.Addr().Unmap()
	if addr.Is4() {
		a4 := addr.As4()
		s.xor.IP = append(s.ip[:0], a4[:]...)
	} else {
		a16 := addr.As16()
		s.xor.IP = append(s.ip[:0], a16[:]...)
	}
	s.xor.Port = int(from.Port())
	if err := s.xor.AddTo(m); err != nil {
		return nil, fmt.Errorf("build binding response: %w", err)
	}
	if err := s.key.AddTo(m); err != nil {
		return nil, fmt.Errorf("build binding response: %w", err)
	}
	if err := stun.Fingerprint.AddTo(m); err != nil {
		return nil, fmt.Errorf("build binding response: %w", err)
	}
	return m.Raw, nil
}

// keepConsent sends a Binding request to an ICE-lite gateway when one is
// due, which renews its consent to keep sending to us. The reader calls it
// (with the socket held, once detached).
func (v *Viewer) keepConsent(now time.Time) {
	c := v.consent.Load()
	if c == nil || now.Before(v.nextConsent) {
		return
	}
	v.nextConsent = now.Add(consentInterval)
	m, err := c.request()
	if err != nil {
		v.noteErr(fmt.Errorf("loadgen: ice: consent request: %w", err))
		return
	}
	if err := v.writeTo(m.Raw, c.remote); err != nil && !v.closing.Load() {
		v.noteErr(fmt.Errorf("loadgen: ice: consent request: %w", err))
	}
}

// iceCheck is the viewer's side of the check on the gateway's candidate.
type iceCheck struct {
	remote     netip.AddrPort
	username   string                // "serverUfrag:ourUfrag"
	key        stun.MessageIntegrity // short-term key: the server's ice-pwd
	priority   [4]byte
	tieBreaker [8]byte
}

func newICECheck(remote netip.AddrPort, remoteUfrag, remotePwd, localUfrag string) (*iceCheck, error) {
	tb, err := randomUint64()
	if err != nil {
		return nil, err
	}
	c := &iceCheck{remote: remote, username: remoteUfrag + ":" + localUfrag, key: stun.NewShortTermIntegrity(remotePwd)}
	binary.BigEndian.PutUint32(c.priority[:], hostPriority)
	binary.BigEndian.PutUint64(c.tieBreaker[:], tb)
	return c, nil
}

// request builds a nominating Binding request with a new transaction.
func (c *iceCheck) request() (*stun.Message, error) {
	return stun.Build(stun.TransactionID, stun.BindingRequest,
		stun.NewUsername(c.username),
		rawAttr{stun.AttrPriority, c.priority[:]},
		rawAttr{stun.AttrICEControlling, c.tieBreaker[:]},
		rawAttr{stun.AttrUseCandidate, nil},
		c.key, stun.Fingerprint)
}

// verify accepts a success response authenticated with the server's
// password; an error response is an error naming its code.
func (c *iceCheck) verify(m *stun.Message) error {
	if m.Type.Class == stun.ClassErrorResponse {
		var code stun.ErrorCodeAttribute
		if err := code.GetFrom(m); err != nil {
			return fmt.Errorf("binding error response without ERROR-CODE: %w", err)
		}
		return fmt.Errorf("binding error response %d %s", code.Code, code.Reason)
	}
	if err := stun.Fingerprint.Check(m); err != nil {
		return fmt.Errorf("binding response's FINGERPRINT: %w", err)
	}
	if err := c.key.Check(m); err != nil {
		return fmt.Errorf("binding response's MESSAGE-INTEGRITY: %w", err)
	}
	return nil
}

// connectICE sends nominating Binding requests to the gateway's candidate,
// retransmitting with backoff, until one sent after we answered a check of
// the gateway's succeeds: the gateway then holds our pair as succeeded and
// nominated (pion selects it), so DTLS can start. An ICE-lite gateway
// (lite) checks nothing: its first authentic success will do. Responses
// come from the reader goroutine through v.iceResp.
func (v *Viewer) connectICE(ctx context.Context, c *iceCheck, lite bool) error {
	sent := map[[stun.TransactionIDSize]byte]bool{} // transaction -> sent after we answered a check
	send := func() error {
		m, err := c.request()
		if err != nil {
			return fmt.Errorf("build binding request: %w", err)
		}
		sent[m.TransactionID] = v.answered.Load() > 0
		if _, err := v.conn.WriteToUDPAddrPort(m.Raw, c.remote); err != nil {
			return fmt.Errorf("send binding request: %w", err)
		}
		return nil
	}
	if err := send(); err != nil {
		return err
	}
	rto := iceRTO
	timer := time.NewTimer(rto)
	defer timer.Stop()
	succeeded := false // a response came, but to a request sent before we answered a check
	var resp stun.Message
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("no binding success from %s after %d requests (%d checks answered): %w",
				c.remote, len(sent), v.answered.Load(), ctx.Err())
		case <-v.checked:
			if succeeded {
				if err := send(); err != nil {
					return err
				}
			}
		case <-timer.C:
			rto = min(2*rto, iceMaxRTO)
			timer.Reset(rto)
			if err := send(); err != nil {
				return err
			}
		case raw := <-v.iceResp:
			resp.Raw = raw
			if err := resp.Decode(); err != nil {
				continue
			}
			after, ok := sent[resp.TransactionID]
			if !ok {
				continue // not ours, or not from this attempt
			}
			if err := c.verify(&resp); err != nil {
				if resp.Type.Class == stun.ClassErrorResponse {
					return err
				}
				continue // not authentic: wait for one that is
			}
			if after || lite {
				return nil
			}
			succeeded = true
			if v.answered.Load() > 0 {
				if err := send(); err != nil {
					return err
				}
			}
		}
	}
}
