package peer

import (
	"testing"

	"github.com/pion/stun/v4"
)

// FuzzICEHandle: arbitrary datagrams never panic; whatever Handle answers is
// a Binding response to the datagram's transaction that pion/stun decodes,
// with a valid FINGERPRINT; a success answers a check that was valid, and
// carries XOR-MAPPED-ADDRESS = from and MESSAGE-INTEGRITY with the local pwd.
func FuzzICEHandle(f *testing.F) {
	seeds := []iceReq{
		{},
		{useCandidate: true},
		{controlled: true},
		{noRole: true},
		{noIntegrity: true},
		{noUsername: true},
		{pwd: "NotTheGatewayPassword0123456789"},
		{username: iceLocal.Ufrag + ":OtherBrowser"},
		{before: []stun.Setter{stun.RawAttribute{Type: 0x7ffe, Value: []byte{1}}}},
		{afterMI: []stun.Setter{stun.NewSoftware("x")}},
		{class: stun.ClassIndication, noUsername: true, noIntegrity: true, noRole: true},
		{class: stun.ClassSuccessResponse},
	}
	for _, r := range seeds {
		raw, _ := iceBuild(f, iceLocal, iceRemoteUfrag, r)
		f.Add(raw, false)
		f.Add(raw, true)
	}
	f.Add([]byte{0x80, 0x60, 0, 1}, false)

	f.Fuzz(func(t *testing.T, data []byte, v6 bool) {
		from := iceFromV4
		if v6 {
			from = iceFromV6
		}
		a := NewICE(iceLocal, iceRemoteUfrag)
		in := append([]byte(nil), data...)
		out, chk, err := a.Handle(nil, data, from, iceT0)
		if string(in) != string(data) {
			t.Fatal("Handle modified its input")
		}
		if err != nil {
			if len(out) != 0 || chk != (Check{}) {
				t.Fatalf("error %v with %d response bytes and %+v", err, len(out), chk)
			}
			return
		}
		if len(out) == 0 {
			if chk != (Check{}) {
				t.Fatalf("no response, but %+v", chk)
			}
			return
		}
		req := new(stun.Message)
		if err := stun.Decode(data, req); err != nil {
			t.Fatalf("answered a datagram that does not decode: %v", err)
		}
		if req.Type != stun.BindingRequest {
			t.Fatalf("answered a %v", req.Type)
		}
		if chk.Valid != (chk.ErrorCode == 0) || chk.Selected && !chk.Nominated || chk.Nominated && !chk.Valid {
			t.Fatalf("inconsistent %+v", chk)
		}
		authed := chk.ErrorCode == 0 || chk.ErrorCode == 420 || chk.ErrorCode == 487
		iceCheckResponse(t, out, req, from, chk.ErrorCode, iceLocal.Pwd, authed)
		if chk.Valid {
			if err := stun.NewShortTermIntegrity(iceLocal.Pwd).Check(req); err != nil {
				t.Fatalf("accepted a check whose integrity fails: %v", err)
			}
			if sel, ok := a.Selected(); ok != chk.Nominated || ok && sel != from {
				t.Fatalf("Selected %v %v after %+v", sel, ok, chk)
			}
		}
	})
}
