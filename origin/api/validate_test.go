package api

import (
	"errors"
	"strings"
	"testing"
)

// TestValidation runs every field rule through the same path a POST takes
// (decode, defaults, Validate) and checks the field and the exact message.
func TestValidation(t *testing.T) {
	long := strings.Repeat("x", maxTextLen+1)
	many := `[` + strings.TrimSuffix(strings.Repeat(`"10.0.0.1",`, maxListLen+1), ",") + `]`
	tests := []struct {
		name, body, field, msg string
	}{
		// shape of the body
		{"empty", ``, "", "body must be a JSON object, and it is empty"},
		{"array", `[]`, "", "body must be a JSON object"},
		{"string", `"x"`, "", "body must be a JSON object"},
		{"syntax", `{"name":}`, "", "body is not valid JSON: invalid character '}' looking for beginning of value (at byte 9)"},
		{"truncated", `{"name":"a"`, "", "body is not valid JSON: it ends too early"},
		{"trailing", `{"name":"a"} {}`, "", "body must hold one JSON object and nothing after it"},
		// unknown fields, by exact name and full path
		{"unknown top", `{"name":"a","colour":1}`, "colour", "colour is not a known field (known: id, name, stream, security, webRtc, hls)"},
		{"wrong case", `{"name":"a","webrtc":{}}`, "webrtc", "webrtc is not a known field (known: id, name, stream, security, webRtc, hls)"},
		{"unknown nested", `{"name":"a","webRtc":{"src":{"apiUrl":"https://x","key":1}}}`, "webRtc.src.key", "webRtc.src.key is not a known field (known: name, accountId, apiUrl)"},
		{"unknown hls", `{"name":"a","hls":{"prio":1}}`, "hls.prio", "hls.prio is not a known field (known: priority)"},
		{"unknown security", `{"name":"a","security":{"token":true}}`, "security.token", "security.token is not a known field (known: tokenRequired, allowedIPs, blockedIPs, allowedReferrers)"},
		// types
		{"name type", `{"name":1}`, "name", "name must be a string"},
		{"security type", `{"name":"a","security":[]}`, "security", "security must be an object"},
		{"webRtc type", `{"name":"a","webRtc":true}`, "webRtc", "webRtc must be an object"},
		{"priority string", `{"name":"a","hls":{"priority":"1"}}`, "hls.priority", "hls.priority must be an integer"},
		{"priority fraction", `{"name":"a","webRtc":{"priority":0.5}}`, "webRtc.priority", "webRtc.priority must be an integer"},
		{"token type", `{"name":"a","security":{"tokenRequired":"yes"}}`, "security.tokenRequired", "security.tokenRequired must be true or false"},
		{"list type", `{"name":"a","security":{"allowedIPs":"10.0.0.0/8"}}`, "security.allowedIPs", "security.allowedIPs must be an array of strings"},
		{"list element type", `{"name":"a","security":{"blockedIPs":["10.0.0.0/8",7]}}`, "security.blockedIPs[1]", "security.blockedIPs[1] must be a string"},
		// name
		{"name missing", `{}`, "name", "name is required"},
		{"name null", `{"name":null}`, "name", "name is required"},
		{"name blank", `{"name":"  "}`, "name", "name is required"},
		{"name long", `{"name":"` + long + `"}`, "name", "name must be at most 256 bytes"},
		{"name control", `{"name":"a\u0007b"}`, "name", "name must be printable UTF-8 text"},
		// id and stream
		{"id given", `{"name":"a","id":"abc"}`, "id", "id is assigned by the server; leave it out"},
		{"stream other", `{"name":"a","stream":"other"}`, "stream", `stream must match the stream in the URL ("live") or be left out`},
		// priorities
		{"webRtc negative", `{"name":"a","webRtc":{"priority":-1}}`, "webRtc.priority", "webRtc.priority must be 0 or higher"},
		{"hls negative", `{"name":"a","hls":{"priority":-3}}`, "hls.priority", "hls.priority must be 0 or higher"},
		{"hls huge", `{"name":"a","hls":{"priority":1e400}}`, "hls.priority", "hls.priority must be at most 1000000"},
		{"webRtc too big", `{"name":"a","webRtc":{"priority":1000001}}`, "webRtc.priority", "webRtc.priority must be at most 1000000"},
		{"negative huge", `{"name":"a","webRtc":{"priority":-99999999999999999999}}`, "webRtc.priority", "webRtc.priority must be 0 or higher"},
		// webRtc.src
		{"apiUrl missing", `{"name":"a","webRtc":{"src":{"name":"s"}}}`, "webRtc.src.apiUrl", "webRtc.src.apiUrl is required when webRtc.src is given"},
		{"apiUrl relative", `{"name":"a","webRtc":{"src":{"apiUrl":"/whep/x"}}}`, "webRtc.src.apiUrl", "webRtc.src.apiUrl must be an absolute http or https URL, like https://cdn.example.com/whep/stream"},
		{"apiUrl scheme", `{"name":"a","webRtc":{"src":{"apiUrl":"ftp://x/y"}}}`, "webRtc.src.apiUrl", "webRtc.src.apiUrl must be an absolute http or https URL, like https://cdn.example.com/whep/stream"},
		{"apiUrl opaque", `{"name":"a","webRtc":{"src":{"apiUrl":"https:x"}}}`, "webRtc.src.apiUrl", "webRtc.src.apiUrl must be an absolute http or https URL, like https://cdn.example.com/whep/stream"},
		{"apiUrl credentials", `{"name":"a","webRtc":{"src":{"apiUrl":"https://u:p@x/whep"}}}`, "webRtc.src.apiUrl", "webRtc.src.apiUrl must not contain credentials (user:password@)"},
		{"apiUrl fragment", `{"name":"a","webRtc":{"src":{"apiUrl":"https://x/whep#a"}}}`, "webRtc.src.apiUrl", "webRtc.src.apiUrl must not contain a fragment (#...)"},
		{"apiUrl long", `{"name":"a","webRtc":{"src":{"apiUrl":"https://x/` + strings.Repeat("a", maxURLLen) + `"}}}`, "webRtc.src.apiUrl", "webRtc.src.apiUrl must be at most 2048 bytes"},
		{"src name long", `{"name":"a","webRtc":{"src":{"apiUrl":"https://x","name":"` + long + `"}}}`, "webRtc.src.name", "webRtc.src.name must be at most 256 bytes"},
		{"src account control", `{"name":"a","webRtc":{"src":{"apiUrl":"https://x","accountId":"a\nb"}}}`, "webRtc.src.accountId", "webRtc.src.accountId must be printable UTF-8 text"},
		{"src type", `{"name":"a","webRtc":{"src":"https://x"}}`, "webRtc.src", "webRtc.src must be an object"},
		// security
		{"allowed not ip", `{"name":"a","security":{"allowedIPs":["10.0.0.0/8","example.com"]}}`, "security.allowedIPs[1]", "security.allowedIPs[1] must be an IP address or CIDR prefix, like 203.0.113.0/24 or 2001:db8::/32"},
		{"allowed bad bits", `{"name":"a","security":{"allowedIPs":["10.0.0.0/33"]}}`, "security.allowedIPs[0]", "security.allowedIPs[0] must be an IP address or CIDR prefix, like 203.0.113.0/24 or 2001:db8::/32"},
		{"blocked zone", `{"name":"a","security":{"blockedIPs":["fe80::1%eth0"]}}`, "security.blockedIPs[0]", "security.blockedIPs[0] must be an IP address or CIDR prefix, like 203.0.113.0/24 or 2001:db8::/32"},
		{"blocked too many", `{"name":"a","security":{"blockedIPs":` + many + `}}`, "security.blockedIPs", "security.blockedIPs must have at most 256 entries"},
		{"referrer url", `{"name":"a","security":{"allowedReferrers":["https://example.com"]}}`, "security.allowedReferrers[0]", "security.allowedReferrers[0] must be a host name like example.com or *.example.com (no scheme, port or path)"},
		{"referrer port", `{"name":"a","security":{"allowedReferrers":["example.com:443"]}}`, "security.allowedReferrers[0]", "security.allowedReferrers[0] must be a host name like example.com or *.example.com (no scheme, port or path)"},
		{"referrer inner wildcard", `{"name":"a","security":{"allowedReferrers":["a.*.com"]}}`, "security.allowedReferrers[0]", "security.allowedReferrers[0] must be a host name like example.com or *.example.com (no scheme, port or path)"},
		{"referrer empty", `{"name":"a","security":{"allowedReferrers":["ok.com",""]}}`, "security.allowedReferrers[1]", "security.allowedReferrers[1] must be a host name like example.com or *.example.com (no scheme, port or path)"},
		{"referrer hyphen", `{"name":"a","security":{"allowedReferrers":["-a.com"]}}`, "security.allowedReferrers[0]", "security.allowedReferrers[0] must be a host name like example.com or *.example.com (no scheme, port or path)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := decodeCreate([]byte(tc.body), "live")
			if err == nil {
				err = Validate(&d)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FieldError", err)
			}
			if fe.Field != tc.field || fe.Message != tc.msg {
				t.Errorf("got field %q message %q\nwant field %q message %q", fe.Field, fe.Message, tc.field, tc.msg)
			}
		})
	}
}

