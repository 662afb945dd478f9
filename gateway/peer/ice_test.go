package peer

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/logging"
	"github.com/pion/stun/v4"

	"github.com/frontrow-live/frontrow/internal/race"
)

// The local (gateway) and remote (browser) credentials the tests use.
var (
	iceLocal       = Credentials{Ufrag: "GatewayUfrag0001", Pwd: "GatewayPassword0123456789abcdefgh"}
	iceRemoteUfrag = "BrowserUfrag"
	iceT0          = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	iceFromV4      = netip.MustParseAddrPort("192.0.2.10:50000")
	iceFromV4b     = netip.MustParseAddrPort("198.51.100.7:40001")
	iceFromV6      = netip.MustParseAddrPort("[2001:db8::1234]:61000")
)

// iceReq describes a Binding request as a browser builds one, with knobs to
// break it.
type iceReq struct {
	class        stun.MessageClass // zero value: request
	method       stun.Method       // 0: Binding
	username     string            // "" with noUsername false: local:remote of cr
	noUsername   bool
	pwd          string // key for MESSAGE-INTEGRITY; "" uses cr.Pwd
	noIntegrity  bool
	noFinger     bool
	useCandidate bool
	controlled   bool // ICE-CONTROLLED instead of ICE-CONTROLLING
	noRole       bool
	before       []stun.Setter // extra attributes before MESSAGE-INTEGRITY
	afterMI      []stun.Setter // extra attributes between MESSAGE-INTEGRITY and FINGERPRINT
}

// iceBuild builds r against credentials cr and remote ufrag, the way a full
// controlling agent (Chrome, pion/ice) does: USERNAME, ICE-CONTROLLING,
// PRIORITY, USE-CANDIDATE when nominating, MESSAGE-INTEGRITY keyed with the
// lite agent's password, FINGERPRINT. It returns the bytes and the message.
func iceBuild(t testing.TB, cr Credentials, remote string, r iceReq) ([]byte, *stun.Message) {
	t.Helper()
	method := r.method
	if method == 0 {
		method = stun.MethodBinding
	}
	setters := []stun.Setter{stun.TransactionID, stun.NewType(method, r.class)}
	if !r.noUsername {
		u := r.username
		if u == "" {
			u = cr.Ufrag + ":" + remote
		}
		setters = append(setters, stun.NewUsername(u))
	}
	switch {
	case r.noRole:
	case r.controlled:
		setters = append(setters, ice.AttrControlled(0x1234567890abcdef))
	default:
		setters = append(setters, ice.AttrControlling(0x1234567890abcdef))
	}
	setters = append(setters, ice.PriorityAttr(0x6e7f1eff))
	if r.useCandidate {
		setters = append(setters, ice.UseCandidate())
	}
	setters = append(setters, r.before...)
	if !r.noIntegrity {
		pwd := r.pwd
		if pwd == "" {
			pwd = cr.Pwd
		}
		setters = append(setters, stun.NewShortTermIntegrity(pwd))
	}
	setters = append(setters, r.afterMI...)
	if !r.noFinger {
		setters = append(setters, stun.Fingerprint)
	}
	m, err := stun.Build(setters...)
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	return append([]byte(nil), m.Raw...), m
}

