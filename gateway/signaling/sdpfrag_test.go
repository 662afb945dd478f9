package signaling

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// The trickle fragment of RFC 8840 section 4.4 (and RFC 9725 section 4.3.1),
// as browsers' WHIP/WHEP clients send it.
const trickleFrag = "a=ice-ufrag:EsAw\n" +
	"a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\n" +
	"a=group:BUNDLE 0 1\n" +
	"m=audio 9 RTP/AVP 0\n" +
	"a=mid:0\n" +
	"a=candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1\n" +
	"a=candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2\n" +
	"a=candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag EsAw network-id 1\n" +
	"a=end-of-candidates\n"

func TestParseFragment(t *testing.T) {
	const c1 = "candidate:1387637174 1 udp 2122260223 192.0.2.1 61764 typ host generation 0 ufrag EsAw network-id 1"
	const c2 = "candidate:3471623853 1 udp 2122194687 198.51.100.2 61765 typ host generation 0 ufrag EsAw network-id 2"
	const c3 = "candidate:473322822 1 tcp 1518280447 192.0.2.1 9 typ host tcptype active generation 0 ufrag EsAw network-id 1"
	trickle := fragment{ufrag: "EsAw", pwd: "P2uYro0UCOQ4zxjKXaWCBui1", candidates: []fragCandidate{
		{mid: "0", candidate: c1}, {mid: "0", candidate: c2}, {mid: "0", candidate: c3},
	}}
	manyLines := func(n int) string {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, "a=candidate:%d 1 udp 2122260223 192.0.2.1 %d typ host\r\n", i, 10000+i)
		}
		return b.String()
	}
	tests := []struct {
		name string
		body string
		want fragment
		// wantCandidates, when not -1, checks only the count (for long bodies).
		wantCandidates int
	}{
		{name: "trickle with LF", body: trickleFrag, want: trickle, wantCandidates: -1},
		{name: "trickle with CRLF", body: strings.ReplaceAll(trickleFrag, "\n", "\r\n"), want: trickle, wantCandidates: -1},
		{name: "trickle without final newline", body: strings.TrimSuffix(trickleFrag, "\n"), want: trickle, wantCandidates: -1},
		{
			name: "end-of-candidates only", body: "a=ice-ufrag:EsAw\r\na=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1\r\nm=audio 9 RTP/AVP 0\r\na=mid:0\r\na=end-of-candidates\r\n",
			want: fragment{ufrag: "EsAw", pwd: "P2uYro0UCOQ4zxjKXaWCBui1"}, wantCandidates: -1,
		},
		{
			name: "candidates of two media sections",
			body: "a=ice-ufrag:u\nm=audio 9 RTP/AVP 0\na=mid:a\na=candidate:1 1 udp 1 192.0.2.1 1 typ host\n" +
				"m=video 9 RTP/AVP 0\na=mid:v\na=candidate:2 1 udp 1 192.0.2.1 2 typ host\n",
			want: fragment{ufrag: "u", candidates: []fragCandidate{
				{mid: "a", candidate: "candidate:1 1 udp 1 192.0.2.1 1 typ host"},
				{mid: "v", candidate: "candidate:2 1 udp 1 192.0.2.1 2 typ host"},
			}},
			wantCandidates: -1,
		},
		{
			name:           "an m= line without a mid forgets the previous mid",
			body:           "m=audio 9 RTP/AVP 0\na=mid:0\nm=video 9 RTP/AVP 0\na=candidate:2 1 udp 1 192.0.2.1 2 typ host\n",
			want:           fragment{candidates: []fragCandidate{{mid: "", candidate: "candidate:2 1 udp 1 192.0.2.1 2 typ host"}}},
			wantCandidates: -1,
		},
		{
			name:           "candidates without any m= line",
			body:           "a=candidate:1 1 udp 1 192.0.2.1 1 typ host\n",
			want:           fragment{candidates: []fragCandidate{{candidate: "candidate:1 1 udp 1 192.0.2.1 1 typ host"}}},
			wantCandidates: -1,
		},
		{
			name: "ICE restart credentials only",
			body: "a=ice-ufrag:new1\r\na=ice-pwd:newpassword0123456789012\r\n",
			want: fragment{ufrag: "new1", pwd: "newpassword0123456789012"}, wantCandidates: -1,
		},
		{
			name:           "surrounding spaces and tabs are trimmed",
			body:           "  a=ice-ufrag:EsAw \t\r\n\ta=candidate:1 1 udp 1 192.0.2.1 1 typ host  \r\n",
			want:           fragment{ufrag: "EsAw", candidates: []fragCandidate{{candidate: "candidate:1 1 udp 1 192.0.2.1 1 typ host"}}},
			wantCandidates: -1,
		},
		{
			name: "other lines are ignored",
			body: "v=0\r\na=ice-options:trickle\r\na=group:BUNDLE 0\r\nb=AS:30\r\na=candidate-x:1\r\nA=candidate:1 1 udp 1 x 1 typ host\r\n",
			want: fragment{}, wantCandidates: -1,
		},
		{name: "empty", body: "", want: fragment{}, wantCandidates: -1},
		{name: "blank lines", body: "\r\n\n\r\n", want: fragment{}, wantCandidates: -1},
		{name: "at the line bound", body: manyLines(maxFragLines), wantCandidates: maxFragLines},
		{name: "over the line bound", body: manyLines(3 * maxFragLines), wantCandidates: maxFragLines},
		{
			name: "credentials after the line bound are not read",
			body: manyLines(maxFragLines) + "a=ice-ufrag:late\r\n", wantCandidates: maxFragLines,
			want: fragment{}, // checked: no ufrag
		},
		{
			name:           "a line longer than the scanner buffer ends parsing",
			body:           "a=candidate:1 1 udp 1 192.0.2.1 1 typ host\n" + strings.Repeat("x", 70<<10) + "\na=candidate:2 1 udp 1 192.0.2.1 2 typ host\n",
			want:           fragment{candidates: []fragCandidate{{candidate: "candidate:1 1 udp 1 192.0.2.1 1 typ host"}}},
			wantCandidates: -1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseFragment([]byte(tc.body))
			if tc.wantCandidates >= 0 {
				if len(got.candidates) != tc.wantCandidates || got.ufrag != tc.want.ufrag {
					t.Fatalf("%d candidates, ufrag %q; want %d, %q", len(got.candidates), got.ufrag, tc.wantCandidates, tc.want.ufrag)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("parseFragment =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

// FuzzParseFragment: PATCH bodies come from clients. No input panics, the
// result stays bounded, every candidate is a "candidate:" line, and line
// endings do not matter.
func FuzzParseFragment(f *testing.F) {
	f.Add([]byte(trickleFrag))
	f.Add([]byte(strings.ReplaceAll(trickleFrag, "\n", "\r\n")))
	f.Add([]byte("a=ice-ufrag:new1\r\na=ice-pwd:newpassword0123456789012\r\n"))
	f.Add([]byte("m=audio 9 RTP/AVP 0\na=mid:0\nm=video 9 RTP/AVP 0\na=candidate:2 1 udp 1 192.0.2.1 2 typ host\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got := parseFragment(body)
		if len(got.candidates) > maxFragLines {
			t.Fatalf("%d candidates from at most %d lines", len(got.candidates), maxFragLines)
		}
		for _, c := range got.candidates {
			if !strings.HasPrefix(c.candidate, "candidate:") || strings.Contains(c.candidate, "\n") {
				t.Fatalf("candidate %q", c.candidate)
			}
			if strings.Contains(c.mid, "\n") {
				t.Fatalf("mid %q", c.mid)
			}
		}
		if strings.Contains(got.ufrag+got.pwd, "\n") {
			t.Fatalf("ufrag %q pwd %q span lines", got.ufrag, got.pwd)
		}
		if len(body) < 4096 {
			lf := parseFragment([]byte(strings.ReplaceAll(string(body), "\r\n", "\n")))
			if !reflect.DeepEqual(got, lf) {
				t.Fatalf("CRLF and LF bodies parse differently:\n%+v\n%+v", got, lf)
			}
		}
	})
}