// TestValidationAccepts checks bodies that must pass, and the defaults and
// normalization they get.
func TestValidationAccepts(t *testing.T) {
	tests := []struct {
		name, body string
		check      func(t *testing.T, d Distribution)
	}{
		{"minimal: no WebRTC, hls.priority 1, empty lists", `{"name":"main"}`, func(t *testing.T, d Distribution) {
			if d.WebRTC != nil || d.HLS.Priority != 1 || d.Stream != "live" {
				t.Errorf("got %+v", d)
			}
			if d.Security.AllowedIPs == nil || d.Security.BlockedIPs == nil || d.Security.AllowedReferrers == nil {
				t.Errorf("nil lists: %+v", d.Security)
			}
		}},
		{"webRtc without priority is 0, own WHEP", `{"name":"a","webRtc":{}}`, func(t *testing.T, d Distribution) {
			if d.WebRTC == nil || d.WebRTC.Priority != 0 || d.WebRTC.Src != nil {
				t.Errorf("got %+v", d.WebRTC)
			}
		}},
		{"explicit null webRtc and hls", `{"name":"a","webRtc":null,"hls":null}`, func(t *testing.T, d Distribution) {
			if d.WebRTC != nil || d.HLS.Priority != 1 {
				t.Errorf("got %+v", d)
			}
		}},
		{"zero priorities and 1e2", `{"name":"a","webRtc":{"priority":1e2},"hls":{"priority":0}}`, func(t *testing.T, d Distribution) {
			if d.WebRTC.Priority != 100 || d.HLS.Priority != 0 {
				t.Errorf("got %+v %+v", d.WebRTC, d.HLS)
			}
		}},
		{"stream equal to URL", `{"name":"a","stream":"live"}`, func(*testing.T, Distribution) {}},
		{"external source", `{"name":"a","webRtc":{"priority":0,"src":{"name":"s","accountId":"acc","apiUrl":"https://cdn.example.com/whep?x=1"}}}`,
			func(t *testing.T, d Distribution) {
				if d.WebRTC.Src == nil || d.WebRTC.Src.APIURL != "https://cdn.example.com/whep?x=1" || d.WebRTC.Src.AccountID != "acc" {
					t.Errorf("got %+v", d.WebRTC.Src)
				}
			}},
		{"security normalized", `{"name":"a","security":{"tokenRequired":true,"allowedIPs":["10.0.0.0/8","2001:db8::/32","192.0.2.7","::ffff:198.51.100.0/120"],"allowedReferrers":["Example.COM","*.example.org","localhost","127.0.0.1","::1"]}}`,
			func(t *testing.T, d Distribution) {
				got := strings.Join(d.Security.AllowedReferrers, " ")
				if got != "example.com *.example.org localhost 127.0.0.1 ::1" {
					t.Errorf("referrers = %q", got)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := decodeCreate([]byte(tc.body), "live")
			if err != nil {
				t.Fatal(err)
			}
			if err := Validate(&d); err != nil {
				t.Fatal(err)
			}
			tc.check(t, d)
		})
	}
}

func TestValidateStream(t *testing.T) {
	for _, s := range []string{"", ".", "..", "a/b", "a b", strings.Repeat("a", 65), "é"} {
		d := Distribution{Name: "a", Stream: s}
		var fe *FieldError
		if err := Validate(&d); !errors.As(err, &fe) || fe.Field != "stream" {
			t.Errorf("stream %q: err = %v, want a stream field error", s, err)
		}
	}
	for _, s := range []string{"a", "A-b_c.d", strings.Repeat("a", 64)} {
		if !ValidStreamName(s) {
			t.Errorf("ValidStreamName(%q) = false", s)
		}
	}
}