// iceCheckResponse decodes resp as the browser would and verifies it answers
// req: a Binding response with req's transaction ID and a valid FINGERPRINT;
// then, for a success, XOR-MAPPED-ADDRESS = from and MESSAGE-INTEGRITY with
// pwd; for an error, the code, and MESSAGE-INTEGRITY with pwd if authed, none
// otherwise. It returns the decoded response.
func iceCheckResponse(t testing.TB, resp []byte, req *stun.Message, from netip.AddrPort, code int, pwd string, authed bool) *stun.Message {
	t.Helper()
	m := new(stun.Message)
	if err := stun.Decode(resp, m); err != nil {
		t.Fatalf("response does not decode: %v", err)
	}
	if m.TransactionID != req.TransactionID {
		t.Errorf("transaction ID %x, want %x", m.TransactionID, req.TransactionID)
	}
	if err := stun.Fingerprint.Check(m); err != nil {
		t.Errorf("response FINGERPRINT: %v", err)
	}
	if last := m.Attributes[len(m.Attributes)-1].Type; last != stun.AttrFingerprint {
		t.Errorf("last attribute %v, want FINGERPRINT", last)
	}
	if m.Contains(stun.AttrUsername) {
		t.Error("response carries USERNAME")
	}
	if code == 0 {
		if m.Type != stun.BindingSuccess {
			t.Fatalf("response type %v, want Binding success", m.Type)
		}
		var xma stun.XORMappedAddress
		if err := xma.GetFrom(m); err != nil {
			t.Fatalf("XOR-MAPPED-ADDRESS: %v", err)
		}
		ip, ok := netip.AddrFromSlice(xma.IP)
		if !ok {
			t.Fatalf("XOR-MAPPED-ADDRESS IP %v", xma.IP)
		}
		want := netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		if got := netip.AddrPortFrom(ip, uint16(xma.Port)); got != want {
			t.Errorf("XOR-MAPPED-ADDRESS %v, want %v", got, want)
		}
		if from.Addr().Unmap().Is4() != (len(xma.IP) == net.IPv4len) {
			t.Errorf("XOR-MAPPED-ADDRESS family: %d-byte IP for %v", len(xma.IP), from)
		}
		authed = true
	} else {
		if m.Type != stun.BindingError {
			t.Fatalf("response type %v, want Binding error", m.Type)
		}
		var ec stun.ErrorCodeAttribute
		if err := ec.GetFrom(m); err != nil {
			t.Fatalf("ERROR-CODE: %v", err)
		}
		if int(ec.Code) != code {
			t.Errorf("error code %d (%s), want %d", ec.Code, ec.Reason, code)
		}
		if len(ec.Reason) == 0 {
			t.Error("error response without a reason phrase")
		}
	}
	if authed {
		if err := stun.NewShortTermIntegrity(pwd).Check(m); err != nil {
			t.Errorf("response MESSAGE-INTEGRITY with the local pwd: %v", err)
		}
	} else if m.Contains(stun.AttrMessageIntegrity) {
		t.Error("error response to an unauthenticated request carries MESSAGE-INTEGRITY")
	}
	return m
}

