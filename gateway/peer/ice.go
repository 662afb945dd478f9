package peer

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/stun/v4"
)

// Credential lengths, in characters. RFC 8839 section 5.4 asks for at least 4
// (ufrag) and 22 (pwd) ice-chars; RFC 8445 section 5.3 for at least 24 and
// 128 bits of randomness. Alphanumeric characters carry 5.95 bits each, so 16
// and 32 give 95 and 190 bits: the ufrag is long enough to tell sessions
// apart on a shared port, the password far past the minimum.
const (
	iceUfragLen = 16
	icePwdLen   = 32
)

// iceChars is the subset of RFC 8839's ice-char (ALPHA / DIGIT / "+" / "/")
// used for generated credentials: "+" and "/" are legal but need escaping in
// some signalling paths, and nothing is gained by them.
const iceChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// maxSTUNSize bounds the datagrams Handle decodes. A connectivity check is
// about 100 bytes; RFC 8489 section 6.2.1 keeps STUN over UDP under the path
// MTU, so anything larger than an Ethernet payload is not a check, and
// refusing it keeps the reused decode buffer from growing without bound.
const maxSTUNSize = 1500

// Credentials are one ICE generation's username fragment and password.
type Credentials struct{ Ufrag, Pwd string }

// NewCredentials makes random credentials from crypto/rand: a 16-character
// ufrag and a 32-character pwd, both alphanumeric, which meets RFC 8839
// section 5.4 (ufrag >= 4, pwd >= 22 ice-chars) and RFC 8445 section 5.3
// (>= 24 and >= 128 random bits).
func NewCredentials() (Credentials, error) {
	ufrag, err := randomICEChars(iceUfragLen)
	if err != nil {
		return Credentials{}, fmt.Errorf("peer: generating ICE ufrag: %w", err)
	}
	pwd, err := randomICEChars(icePwdLen)
	if err != nil {
		return Credentials{}, fmt.Errorf("peer: generating ICE pwd: %w", err)
	}
	return Credentials{Ufrag: ufrag, Pwd: pwd}, nil
}

// randomICEChars returns n characters drawn uniformly from iceChars. Bytes at
// or above 248 (the largest multiple of 62 that fits a byte) are rejected so
// every character is equally likely; each 64-byte read yields about 62
// characters, and the read count is bounded all the same.
func randomICEChars(n int) (string, error) {
	const limit = 256 - 256%len(iceChars)
	out := make([]byte, 0, n)
	var buf [64]byte
	for reads := 0; len(out) < n; reads++ {
		if reads == 64 {
			return "", errors.New("random source yields too few usable bytes")
		}
		if _, err := rand.Read(buf[:]); err != nil {
			return "", err
		}
		for _, b := range buf {
			if int(b) >= limit {
				continue
			}
			out = append(out, iceChars[int(b)%len(iceChars)])
			if len(out) == n {
				break
			}
		}
	}
	return string(out), nil
}

// Errors Handle returns for a datagram it drops without an answer.
var (
	// ErrNotSTUN: the datagram is not a STUN message (RFC 8489 section 6:
	// first two bits zero, magic cookie, at least a header).
	ErrNotSTUN = errors.New("peer: not a STUN message")
	// ErrMalformed: it looks like STUN but does not decode, its length
	// field disagrees with the datagram, or it is larger than any check.
	ErrMalformed = errors.New("peer: malformed STUN message")
	// ErrFingerprint: a Binding request whose FINGERPRINT is missing, not
	// last, or wrong. ICE uses the FINGERPRINT mechanism (RFC 8445 section
	// 7.3), and RFC 8489 section 6.3 discards such messages silently.
	ErrFingerprint = errors.New("peer: STUN request without a valid FINGERPRINT")
	// ErrNoAddress: Handle was given an invalid source address.
	ErrNoAddress = errors.New("peer: invalid source address")
)

var errTooLarge = fmt.Errorf("%w: larger than %d bytes", ErrMalformed, maxSTUNSize)

// Error response codes and their RFC 8489 section 14.8 / RFC 8445 section
// 16.2 reason phrases.
const (
	stunBadRequest       = 400
	stunUnauthenticated  = 401
	stunUnknownAttribute = 420
	stunRoleConflict     = 487
)

