package rtc

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestReceiveOnly(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	const video = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
	cases := []struct {
		name, offer string
		want, gone  []string // lines the result must have, and must not
		status      int      // a refusal's status, 0 for none
	}{
		{name: "sendrecv section", offer: head + video + "a=sendrecv\r\n",
			want: []string{"a=recvonly", "a=mid:0"}, gone: []string{"a=sendrecv"}},
		{name: "recvonly section kept", offer: head + video + "a=recvonly\r\n", want: []string{"a=recvonly"}},
		{name: "session-level sendrecv", offer: head + "a=sendrecv\r\n" + video,
			want: []string{"a=recvonly"}, gone: []string{"a=sendrecv"}},
		{name: "no direction: sendrecv by default", offer: head + video, want: []string{"a=recvonly"}},
		{name: "sendonly kept (the offer checks refuse it)", offer: head + video + "a=sendonly\r\n",
			want: []string{"a=sendonly"}, gone: []string{"a=recvonly"}},
		{name: "not SDP", offer: "hello", status: http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ReceiveOnly([]byte(tc.offer))
			if tc.status != 0 {
				var oe *OfferError
				if !errors.As(err, &oe) || oe.Status != tc.status {
					t.Fatalf("err %v, want a %d refusal", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w+"\r\n") {
					t.Errorf("result lacks %q:\n%s", w, out)
				}
			}
			for _, g := range tc.gone {
				if strings.Contains(string(out), g) {
					t.Errorf("result still has %q:\n%s", g, out)
				}
			}
		})
	}
}