func TestICEHandle(t *testing.T) {
	type want struct {
		err       error // errors.Is; no response then
		ignored   bool  // nil error, no response
		code      int   // error response code, 0 for success
		authed    bool  // error response carries MESSAGE-INTEGRITY
		nominated bool
	}
	unknownRequired := stun.RawAttribute{Type: 0x7ffe, Value: []byte{1, 2, 3, 4}}
	tests := []struct {
		name  string
		req   iceReq
		from  netip.AddrPort
		edit  func([]byte) []byte // applied to the built bytes
		want  want
		check func(t *testing.T, resp *stun.Message)
	}{
		{name: "valid check", req: iceReq{}, from: iceFromV4},
		{name: "valid nomination", req: iceReq{useCandidate: true}, from: iceFromV4, want: want{nominated: true}},
		{name: "valid IPv6", req: iceReq{useCandidate: true}, from: iceFromV6, want: want{nominated: true}},
		{name: "IPv4-mapped source answered as IPv4", req: iceReq{}, from: netip.MustParseAddrPort("[::ffff:192.0.2.99]:1234")},
		{name: "no ICE-CONTROLLING tolerated", req: iceReq{noRole: true}, from: iceFromV4},
		{
			name: "unknown comprehension-optional attribute ignored",
			req:  iceReq{before: []stun.Setter{stun.RawAttribute{Type: 0xc057, Value: []byte{0, 1, 0, 0}}}},
			from: iceFromV4,
		},
		{
			name: "attribute after MESSAGE-INTEGRITY ignored",
			req:  iceReq{afterMI: []stun.Setter{stun.NewSoftware("after integrity")}},
			from: iceFromV4,
		},
		{name: "wrong password", req: iceReq{pwd: "NotTheGatewayPassword0123456789"}, from: iceFromV4, want: want{code: 401}},
		{name: "wrong local ufrag", req: iceReq{username: "SomeoneElse0001:" + iceRemoteUfrag}, from: iceFromV4, want: want{code: 401}},
		{name: "wrong remote ufrag", req: iceReq{username: iceLocal.Ufrag + ":OtherBrowser"}, from: iceFromV4, want: want{code: 401}},
		{name: "USERNAME without colon", req: iceReq{username: iceLocal.Ufrag}, from: iceFromV4, want: want{code: 401}},
		{name: "USERNAME is a prefix", req: iceReq{username: iceLocal.Ufrag[:4] + ":" + iceRemoteUfrag}, from: iceFromV4, want: want{code: 401}},
		{name: "missing USERNAME", req: iceReq{noUsername: true}, from: iceFromV4, want: want{code: 400}},
		{name: "missing MESSAGE-INTEGRITY", req: iceReq{noIntegrity: true}, from: iceFromV4, want: want{code: 400}},
		{
			name: "unknown comprehension-required attribute",
			req:  iceReq{before: []stun.Setter{unknownRequired}},
			from: iceFromV4,
			want: want{code: 420, authed: true},
			check: func(t *testing.T, resp *stun.Message) {
				var ua stun.UnknownAttributes
				if err := ua.GetFrom(resp); err != nil {
					t.Fatalf("UNKNOWN-ATTRIBUTES: %v", err)
				}
				if len(ua) != 1 || ua[0] != unknownRequired.Type {
					t.Errorf("UNKNOWN-ATTRIBUTES %v, want [%v]", ua, unknownRequired.Type)
				}
			},
		},
		{name: "ICE-CONTROLLED: role conflict", req: iceReq{controlled: true, useCandidate: true}, from: iceFromV4, want: want{code: 487, authed: true}},
		{name: "missing FINGERPRINT", req: iceReq{noFinger: true}, from: iceFromV4, want: want{err: ErrFingerprint}},
		{
			name: "bad FINGERPRINT",
			req:  iceReq{useCandidate: true},
			from: iceFromV4,
			edit: func(b []byte) []byte { b[len(b)-1] ^= 0x01; return b },
			want: want{err: ErrFingerprint},
		},
		{
			name: "bad integrity and bad FINGERPRINT: dropped, not 401",
			req:  iceReq{pwd: "NotTheGatewayPassword0123456789"},
			from: iceFromV4,
			edit: func(b []byte) []byte { b[len(b)-2] ^= 0x80; return b },
			want: want{err: ErrFingerprint},
		},
		{
			name: "truncated",
			req:  iceReq{},
			from: iceFromV4,
			edit: func(b []byte) []byte { return b[:len(b)-4] },
			want: want{err: ErrMalformed},
		},
		{
			name: "truncated inside the header",
			req:  iceReq{},
			from: iceFromV4,
			edit: func(b []byte) []byte { return b[:19] },
			want: want{err: ErrNotSTUN},
		},
		{
			name: "trailing bytes",
			req:  iceReq{},
			from: iceFromV4,
			edit: func(b []byte) []byte { return append(b, 0, 0, 0, 0) },
			want: want{err: ErrMalformed},
		},
		{
			name: "too large",
			req:  iceReq{before: []stun.Setter{stun.RawAttribute{Type: 0xc0ff, Value: make([]byte, 1600)}}},
			from: iceFromV4,
			want: want{err: ErrMalformed},
		},
		{
			name: "top bits set",
			req:  iceReq{},
			from: iceFromV4,
			edit: func(b []byte) []byte { b[0] |= 0x40; return b },
			want: want{err: ErrNotSTUN},
		},
		{
			name: "not STUN: RTP",
			from: iceFromV4,
			edit: func([]byte) []byte { return append([]byte{0x80, 0x60, 0, 1}, make([]byte, 40)...) },
			want: want{err: ErrNotSTUN},
		},
		{
			name: "not STUN: DTLS",
			from: iceFromV4,
			edit: func([]byte) []byte { return append([]byte{22, 0xfe, 0xfd}, make([]byte, 60)...) },
			want: want{err: ErrNotSTUN},
		},
		{name: "success response ignored", req: iceReq{class: stun.ClassSuccessResponse}, from: iceFromV4, want: want{ignored: true}},
		{name: "error response ignored", req: iceReq{class: stun.ClassErrorResponse}, from: iceFromV4, want: want{ignored: true}},
		{
			name: "binding indication (keepalive) ignored",
			req:  iceReq{class: stun.ClassIndication, noUsername: true, noIntegrity: true, noRole: true},
			from: iceFromV4,
			want: want{ignored: true},
		},
		{name: "other method ignored", req: iceReq{method: stun.MethodAllocate}, from: iceFromV4, want: want{ignored: true}},
		{name: "invalid source address", req: iceReq{}, from: netip.AddrPort{}, want: want{err: ErrNoAddress}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := NewICE(iceLocal, iceRemoteUfrag)
			raw, req := iceBuild(t, iceLocal, iceRemoteUfrag, tc.req)
			if tc.edit != nil {
				raw = tc.edit(raw)
			}
			prefix := []byte("keep")
			out, chk, err := a.Handle(append([]byte(nil), prefix...), raw, tc.from, iceT0)
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("Handle dropped what dst held: %q", out)
			}
			resp := out[len(prefix):]
			w := tc.want
			switch {
			case w.err != nil:
				if !errors.Is(err, w.err) {
					t.Fatalf("error %v, want %v", err, w.err)
				}
				if len(resp) != 0 {
					t.Errorf("dropped datagram answered with %d bytes", len(resp))
				}
			case w.ignored:
				if err != nil || len(resp) != 0 {
					t.Fatalf("ignored message: err %v, %d response bytes", err, len(resp))
				}
			default:
				if err != nil {
					t.Fatalf("Handle: %v", err)
				}
				if len(resp) == 0 {
					t.Fatal("no response")
				}
				m := iceCheckResponse(t, resp, req, tc.from, w.code, iceLocal.Pwd, w.authed)
				if tc.check != nil {
					tc.check(t, m)
				}
			}
			valid := w.err == nil && !w.ignored && w.code == 0
			if chk.Valid != valid || chk.Nominated != w.nominated || chk.Selected != w.nominated || chk.ErrorCode != w.code {
				t.Errorf("check %+v, want valid %v, nominated/selected %v, code %d", chk, valid, w.nominated, w.code)
			}
			if got := a.LastCheck(); valid != got.Equal(iceT0) || !valid && !got.IsZero() {
				t.Errorf("LastCheck %v after a check with valid=%v", got, valid)
			}
			sel, ok := a.Selected()
			if ok != w.nominated || ok && sel != tc.from {
				t.Errorf("Selected %v %v, want %v if nominated (%v)", sel, ok, tc.from, w.nominated)
			}
		})
	}
}