var (
	reasonStunBadRequest       = []byte("Bad Request")
	reasonStunUnauthenticated  = []byte("Unauthenticated")
	reasonStunUnknownAttribute = []byte("Unknown Attribute")
	reasonStunRoleConflict     = []byte("Role Conflict")
)

// maxUnknownAttrs bounds the UNKNOWN-ATTRIBUTES list of a 420 response; a check
// carries a handful of attributes, so only a broken peer reaches it.
const maxUnknownAttrs = 16

// Check is what Handle did with one datagram.
type Check struct {
	// Valid: the datagram was a Binding request authenticated with the
	// current credentials (or, during a restart, the previous ones) and
	// accepted; a success response was appended and LastCheck moved.
	Valid bool
	// Nominated: Valid, and the request carried USE-CANDIDATE (RFC 8445
	// section 7.3.2): the peer nominated the pair ending at from.
	Nominated bool
	// Selected: this check moved the selected address to from (the first
	// nomination, or a nomination from a new address). Media goes there.
	Selected bool
	// ErrorCode is the code of the error response appended (400, 401, 420
	// or 487), 0 when the answer is a success or there is none.
	ErrorCode int
}

// iceGeneration is one set of ICE credentials (RFC 8445 section 9): the local
// ones the peer authenticates checks with, and the peer's ufrag.
type iceGeneration struct {
	local  Credentials
	key    stun.MessageIntegrity // local.Pwd as a short-term key, converted once
	remote string                // "" accepts any remote part of USERNAME
	used   bool                  // a valid check has arrived with these credentials
}

func newICEGeneration(local Credentials, remoteUfrag string) iceGeneration {
	return iceGeneration{
		local:  local,
		key:    stun.NewShortTermIntegrity(local.Pwd),
		remote: remoteUfrag,
	}
}

// accepts reports whether USERNAME value user names this generation:
// "<local ufrag>:<remote ufrag>". RFC 8445 section 7.3 makes the local part
// the test; the remote part is compared too when known, so a check meant for
// another generation of the peer is refused. A generation with an empty ufrag
// or password accepts nothing.
func (g *iceGeneration) accepts(user []byte) bool {
	l := g.local.Ufrag
	if l == "" || g.local.Pwd == "" {
		return false
	}
	if len(user) <= len(l) || string(user[:len(l)]) != l || user[len(l)] != ':' {
		return false
	}
	return g.remote == "" || string(user[len(l)+1:]) == g.remote
}

// ICE answers one session's connectivity checks as an ICE-lite agent (RFC
// 8445 sections 2.5, 6.1.1: always controlled, it never sends a check) and
// keeps what the session needs from them: the selected remote address and
// the time of the last valid check.
//
// The peer is a full agent in the controlling role, a browser. It nominates a
// pair by sending a check with USE-CANDIDATE; the lite agent takes the latest
// accepted nomination as its selected pair (sections 7.3.2, 8.2). There is no
// fallback to an address that was merely checked: section 12.1.1 forbids a
// lite agent to send media before a pair is in its valid list, and only a
// nomination puts one there. Regular nomination (the only kind RFC 8445 has)
// always ends with one: the controlling agent repeats a check that succeeded,
// with USE-CANDIDATE (section 8.1.1).
//
// Consent (RFC 7675) is the sender's to verify, with checks of its own; a
// lite agent sends none, so LastCheck, the time of the latest valid check
// from the peer, stands in for it: browsers send a consent check every few
// seconds, and the caller stops sending media after RFC 7675's 30 s without
// one.
//
// An ICE is safe for concurrent use: one goroutine can Handle while others
// read Selected and LastCheck or Restart. Handle itself makes no allocation
// beyond those pion/stun makes decoding a check and building its answer.
type ICE struct {
	mu       sync.Mutex
	cur      iceGeneration
	prev     iceGeneration // still answered during a restart, if hasPrev
	hasPrev  bool
	selected netip.AddrPort
	last     time.Time

	req, resp stun.Message      // reused for every datagram
	ip        [net.IPv6len]byte // XOR-MAPPED-ADDRESS value without allocating
	unknown   stun.UnknownAttributes
}

