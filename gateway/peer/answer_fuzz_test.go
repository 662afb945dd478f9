package peer

import (
	"errors"
	"strconv"
	"testing"

	"github.com/pion/sdp/v3"

	"github.com/frontrow-live/frontrow/gateway/rtc"
)

// FuzzAnswer: whatever a client POSTs, Answer never panics; it refuses
// with an offer error (a 4xx for the client), or answers with SDP that
// parses, every accepted section of which names a payload type the offer
// had.
func FuzzAnswer(f *testing.F) {
	f.Add([]byte(fxChromiumOffer("recvonly")))
	f.Add([]byte(fxChromiumOffer("sendrecv")))
	f.Add([]byte(fxFirefoxOffer()))
	f.Add([]byte(fxSession("0 1") + fxVideo("0", "recvonly", "96", "a=rtpmap:96 H264/90000",
		"a=fmtp:96 packetization-mode=1;profile-level-id=42e01f") + fxApplication("1", "a=sctp-port:5000")))
	f.Add([]byte("v=0\r\n"))
	f.Fuzz(func(t *testing.T, offer []byte) {
		cfg := ansConfig()
		cfg.DataChannel = true
		answer, neg, err := Answer(offer, cfg)
		if err != nil {
			var oe *rtc.OfferError
			if !errors.As(err, &oe) || oe.Status < 400 || oe.Status > 499 {
				t.Fatalf("refusal %v is not a client error", err)
			}
			return
		}
		var sd sdp.SessionDescription
		if err := sd.Unmarshal(answer); err != nil {
			t.Fatalf("answer does not parse: %v\n%s", err, answer)
		}
		var off sdp.SessionDescription
		if err := off.Unmarshal(offer); err != nil {
			t.Fatalf("an offer that does not parse was answered: %v", err)
		}
		for _, s := range []*Section{neg.Video, neg.Audio} {
			if s == nil {
				continue
			}
			found := false
			for _, m := range off.MediaDescriptions {
				for _, f := range m.MediaName.Formats {
					found = found || f == strconv.Itoa(int(s.PayloadType))
				}
			}
			if !found {
				t.Fatalf("answered payload type %d that the offer lacks", s.PayloadType)
			}
		}
	})
}