// A check whose username matches when the remote ufrag is not known yet.
func TestICEEmptyRemoteUfragAcceptsAnyRemotePart(t *testing.T) {
	a := NewICE(iceLocal, "")
	raw, req := iceBuild(t, iceLocal, "AnyBrowser", iceReq{})
	resp, chk, err := a.Handle(nil, raw, iceFromV4, iceT0)
	if err != nil || !chk.Valid {
		t.Fatalf("Handle: %+v %v", chk, err)
	}
	iceCheckResponse(t, resp, req, iceFromV4, 0, iceLocal.Pwd, true)
}

// Empty local credentials authenticate nothing, not everything.
func TestICEEmptyCredentialsAcceptNothing(t *testing.T) {
	for _, cr := range []Credentials{{Ufrag: "", Pwd: iceLocal.Pwd}, {Ufrag: iceLocal.Ufrag, Pwd: ""}} {
		a := NewICE(cr, iceRemoteUfrag)
		// The peer uses the same (empty) credentials, so only the rule
		// that empty ones authenticate nothing refuses the check.
		raw, _ := iceBuild(t, cr, iceRemoteUfrag, iceReq{})
		_, chk, err := a.Handle(nil, raw, iceFromV4, iceT0)
		if err != nil || chk.Valid || chk.ErrorCode != 401 {
			t.Errorf("credentials %+v: check %+v, err %v; want 401", cr, chk, err)
		}
	}
}