// NewICE returns an ICE-lite agent for one session answering checks
// authenticated with local and addressed from the peer's remoteUfrag (its
// a=ice-ufrag). An empty remoteUfrag accepts any remote part of USERNAME.
func NewICE(local Credentials, remoteUfrag string) *ICE {
	i := &ICE{cur: newICEGeneration(local, remoteUfrag)}
	// Room for the largest datagram Handle decodes plus the HMAC that
	// pion/stun's integrity check appends past the message.
	i.req.Raw = make([]byte, 0, maxSTUNSize+64)
	i.resp.Raw = make([]byte, 0, 256)
	i.unknown = make(stun.UnknownAttributes, 0, maxUnknownAttrs)
	return i
}

// Local returns the current local credentials.
func (i *ICE) Local() Credentials {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.cur.local
}

// Selected returns where media goes: the source of the latest accepted check
// with USE-CANDIDATE. It reports false until the peer nominates. A restart
// keeps it until a check of either generation nominates another address (RFC
// 8445 section 12.1: the previous selected pair stands while ICE runs again).
func (i *ICE) Selected() (netip.AddrPort, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.selected, i.selected.IsValid()
}

// LastCheck returns the time of the latest valid check, zero before any.
func (i *ICE) LastCheck() time.Time {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.last
}

// Restart switches to a new local generation and a new remote ufrag (an ICE
// restart, RFC 8445 section 9, which WHEP, like WHIP (RFC 9725), carries in
// a PATCH). Checks with the generation that last carried media are still
// answered, so media keeps flowing, until the first valid check with the new
// credentials; from then on only the new ones are. A generation that never
// had a valid check is not kept: restarting it again drops it.
func (i *ICE) Restart(local Credentials, remoteUfrag string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cur.used {
		i.prev, i.hasPrev = i.cur, true
	}
	i.cur = newICEGeneration(local, remoteUfrag)
}

