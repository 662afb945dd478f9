package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate and its key as PEM files and
// returns their paths.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "frontrow test"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
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
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// The production keys (TLS, RTMPS, per-stream tokens, limits, admin,
// shutdown) through every layer.
func TestLoadConfigOpsKeys(t *testing.T) {
	cert, key := writeCert(t)
	file := writeConfig(t, `
http:
  tls_cert: `+cert+`
  tls_key: `+key+`
rtmps:
  addr: ":1936"
auth:
  publish_token: fallback
  streams:
    cam1:
      publish_token: one
    Cam2:
      publish_token: two
limits:
  max_body_bytes: 2048
  sessions_per_ip: 3
  viewers_per_stream: 4
  viewers: 5
  publishers: 6
  post_rate: 0.5
  post_burst: 7
  hls_blocking: 8
admin:
  addr: 127.0.0.1:6060
shutdown:
  timeout: 30s
`)
	fromFile := func() Config {
		c := defaultConfig()
		c.HTTP.TLSCert, c.HTTP.TLSKey = cert, key
		c.RTMPS.Addr = ":1936"
		c.Auth.PublishToken = "fallback"
		// viper folds keys to lower case: the gateway matches names without regard to case.
		c.Auth.Streams = map[string]StreamAuth{"cam1": {PublishToken: "one"}, "cam2": {PublishToken: "two"}}
		c.Limits = LimitsConfig{MaxBodyBytes: 2048, SessionsPerIP: 3, ViewersPerStream: 4, Viewers: 5,
			Publishers: 6, PostRate: 0.5, PostBurst: 7, HLSBlocking: 8}
		c.Admin.Addr = "127.0.0.1:6060"
		c.Shutdown.Timeout = 30 * time.Second
		return c
	}
	tests := []struct {
		name string
		args []string
		env  []string
		want func() Config
	}{
		{name: "file", args: []string{"--config", file}, want: fromFile},
		{
			name: "env over file",
			args: []string{"--config", file},
			env: []string{
				`FRONTROW_AUTH_STREAMS={"cam9": {"publish_token": "nine"}}`,
				"FRONTROW_LIMITS_VIEWERS=50", "FRONTROW_LIMITS_POST_RATE=2.5", "FRONTROW_SHUTDOWN_TIMEOUT=3s",
				"FRONTROW_ADMIN_ADDR=127.0.0.1:0",
			},
			want: func() Config {
				c := fromFile()
				c.Auth.Streams = map[string]StreamAuth{"cam9": {PublishToken: "nine"}}
				c.Limits.Viewers, c.Limits.PostRate = 50, 2.5
				c.Shutdown.Timeout = 3 * time.Second
				c.Admin.Addr = "127.0.0.1:0"
				return c
			},
		},
		{
			name: "flags over env",
			args: []string{"--config", file, "--limits-viewers=60", "--limits-max-body-bytes=4096",
				"--limits-hls-blocking=9", "--shutdown-timeout=1s", "--admin-addr=", "--rtmps-addr=:443"},
			env: []string{"FRONTROW_LIMITS_VIEWERS=50"},
			want: func() Config {
				c := fromFile()
				c.Limits.Viewers, c.Limits.MaxBodyBytes, c.Limits.HLSBlocking = 60, 4096, 9
				c.Shutdown.Timeout = time.Second
				c.Admin.Addr = ""
				c.RTMPS.Addr = ":443"
				return c
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := load(t, tt.args, tt.env)
			if err != nil {
				t.Fatalf("loadConfig: %v", err)
			}
			if want := tt.want(); !reflect.DeepEqual(got, want) {
				t.Errorf("config\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

// Every bad value of a new key stops the start with one line naming the
// key, and never quotes a token.
func TestLoadConfigOpsErrors(t *testing.T) {
	cert, key := writeCert(t)
	_, otherKey := writeCert(t)
	tests := []struct {
		name string
		yaml string
		args []string
		env  []string
		want string // the whole message, or its start when it ends in "..."
	}{
		{name: "cert without key", args: []string{"--http-tls-cert=" + cert}, want: `config: http.tls_key: must be set with http.tls_cert`},
		{name: "key without cert", args: []string{"--http-tls-key=" + key}, want: `config: http.tls_cert: must be set with http.tls_key`},
		{name: "missing cert file", args: []string{"--http-tls-cert=/nonexistent/cert.pem", "--http-tls-key=" + key}, want: `config: http.tls_cert: open /nonexistent/cert.pem: no such file or directory`},
		{name: "cert file without a certificate", args: []string{"--http-tls-cert=" + key, "--http-tls-key=" + key}, want: `config: http.tls_cert: ` + key + ` holds no PEM certificate`},
		{name: "key of another certificate", args: []string{"--http-tls-cert=" + cert, "--http-tls-key=" + otherKey}, want: `config: http.tls_key: ` + otherKey + `: tls: private key does not match public key`},
		{name: "rtmps without a certificate", args: []string{"--rtmps-addr=:1936"}, want: `config: rtmps.addr: needs http.tls_cert and http.tls_key`},
		{name: "rtmps bad address", args: []string{"--rtmps-addr=1936", "--http-tls-cert=" + cert, "--http-tls-key=" + key}, want: `config: rtmps.addr: "1936" is not host:port...`},
		{name: "admin on the public address", args: []string{"--admin-addr=:8080"}, want: `config: admin.addr: must differ from http.addr: pprof never goes on the public address`},
		{name: "admin bad address", env: []string{"FRONTROW_ADMIN_ADDR=localhost"}, want: `config: admin.addr: "localhost" is not host:port...`},
		{name: "bad stream name", yaml: "auth:\n  streams:\n    \"bad name\":\n      publish_token: x\n", want: `config: auth.streams: "bad name" is not a stream name (1-64 characters of A-Z a-z 0-9 _ - .)`},
		{name: "empty stream token", yaml: "auth:\n  streams:\n    cam1:\n      publish_token: \"\"\n", want: `config: auth.streams.cam1.publish_token: must not be empty (remove cam1 to use auth.publish_token)`},
		{name: "unknown key in a stream", yaml: "auth:\n  streams:\n    cam1:\n      publish_tokn: s3cret\n", want: `config: unknown key "auth.streams[cam1].publish_tokn"`},
		{name: "streams given a value", yaml: "auth:\n  streams: 5\n", want: `config: auth.streams: ...`},
		{name: "streams env not JSON", env: []string{"FRONTROW_AUTH_STREAMS=cam1=s3cret"}, want: `config: auth.streams: not a JSON object of {"stream": {"publish_token": "..."}}`},
		{name: "unknown key in streams env", env: []string{`FRONTROW_AUTH_STREAMS={"cam1":{"token":"s3cret"}}`}, want: `config: unknown key "auth.streams[cam1].token"`},
		{name: "token not a string in env", env: []string{`FRONTROW_AUTH_STREAMS={"cam1":{"publish_token":5}}`}, want: `config: auth.streams.cam1.publish_token: want a string`},
		{name: "bad stream name in env", env: []string{`FRONTROW_AUTH_STREAMS={"a/b":{"publish_token":"s3cret"}}`}, want: `config: auth.streams: "a/b" is not a stream name...`},
		{name: "body too small", args: []string{"--limits-max-body-bytes=100"}, want: `config: limits.max_body_bytes: 100 is out of range [1024, 16777216]`},
		{name: "body too big", yaml: "limits:\n  max_body_bytes: 1000000000\n", want: `config: limits.max_body_bytes: 1000000000 is out of range [1024, 16777216]`},
		{name: "zero sessions per ip", env: []string{"FRONTROW_LIMITS_SESSIONS_PER_IP=0"}, want: `config: limits.sessions_per_ip: 0: must be at least 1`},
		{name: "negative viewers", yaml: "limits:\n  viewers: -1\n", want: `config: limits.viewers: -1: must be at least 1`},
		{name: "zero viewers per stream", args: []string{"--limits-viewers-per-stream=0"}, want: `config: limits.viewers_per_stream: 0: must be at least 1`},
		{name: "zero publishers", yaml: "limits:\n  publishers: 0\n", want: `config: limits.publishers: 0: must be at least 1`},
		{name: "zero post rate", yaml: "limits:\n  post_rate: 0\n", want: `config: limits.post_rate: 0: must be a number above 0`},
		{name: "zero post burst", args: []string{"--limits-post-burst=0"}, want: `config: limits.post_burst: 0: must be at least 1`},
		{name: "zero hls blocking", yaml: "limits:\n  hls_blocking: 0\n", want: `config: limits.hls_blocking: 0: must be at least 1`},
		{name: "limit not a number", env: []string{"FRONTROW_LIMITS_VIEWERS=lots"}, want: `config: limits.viewers: ...`},
		{name: "shutdown too short", args: []string{"--shutdown-timeout=100ms"}, want: `config: shutdown.timeout: 100ms is out of range [1s, 10m0s]`},
		{name: "shutdown without unit", yaml: "shutdown:\n  timeout: 10\n", want: `config: shutdown.timeout: duration 10 has no unit (write e.g. "10ms")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, want := tt.args, tt.want
			if tt.yaml != "" {
				args = append([]string{"--config", writeConfig(t, tt.yaml)}, args...)
			}
			_, err := load(t, args, tt.env)
			if err == nil {
				t.Fatalf("loadConfig: no error, want %q", want)
			}
			msg := err.Error()
			if prefix, ok := strings.CutSuffix(want, "..."); ok {
				if !strings.HasPrefix(msg, prefix) {
					t.Errorf("error\n got %q\nwant %q...", msg, prefix)
				}
			} else if msg != want {
				t.Errorf("error\n got %q\nwant %q", msg, want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if strings.Contains(msg, "s3cret") {
				t.Errorf("error quotes a token: %q", msg)
			}
		})
	}
}