func TestICESelectedFollowsLatestNomination(t *testing.T) {
	a := NewICE(iceLocal, iceRemoteUfrag)
	steps := []struct {
		from         netip.AddrPort
		useCandidate bool
		wantSelected bool // Check.Selected
		want         netip.AddrPort
	}{
		// Checks without USE-CANDIDATE select nothing (RFC 8445 section 12.1.1).
		{from: iceFromV4},
		{from: iceFromV4b},
		{from: iceFromV4, useCandidate: true, wantSelected: true, want: iceFromV4},
		// The same nomination again does not move it.
		{from: iceFromV4, useCandidate: true, want: iceFromV4},
		// A plain check from elsewhere does not move it.
		{from: iceFromV4b, want: iceFromV4},
		// A later nomination from another address does.
		{from: iceFromV4b, useCandidate: true, wantSelected: true, want: iceFromV4b},
		{from: iceFromV6, useCandidate: true, wantSelected: true, want: iceFromV6},
	}
	for n, s := range steps {
		raw, req := iceBuild(t, iceLocal, iceRemoteUfrag, iceReq{useCandidate: s.useCandidate})
		resp, chk, err := a.Handle(nil, raw, s.from, iceT0.Add(time.Duration(n)*time.Second))
		if err != nil || !chk.Valid {
			t.Fatalf("step %d: %+v %v", n, chk, err)
		}
		iceCheckResponse(t, resp, req, s.from, 0, iceLocal.Pwd, true)
		if chk.Nominated != s.useCandidate || chk.Selected != s.wantSelected {
			t.Errorf("step %d: check %+v, want nominated %v selected %v", n, chk, s.useCandidate, s.wantSelected)
		}
		sel, ok := a.Selected()
		if ok != s.want.IsValid() || sel != s.want {
			t.Errorf("step %d: Selected %v %v, want %v", n, sel, ok, s.want)
		}
	}
}

func TestICELastCheck(t *testing.T) {
	a := NewICE(iceLocal, iceRemoteUfrag)
	if !a.LastCheck().IsZero() {
		t.Fatalf("LastCheck %v before any check", a.LastCheck())
	}
	steps := []struct {
		req  iceReq
		at   time.Time
		want time.Time
	}{
		{req: iceReq{pwd: "NotTheGatewayPassword0123456789"}, at: iceT0, want: time.Time{}},
		{req: iceReq{controlled: true}, at: iceT0, want: time.Time{}},
		{req: iceReq{class: stun.ClassIndication, noUsername: true, noIntegrity: true, noRole: true}, at: iceT0, want: time.Time{}},
		{req: iceReq{}, at: iceT0.Add(time.Second), want: iceT0.Add(time.Second)},
		{req: iceReq{useCandidate: true}, at: iceT0.Add(5 * time.Second), want: iceT0.Add(5 * time.Second)},
		// An invalid check later does not refresh consent.
		{req: iceReq{noIntegrity: true}, at: iceT0.Add(9 * time.Second), want: iceT0.Add(5 * time.Second)},
		// A check handed over with an older time does not move it back.
		{req: iceReq{}, at: iceT0.Add(3 * time.Second), want: iceT0.Add(5 * time.Second)},
	}
	for n, s := range steps {
		raw, _ := iceBuild(t, iceLocal, iceRemoteUfrag, s.req)
		if _, _, err := a.Handle(nil, raw, iceFromV4, s.at); err != nil {
			t.Fatalf("step %d: %v", n, err)
		}
		if got := a.LastCheck(); !got.Equal(s.want) {
			t.Errorf("step %d: LastCheck %v, want %v", n, got, s.want)
		}
	}
}

