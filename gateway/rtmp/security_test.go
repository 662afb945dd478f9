package rtmp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/codecs"

	"github.com/frontrow-live/frontrow/packager"
)

// selfSigned makes a certificate for 127.0.0.1 that expires in an hour.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "frontrow test"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// publishH264 publishes one H264 keyframe as key ("cam?token=...") over
// rtmp or rtmps. A refused publisher may get as far as writing before the
// server closes the connection: then the error is nil, and waitRefused
// tells.
func publishH264(t *testing.T, addr net.Addr, scheme, key string) error {
	_, err := publishH264Conn(t, addr, scheme, key)
	return err
}

// waitRefused publishes as key and waits for the server to close the
// connection.
func waitRefused(t *testing.T, addr net.Addr, key string) {
	t.Helper()
	if c, err := publishH264Conn(t, addr, "rtmp", key); err == nil {
		waitClosed(t, c.NetConn(), key)
	}
}

func publishH264Conn(t *testing.T, addr net.Addr, scheme, key string) (*gortmplib.Client, error) {
	t.Helper()
	u, err := url.Parse(fmt.Sprintf("%s://%s/%s#%s", scheme, addr, AppName, key))
	if err != nil {
		t.Fatal(err)
	}
	c := &gortmplib.Client{URL: u, Publish: true, TLSConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // the test's own self-signed certificate
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := c.Initialize(ctx); err != nil {
		return nil, err
	}
	t.Cleanup(c.Close)
	_ = c.NetConn().SetDeadline(time.Now().Add(waitTimeout))
	video := &gortmplib.Track{Codec: &codecs.H264{SPS: testSPS, PPS: testPPS}}
	w := &gortmplib.Writer{Conn: c, Tracks: []*gortmplib.Track{video}}
	if err := w.Initialize(); err != nil {
		return nil, err
	}
	return c, w.WriteH264(video, 0, 0, [][]byte{testIDR})
}

// Per-stream tokens: each stream takes its own token only; streams with no
// token of their own take the fallback.
func TestServerPerStreamToken(t *testing.T) {
	tokens := map[string]string{"cam1": "one", "cam2": "two"}
	ts := startTestServer(t, Config{Token: func(s string) string {
		if tok, ok := tokens[s]; ok {
			return tok
		}
		return "fallback"
	}})
	for _, tc := range []struct {
		stream, token string
		ok            bool
	}{
		{"cam1", "two", false},
		{"cam2", "one", false},
		{"cam3", "one", false},
		{"cam1", "fallback", false},
		{"cam1", "one", true},
		{"cam2", "two", true},
		{"cam3", "fallback", true},
	} {
		key := tc.stream + "?token=" + tc.token
		if tc.ok {
			if err := publishH264(t, ts.Addr(), "rtmp", key); err != nil {
				t.Fatalf("%s with token %q: %v", tc.stream, tc.token, err)
			}
			ts.waitLive(t, tc.stream, true)
			continue
		}
		waitRefused(t, ts.Addr(), key)
		if _, ok := ts.reg.Get(tc.stream); ok {
			t.Fatalf("%s exists after a publish with token %q", tc.stream, tc.token)
		}
	}
	for _, tok := range []string{"one", "two", "fallback"} {
		if strings.Contains(ts.logs.String(), "token="+tok) {
			t.Fatalf("token %q reached the log", tok)
		}
	}
}

// Admit refuses a publisher with its reason, and its release runs when an
// admitted publisher leaves.
func TestServerAdmit(t *testing.T) {
	released := make(chan string, 1)
	ts := startTestServer(t, Config{Admit: func(stream, _ string) (func(), error) {
		if stream == "full" {
			return nil, errors.New("too many publishers")
		}
		return func() { released <- stream }, nil
	}})
	waitRefused(t, ts.Addr(), "full?token="+testToken)
	if _, ok := ts.reg.Get("full"); ok {
		t.Fatal("a refused publisher made a stream")
	}
	if !strings.Contains(ts.logs.String(), "too many publishers") {
		t.Fatalf("no refusal reason in the log:\n%s", ts.logs.String())
	}
	if err := publishH264(t, ts.Addr(), "rtmp", "cam?token="+testToken); err != nil {
		t.Fatal(err)
	}
	ts.waitLive(t, "cam", true)
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-released:
		if s != "cam" {
			t.Fatalf("released %q", s)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the publisher's slot was not released when it left")
	}
}

// RTMPS: the same server behind TLS; a plain RTMP client on it is told.
func TestServerRTMPS(t *testing.T) {
	ts := startTestServer(t, Config{TLS: &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}})
	if err := publishH264(t, ts.Addr(), "rtmps", "cam?token="+testToken); err != nil {
		t.Fatalf("publish over rtmps: %v", err)
	}
	ts.waitLive(t, "cam", true)
	sink := ts.sink("cam")
	sink.waitUnits(t, packager.KindVideo, 1)

	c := dial(t, ts.Addr())
	_, _ = c.Write([]byte{3}) // RTMP's C0
	_, _ = c.Write(make([]byte, 1536))
	waitClosed(t, c, "plain RTMP on the RTMPS port")
	if !strings.Contains(ts.logs.String(), "use rtmps://") {
		t.Fatalf("no hint for a plain client on the RTMPS port:\n%s", ts.logs.String())
	}
}