// Handle processes one datagram from `from` that the caller demultiplexed as
// STUN (first byte 0-3, RFC 7983 section 7). It appends the response to send
// back to from, if any, to dst and returns it, with what the check did. msg
// is copied before anything is appended, so dst may share its backing array.
//
// A Binding request is answered: success (XOR-MAPPED-ADDRESS = from,
// MESSAGE-INTEGRITY, FINGERPRINT) when valid, else an error response per RFC
// 8489 (see Check.ErrorCode). Indications (keepalives, RFC 8445 section 11),
// responses (a lite agent sends no requests to match them against) and other
// methods get nothing and a nil error. A datagram dropped as invalid returns
// one of ErrNotSTUN, ErrMalformed, ErrFingerprint or ErrNoAddress, and dst
// unchanged.
func (i *ICE) Handle(dst []byte, msg []byte, from netip.AddrPort, now time.Time) ([]byte, Check, error) {
	if !from.IsValid() {
		return dst, Check{}, ErrNoAddress
	}
	// RFC 8489 section 6: the two top bits of a STUN message are zero, and
	// it carries the magic cookie (stun.IsMessage: header length, cookie).
	if !stun.IsMessage(msg) || msg[0]&0xc0 != 0 {
		return dst, Check{}, ErrNotSTUN
	}
	if len(msg) > maxSTUNSize {
		return dst, Check{}, errTooLarge
	}

	i.mu.Lock()
	defer i.mu.Unlock()

	req := &i.req
	if err := stun.Decode(msg, req); err != nil {
		return dst, Check{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if len(req.Raw) != stunHeaderSize+int(req.Length) {
		return dst, Check{}, fmt.Errorf("%w: length field %d, datagram %d bytes", ErrMalformed, req.Length, len(req.Raw))
	}
	if req.Type.Method != stun.MethodBinding || req.Type.Class != stun.ClassRequest {
		// Binding indications are keepalives and get no answer (RFC 8445
		// section 11). A lite agent has no transaction for a response to
		// match, and ICE uses no other method (section 7): answering one
		// would only make the port a reflector.
		return dst, Check{}, nil
	}
	if !fingerprintValid(req) {
		return dst, Check{}, ErrFingerprint
	}

	// Authentication: RFC 8489 section 9.1.3 (short-term credentials), as
	// RFC 8445 section 7.3 requires for checks. Both refusals carry no
	// MESSAGE-INTEGRITY: the request gave no key the agent can trust.
	user, err := req.Get(stun.AttrUsername)
	if err != nil || !req.Contains(stun.AttrMessageIntegrity) {
		// No USERNAME or no MESSAGE-INTEGRITY: 400. ICE authenticates with
		// MESSAGE-INTEGRITY (HMAC-SHA1); a MESSAGE-INTEGRITY-SHA256, which
		// no ICE agent sends and pion/stun v4 cannot verify, does not
		// stand in for it and is otherwise ignored.
		return i.refuse(dst, stunBadRequest, nil)
	}
	g := i.authenticate(user)
	if g == nil {
		// Unknown USERNAME or an integrity that does not verify: 401.
		return i.refuse(dst, stunUnauthenticated, nil)
	}

	// From here the request is authenticated and every answer carries
	// MESSAGE-INTEGRITY with the key that verified it (RFC 8489 section
	// 9.1.3). RFC 8489 section 6.3.1: comprehension-required attributes the
	// agent does not understand get 420 with UNKNOWN-ATTRIBUTES;
	// known-but-unexpected ones are ignored.
	i.unknown = i.unknown[:0]
	for _, a := range req.Attributes {
		if !understoodAttr(a.Type) && len(i.unknown) < maxUnknownAttrs {
			i.unknown = append(i.unknown, a.Type)
		}
	}
	if len(i.unknown) > 0 {
		return i.refuse(dst, stunUnknownAttribute, g.key)
	}

	// Roles. RFC 8445 section 6.1.1 makes a lite agent facing a full one the
	// controlled agent, for good: it cannot control, for it sends no checks.
	// ICE-CONTROLLING is what it expects. ICE-CONTROLLED means the peer
	// believes it is controlled too; the repair in section 7.3.1.1 is
	// written for full agents, and this agent applies it as if its
	// tiebreaker were below every other: it keeps its role and answers 487
	// Role Conflict, upon which the peer switches to controlling and checks
	// again (section 7.2.5.1). The refused check neither refreshes consent
	// nor nominates. A request with neither attribute (which section 7.1.3
	// does not allow) is accepted, as pion/ice does.
	if req.Contains(stun.AttrICEControlled) {
		return i.refuse(dst, stunRoleConflict, g.key)
	}

	out, err := i.respond(dst, stun.ClassSuccessResponse, 0, g.key, from)
	if err != nil {
		return dst, Check{}, err
	}
	chk := Check{Valid: true}
	if now.After(i.last) {
		i.last = now
	}
	g.used = true
	if g == &i.cur && i.hasPrev {
		// The first valid check with the new credentials ends the restart.
		i.prev, i.hasPrev = iceGeneration{}, false
	}
	if req.Contains(stun.AttrUseCandidate) {
		chk.Nominated = true
		if i.selected != from {
			i.selected = from
			chk.Selected = true
		}
	}
	return out, chk, nil
}

// stunHeaderSize is the fixed STUN header (RFC 8489 section 5).
const stunHeaderSize = 20

// fingerprintValid reports whether m ends with a FINGERPRINT that matches
// (RFC 8489 section 14.7: it is the last attribute). pion/stun computes the
// CRC over everything before the message's last 8 bytes, so a FINGERPRINT
// followed by attributes it dropped on decoding fails as well.
func fingerprintValid(m *stun.Message) bool {
	n := len(m.Attributes)
	if n == 0 || m.Attributes[n-1].Type != stun.AttrFingerprint {
		return false
	}
	for _, a := range m.Attributes[:n-1] {
		if a.Type == stun.AttrFingerprint {
			return false
		}
	}
	return stun.Fingerprint.Check(m) == nil
}

// authenticate returns the generation whose USERNAME matches user and whose
// password verifies the request's MESSAGE-INTEGRITY: the current one, or the
// previous one during a restart. nil if none.
func (i *ICE) authenticate(user []byte) *iceGeneration {
	if i.cur.accepts(user) && i.cur.key.Check(&i.req) == nil {
		return &i.cur
	}
	if i.hasPrev && i.prev.accepts(user) && i.prev.key.Check(&i.req) == nil {
		return &i.prev
	}
	return nil
}

// understoodAttr reports whether this agent understands attribute type t in a
// Binding request. Comprehension-optional ones (0x8000-0xFFFF) may be
// ignored (RFC 8489 section 14); of the required range it knows RFC 8489's
// own (section 18.3) and ICE's PRIORITY and USE-CANDIDATE (RFC 8445
// section 16.1). PRIORITY matters only to a full agent learning a
// peer-reflexive candidate (section 7.3.1.3), so a lite agent reads it but
// does not require it.
func understoodAttr(t stun.AttrType) bool {
	switch t {
	case stun.AttrMappedAddress, stun.AttrUsername, stun.AttrMessageIntegrity,
		stun.AttrErrorCode, stun.AttrUnknownAttributes, stun.AttrRealm,
		stun.AttrNonce, stun.AttrMessageIntegritySHA256,
		stun.AttrPasswordAlgorithm, stun.AttrUserhash,
		stun.AttrXORMappedAddress, stun.AttrPriority, stun.AttrUseCandidate:
		return true
	}
	return t.Optional()
}

// refuse appends an error response with code, carrying MESSAGE-INTEGRITY
// keyed with key unless key is nil (an unauthenticated request); a 420 lists
// i.unknown.
func (i *ICE) refuse(dst []byte, code int, key stun.MessageIntegrity) ([]byte, Check, error) {
	out, err := i.respond(dst, stun.ClassErrorResponse, code, key, netip.AddrPort{})
	if err != nil {
		return dst, Check{}, err
	}
	return out, Check{ErrorCode: code}, nil
}

// respond builds the answer to i.req in i.resp and appends it to dst:
// a success with XOR-MAPPED-ADDRESS = from, or an error with code, then
// MESSAGE-INTEGRITY when key is not nil, then FINGERPRINT (RFC 8445 section
// 7.3). Never USERNAME (RFC 8489 section 9.1.3).
func (i *ICE) respond(dst []byte, class stun.MessageClass, code int, key stun.MessageIntegrity, from netip.AddrPort) ([]byte, error) {
	r := &i.resp
	r.Reset()
	r.Type = stun.NewType(stun.MethodBinding, class)
	r.TransactionID = i.req.TransactionID
	r.WriteHeader()

	if class == stun.ClassSuccessResponse {
		// The peer's own view of its address: an IPv4 peer reaching a
		// dual-stack socket shows up as ::ffff:a.b.c.d and is told its
		// IPv4 address.
		addr := from.Addr().Unmap()
		var ip net.IP
		if addr.Is4() {
			a := addr.As4()
			ip = i.ip[:net.IPv4len]
			copy(ip, a[:])
		} else {
			a := addr.As16()
			ip = i.ip[:]
			copy(ip, a[:])
		}
		xma := stun.XORMappedAddress{IP: ip, Port: int(from.Port())}
		if err := xma.AddTo(r); err != nil {
			return dst, fmt.Errorf("peer: adding XOR-MAPPED-ADDRESS: %w", err)
		}
	} else {
		ec := stun.ErrorCodeAttribute{Code: stun.ErrorCode(code), Reason: stunReason(code)}
		if err := ec.AddTo(r); err != nil {
			return dst, fmt.Errorf("peer: adding ERROR-CODE %d: %w", code, err)
		}
		if code == stunUnknownAttribute {
			if err := i.unknown.AddTo(r); err != nil {
				return dst, fmt.Errorf("peer: adding UNKNOWN-ATTRIBUTES: %w", err)
			}
		}
	}
	if key != nil {
		if err := key.AddTo(r); err != nil {
			return dst, fmt.Errorf("peer: adding MESSAGE-INTEGRITY: %w", err)
		}
	}
	if err := stun.Fingerprint.AddTo(r); err != nil {
		return dst, fmt.Errorf("peer: adding FINGERPRINT: %w", err)
	}
	return append(dst, r.Raw...), nil
}

func stunReason(code int) []byte {
	switch code {
	case stunBadRequest:
		return reasonStunBadRequest
	case stunUnauthenticated:
		return reasonStunUnauthenticated
	case stunUnknownAttribute:
		return reasonStunUnknownAttribute
	case stunRoleConflict:
		return reasonStunRoleConflict
	}
	return nil
}