func TestICERestart(t *testing.T) {
	gen2 := Credentials{Ufrag: "SecondGatewayUfr", Pwd: "SecondGatewayPassword0123456789xy"}
	gen3 := Credentials{Ufrag: "ThirdGatewayUfra", Pwd: "ThirdGatewayPassword0123456789xyz"}
	type gen struct {
		cr     Credentials
		remote string
	}
	g1 := gen{iceLocal, iceRemoteUfrag}
	g2 := gen{gen2, "BrowserUfrag2"}
	g3 := gen{gen3, "BrowserUfrag3"}
	type step struct {
		restart      *gen // Restart before the check
		check        gen
		from         netip.AddrPort
		useCandidate bool
		wantCode     int // 0: valid
		wantSel      netip.AddrPort
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "old answered until the first new valid check",
			steps: []step{
				{check: g1, from: iceFromV4, useCandidate: true, wantSel: iceFromV4},
				{restart: &g2, check: g1, from: iceFromV4, wantSel: iceFromV4},
				// The old generation still nominates during the restart.
				{check: g1, from: iceFromV6, useCandidate: true, wantSel: iceFromV6},
				// The first new check is valid, but the selected pair stays
				// until the new generation nominates (RFC 8445 section 12.1).
				{check: g2, from: iceFromV4b, wantSel: iceFromV6},
				{check: g1, from: iceFromV6, wantCode: 401, wantSel: iceFromV6},
				{check: g2, from: iceFromV4b, useCandidate: true, wantSel: iceFromV4b},
				{check: g1, from: iceFromV6, useCandidate: true, wantCode: 401, wantSel: iceFromV4b},
			},
		},
		{
			name: "the old password with the new ufrag is refused",
			steps: []step{
				{check: g1, from: iceFromV4, useCandidate: true, wantSel: iceFromV4},
				{restart: &g2, check: gen{Credentials{Ufrag: gen2.Ufrag, Pwd: iceLocal.Pwd}, g2.remote}, from: iceFromV4, wantCode: 401, wantSel: iceFromV4},
				{check: gen{g1.cr, g2.remote}, from: iceFromV4, wantCode: 401, wantSel: iceFromV4},
			},
		},
		{
			name: "a restart of an unused restart keeps the generation carrying media",
			steps: []step{
				{check: g1, from: iceFromV4, useCandidate: true, wantSel: iceFromV4},
				{restart: &g2, check: g1, from: iceFromV4, wantSel: iceFromV4},
				{restart: &g3, check: g1, from: iceFromV4, wantSel: iceFromV4},
				{check: g2, from: iceFromV4, wantCode: 401, wantSel: iceFromV4},
				{check: g3, from: iceFromV4b, useCandidate: true, wantSel: iceFromV4b},
				{check: g1, from: iceFromV4, wantCode: 401, wantSel: iceFromV4b},
			},
		},
		{
			name: "a generation that never connected is not kept",
			steps: []step{
				{restart: &g2, check: g1, from: iceFromV4, wantCode: 401},
				{check: g2, from: iceFromV4, useCandidate: true, wantSel: iceFromV4},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := NewICE(g1.cr, g1.remote)
			for n, s := range tc.steps {
				if s.restart != nil {
					a.Restart(s.restart.cr, s.restart.remote)
					if a.Local() != s.restart.cr {
						t.Fatalf("step %d: Local %+v after Restart", n, a.Local())
					}
				}
				raw, req := iceBuild(t, s.check.cr, s.check.remote, iceReq{useCandidate: s.useCandidate})
				resp, chk, err := a.Handle(nil, raw, s.from, iceT0)
				if err != nil {
					t.Fatalf("step %d: %v", n, err)
				}
				if chk.ErrorCode != s.wantCode || chk.Valid != (s.wantCode == 0) {
					t.Fatalf("step %d: check %+v, want code %d", n, chk, s.wantCode)
				}
				// A valid answer is keyed with the password of the
				// generation that authenticated the check.
				iceCheckResponse(t, resp, req, s.from, s.wantCode, s.check.cr.Pwd, false)
				sel, _ := a.Selected()
				if sel != s.wantSel {
					t.Errorf("step %d: Selected %v, want %v", n, sel, s.wantSel)
				}
			}
		})
	}
}

func TestNewCredentials(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		c, err := NewCredentials()
		if err != nil {
			t.Fatal(err)
		}
		// RFC 8839 section 5.4: ufrag 4-256, pwd 22-256 ice-chars.
		if len(c.Ufrag) < 4 || len(c.Ufrag) > 256 || len(c.Pwd) < 22 || len(c.Pwd) > 256 {
			t.Fatalf("lengths %d, %d", len(c.Ufrag), len(c.Pwd))
		}
		for _, s := range []string{c.Ufrag, c.Pwd} {
			if strings.Trim(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/") != "" {
				t.Fatalf("%q has characters outside ice-char", s)
			}
		}
		if seen[c.Ufrag] || seen[c.Pwd] {
			t.Fatalf("repeated credentials %+v", c)
		}
		seen[c.Ufrag], seen[c.Pwd] = true, true
	}
}

// The credentials NewCredentials makes work end to end.
func TestNewCredentialsAuthenticate(t *testing.T) {
	cr, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	a := NewICE(cr, iceRemoteUfrag)
	raw, req := iceBuild(t, cr, iceRemoteUfrag, iceReq{useCandidate: true})
	resp, chk, err := a.Handle(nil, raw, iceFromV4, iceT0)
	if err != nil || !chk.Nominated {
		t.Fatalf("%+v %v", chk, err)
	}
	iceCheckResponse(t, resp, req, iceFromV4, 0, cr.Pwd, true)
}

