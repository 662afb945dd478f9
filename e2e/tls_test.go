package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/app"
)

// testCert is a self-signed certificate for 127.0.0.1, as PEM files, and a
// pool that trusts it.
type testCert struct {
	certFile, keyFile string
	pool              *x509.CertPool
}

func newTestCert(t testing.TB) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "frontrow e2e"},
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
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := testCert{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(c.certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	c.pool.AppendCertsFromPEM(certPEM)
	return c
}

// client is an HTTP client that trusts the certificate and speaks HTTP/2
// when the server offers it.
func (c testCert) client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: c.pool},
		ForceAttemptHTTP2: true, // a custom TLS config turns HTTP/2 off otherwise
	}}
}

// withTLS serves HTTPS with c and turns on RTMPS on a free loopback port.
func withTLS(c testCert) gatewayOption {
	return func(cfg *app.Config) {
		cfg.TLSCert, cfg.TLSKey = c.certFile, c.keyFile
		cfg.RTMPSAddr = "127.0.0.1:0"
	}
}

// With a certificate, everything on the HTTP address is HTTPS over HTTP/2:
// a WHIP POST, LL-HLS playlists (blocking ones too), and RTMPS takes an
// encoder.
func TestTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cert := newTestCert(t)
	g := startGateway(t, withTLS(cert), withDemo())
	base := "https://" + g.HTTPAddr().String()
	client := cert.client()

	do := func(method, path, contentType, body string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
			req.Header.Set("Authorization", "Bearer "+testToken)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.Proto != "HTTP/2.0" {
			t.Errorf("%s %s: %s, want HTTP/2.0", method, path, resp.Proto)
		}
		return resp, string(b)
	}

	offer := offerSDP(t, clientAPI(t), "sendonly")
	resp, answer := do(http.MethodPost, "/whip/secure", "application/sdp", offer)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(answer, "v=0") {
		t.Fatalf("WHIP POST over HTTPS: status %d, body %.60q", resp.StatusCode, answer)
	}
	loc := resp.Header.Get("Location")

	if err := waitLive(ctx, g, "demo", true); err != nil {
		t.Fatal(err)
	}
	resp, pl := do(http.MethodGet, "/hls/demo/video.m3u8", "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(pl, "#EXT-X-PART:") {
		t.Fatalf("HLS playlist over HTTPS: status %d, body %.80q", resp.StatusCode, pl)
	}
	resp, pl = do(http.MethodGet, "/hls/demo/video.m3u8?_HLS_msn=0", "", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(pl, "#EXT-X-PART:") {
		t.Fatalf("blocking HLS playlist over HTTPS: status %d, body %.80q", resp.StatusCode, pl)
	}
	if resp, _ := do(http.MethodDelete, loc, "application/sdp", ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("WHIP DELETE over HTTPS: status %d", resp.StatusCode)
	}

	// Plain HTTP on the HTTPS port is refused, not served.
	if resp, err := http.Get("http://" + g.HTTPAddr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served on the HTTPS port")
		}
	}

	// RTMPS: ffmpeg publishes through TLS (it does not check certificates
	// unless asked), and the stream goes live.
	t.Run("RTMPS", func(t *testing.T) {
		publishURL := fmt.Sprintf("rtmps://%s/live/rtmps?token=%s", g.RTMPSAddr(), testToken)
		startFFmpeg(t, ctx, "-re", "-stream_loop", "-1", "-i", rtmpBaselineFile, "-c", "copy", "-f", "flv", publishURL)
		if err := waitLive(ctx, g, "rtmps", true); err != nil {
			t.Fatalf("RTMPS publish: %v", err)
		}
	})
}
