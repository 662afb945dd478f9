package rtc

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

// FuzzCheckOffer: offers come from anyone who can reach the endpoint. No
// input panics; a refusal is always an *OfferError with a client status and
// a reason; an accepted offer has audio or video. Seeds: the offers of the
// unit tests here and real-looking ones in testdata/fuzz/FuzzCheckOffer.
func FuzzCheckOffer(f *testing.F) {
	for _, o := range []string{
		chromiumOffer("sendonly"), chromiumOffer("recvonly"), firefoxOffer(), obsOffer(),
		session("0") + videoSection("0", "sendonly", "96", "a=rtpmap:96 VP8/90000"),
	} {
		f.Add([]byte(o), false)
		f.Add([]byte(o), true)
	}
	f.Fuzz(func(t *testing.T, offer []byte, viewer bool) {
		role := RolePublisher
		if viewer {
			role = RoleViewer
		}
		info, err := CheckOffer(offer, role)
		if err != nil {
			var oe *OfferError
			if !errors.As(err, &oe) {
				t.Fatalf("refusal %T %v is not an *OfferError", err, err)
			}
			if oe.Status != http.StatusBadRequest && oe.Status != http.StatusNotAcceptable {
				t.Fatalf("refusal status %d, want 400 or 406", oe.Status)
			}
			if strings.TrimSpace(oe.Msg) == "" {
				t.Fatal("refusal without a reason")
			}
			return
		}
		if !info.Audio && !info.Video {
			t.Fatalf("accepted an offer with neither audio nor video: %q", offer)
		}
	})
}