// Handle copies msg before appending, so a caller may answer into the buffer
// it read the check into.
func TestICEHandleDstSharesMsg(t *testing.T) {
	a := NewICE(iceLocal, iceRemoteUfrag)
	raw, req := iceBuild(t, iceLocal, iceRemoteUfrag, iceReq{useCandidate: true})
	buf := make([]byte, len(raw), 1500)
	copy(buf, raw)
	resp, chk, err := a.Handle(buf[:0], buf, iceFromV6, iceT0)
	if err != nil || !chk.Valid {
		t.Fatalf("%+v %v", chk, err)
	}
	iceCheckResponse(t, resp, req, iceFromV6, 0, iceLocal.Pwd, true)
}

// Handle allocates no more than pion/stun does for the same work: decoding
// the request into a reused message, verifying its FINGERPRINT and
// MESSAGE-INTEGRITY, and building the answer into a reused message.
//
// The race detector makes sync.Pool, which pion/stun's HMAC uses, drop items
// at random, so allocations are only counted without it.
func TestAllocsICEHandle(t *testing.T) {
	if race.Enabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	raw, _ := iceBuild(t, iceLocal, iceRemoteUfrag, iceReq{useCandidate: true})
	key := stun.NewShortTermIntegrity(iceLocal.Pwd)
	req, resp := new(stun.Message), new(stun.Message)
	req.Raw = make([]byte, 0, 2048)
	resp.Raw = make([]byte, 0, 256)
	ip := net.IP(make([]byte, 4))
	out := make([]byte, 0, 256)
	pion := testing.AllocsPerRun(200, func() {
		if err := stun.Decode(raw, req); err != nil {
			t.Fatal(err)
		}
		if stun.Fingerprint.Check(req) != nil || key.Check(req) != nil {
			t.Fatal("request does not verify")
		}
		resp.Reset()
		resp.Type = stun.BindingSuccess
		resp.TransactionID = req.TransactionID
		resp.WriteHeader()
		_ = stun.XORMappedAddress{IP: ip, Port: 1}.AddTo(resp)
		_ = key.AddTo(resp)
		_ = stun.Fingerprint.AddTo(resp)
		out = append(out[:0], resp.Raw...)
	})

	a := NewICE(iceLocal, iceRemoteUfrag)
	ours := testing.AllocsPerRun(200, func() {
		var chk Check
		var err error
		out, chk, err = a.Handle(out[:0], raw, iceFromV4, iceT0)
		if err != nil || !chk.Valid {
			t.Fatalf("%+v %v", chk, err)
		}
	})
	t.Logf("allocations per valid check: Handle %.0f, pion/stun alone %.0f", ours, pion)
	if ours > pion {
		t.Errorf("Handle allocates %.0f times per check, pion/stun alone %.0f", ours, pion)
	}
}

func BenchmarkICEHandle(b *testing.B) {
	raw, _ := iceBuild(b, iceLocal, iceRemoteUfrag, iceReq{useCandidate: true})
	a := NewICE(iceLocal, iceRemoteUfrag)
	out := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if out, _, err = a.Handle(out[:0], raw, iceFromV4, iceT0); err != nil {
			b.Fatal(err)
		}
	}
}

// Handle, Restart, Selected, LastCheck and Local from several goroutines
// (run with -race).
func TestICEConcurrentUse(t *testing.T) {
	a := NewICE(iceLocal, iceRemoteUfrag)
	raw, _ := iceBuild(t, iceLocal, iceRemoteUfrag, iceReq{useCandidate: true})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		var out []byte
		for n := range 300 {
			var err error
			out, _, err = a.Handle(out[:0], raw, iceFromV4, iceT0.Add(time.Duration(n)))
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 300 {
			a.Selected()
			a.LastCheck()
			a.Local()
		}
	}()
	go func() {
		defer wg.Done()
		for range 20 {
			a.Restart(iceLocal, iceRemoteUfrag)
		}
	}()
	wg.Wait()
	if sel, ok := a.Selected(); !ok || sel != iceFromV4 {
		t.Errorf("Selected %v %v", sel, ok)
	}
}

