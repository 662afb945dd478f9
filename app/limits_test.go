package app

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/frontrow-live/frontrow/gateway/signaling"
)

func request(remote string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/whep/a", nil)
	r.RemoteAddr = remote
	return r
}

func wantRefusal(t *testing.T, what string, err error, status, retry int) {
	t.Helper()
	var r *signaling.Refusal
	if !errors.As(err, &r) {
		t.Fatalf("%s: %v, want a refusal", what, err)
	}
	if r.Status != status || r.Retry != retry {
		t.Fatalf("%s: status %d Retry-After %d, want %d, %d", what, r.Status, r.Retry, status, retry)
	}
}

// A shutting-down gateway refuses new sessions, WebRTC and RTMP alike.
func TestAdmissionDraining(t *testing.T) {
	draining := false
	ad := newAdmission(DefaultLimits(), func() bool { return draining })
	rel, err := ad.viewer(request("192.0.2.1:1"), "a")
	if err != nil {
		t.Fatal(err)
	}
	draining = true
	_, err = ad.viewer(request("192.0.2.1:1"), "a")
	wantRefusal(t, "viewer while draining", err, http.StatusServiceUnavailable, retryShutdown)
	_, err = ad.publisher(request("192.0.2.1:1"), "a")
	wantRefusal(t, "publisher while draining", err, http.StatusServiceUnavailable, retryShutdown)
	if _, err := ad.rtmpPublisher("a", "192.0.2.1:1"); !errors.Is(err, errShuttingDown) {
		t.Fatalf("RTMP publisher while draining: %v", err)
	}
	rel()
	if n := ad.viewers.Count(); n != 0 {
		t.Fatalf("%d viewer slots held after release", n)
	}
}

// Addresses of one IPv6 /64 share a count; a refusal takes nothing.
func TestAdmissionPerIP(t *testing.T) {
	ad := newAdmission(Limits{SessionsPerIP: 1, Viewers: 5}.withDefaults(), func() bool { return false })
	if _, err := ad.viewer(request("[2001:db8:0:1::1]:5000"), "a"); err != nil {
		t.Fatal(err)
	}
	_, err := ad.viewer(request("[2001:db8:0:1::2]:5000"), "a")
	wantRefusal(t, "same /64", err, http.StatusTooManyRequests, retryPerIP)
	if _, err := ad.viewer(request("[2001:db8:0:2::1]:5000"), "a"); err != nil {
		t.Fatalf("another /64: %v", err)
	}
	if n := ad.viewers.Count(); n != 2 {
		t.Fatalf("%d viewer slots held, want 2 (a refusal must take none)", n)
	}
}