// A real full ICE agent, pion/ice in the controlling role against an
// ICE-lite answer, connects to an ICE over loopback UDP: its checks are
// answered, it nominates, and media sent to Selected reaches it.
func TestICEPionAgentConnects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()

	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	gatewayAddr := pc.LocalAddr().(*net.UDPAddr).AddrPort()

	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	agent, err := ice.NewAgentWithOptions(
		ice.WithNetworkTypes([]ice.NetworkType{ice.NetworkTypeUDP4}),
		ice.WithCandidateTypes([]ice.CandidateType{ice.CandidateTypeHost}),
		ice.WithIncludeLoopback(),
		ice.WithIPFilter(func(ip net.IP) bool { return ip.IsLoopback() }),
		ice.WithMulticastDNSMode(ice.MulticastDNSModeDisabled),
		ice.WithLoggerFactory(lf),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	browserUfrag, _, err := agent.GetLocalUserCredentials()
	if err != nil {
		t.Fatal(err)
	}
	local, err := NewCredentials()
	if err != nil {
		t.Fatal(err)
	}
	lite := NewICE(local, browserUfrag)

	// The gateway's socket loop: answer checks, report the nomination.
	nominated := make(chan netip.AddrPort, 1)
	served := make(chan struct{})
	go func() {
		defer close(served)
		buf := make([]byte, 1500)
		var out []byte
		for {
			n, from, err := pc.ReadFromUDPAddrPort(buf)
			if err != nil {
				return // closed
			}
			var chk Check
			out, chk, err = lite.Handle(out[:0], buf[:n], from, time.Now())
			if err != nil {
				t.Errorf("Handle from %v: %v", from, err)
				continue
			}
			if chk.ErrorCode != 0 {
				t.Errorf("pion/ice check from %v refused with %d", from, chk.ErrorCode)
			}
			if len(out) > 0 {
				if _, err := pc.WriteToUDPAddrPort(out, from); err != nil {
					t.Errorf("writing response: %v", err)
				}
			}
			if chk.Selected {
				select {
				case nominated <- from:
				default:
				}
			}
		}
	}()
	defer func() { pc.Close(); <-served }()

	if err := agent.OnCandidate(func(ice.Candidate) {}); err != nil {
		t.Fatal(err)
	}
	if err := agent.GatherCandidates(); err != nil {
		t.Fatal(err)
	}
	remote, err := ice.NewCandidateHost(&ice.CandidateHostConfig{
		Network: "udp", Address: gatewayAddr.Addr().String(), Port: int(gatewayAddr.Port()), Component: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := agent.AddRemoteCandidate(remote); err != nil {
		t.Fatal(err)
	}
	if err := agent.SetRemoteICELite(true); err != nil {
		t.Fatal(err)
	}
	conn, err := agent.Dial(ctx, local.Ufrag, local.Pwd)
	if err != nil {
		t.Fatalf("pion/ice Dial: %v", err)
	}

	var from netip.AddrPort
	select {
	case from = <-nominated:
	case <-ctx.Done():
		t.Fatal("no nomination from pion/ice")
	}
	sel, ok := lite.Selected()
	if !ok || sel != from {
		t.Fatalf("Selected %v %v, nomination came from %v", sel, ok, from)
	}
	pair, err := agent.GetSelectedCandidatePair()
	if err != nil || pair == nil {
		t.Fatalf("pion/ice selected pair: %v %v", pair, err)
	}
	if got := netip.AddrPortFrom(netip.MustParseAddr(pair.Local.Address()), uint16(pair.Local.Port())); got != sel {
		t.Errorf("pion/ice sends from %v, gateway selected %v", got, sel)
	}
	if lite.LastCheck().IsZero() {
		t.Error("LastCheck zero after a connection")
	}

	// Media to the selected address reaches the agent's connection.
	media := []byte{0x80, 0x60, 0x00, 0x01, 'm', 'e', 'd', 'i', 'a'}
	got := make(chan []byte, 1)
	go func() {
		b := make([]byte, 100)
		n, err := conn.Read(b)
		if err != nil {
			got <- nil
			return
		}
		got <- b[:n]
	}()
	if _, err := pc.WriteToUDPAddrPort(media, sel); err != nil {
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, media) {
			t.Errorf("agent read %x, want %x", b, media)
		}
	case <-ctx.Done():
		t.Fatal("media sent to Selected did not reach pion/ice")
	}
}
