package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// load parses args as serve's flags and loads the config with env as the environment.
func load(t *testing.T, args, env []string) (Config, error) {
	t.Helper()
	fs := newServeFlags()
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return loadConfig(fs, env)
}

// writeConfig writes a YAML config file and returns its path.
func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "frontrow.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const fileYAML = `
http:
  addr: ":9000"
rtmp:
  addr: "127.0.0.1:1936"
webrtc:
  udp_addr: ":9189"
  hosts: [203.0.113.7, gw.example.com]
  ice_servers:
    - urls: ["stun:stun.example.com:3478"]
    - urls: ["turns:turn.example.com:5349"]
      username: u
      credential: c
  grace_period: 30s
  disconnect_timeout: 4s
  publish_bitrate: 1800
hls:
  part_target: 100ms
  segment_target: 2s
auth:
  publish_token: file-token
demo:
  enabled: true
log:
  level: DEBUG
  format: json
`

func TestLoadConfigLayers(t *testing.T) {
	file := writeConfig(t, fileYAML)
	// fromFile is what fileYAML says.
	fromFile := func() Config {
		d := defaultConfig() // sections fileYAML leaves out
		return Config{
			Limits:   d.Limits,
			Shutdown: d.Shutdown,
			HTTP:     HTTPConfig{Addr: ":9000"},
			RTMP:     RTMPConfig{Addr: "127.0.0.1:1936"},
			WebRTC: WebRTCConfig{
				UDPAddr: ":9189", TCPAddr: ":8189",
				Hosts: []string{"203.0.113.7", "gw.example.com"},
				ICEServers: []ICEServer{
					{URLs: []string{"stun:stun.example.com:3478"}},
					{URLs: []string{"turns:turn.example.com:5349"}, Username: "u", Credential: "c"},
				},
				GracePeriod:       30 * time.Second,
				DisconnectTimeout: 4 * time.Second,
				PublishBitrate:    1800,
			},
			HLS:  HLSConfig{PartTarget: 100 * time.Millisecond, SegmentTarget: 2 * time.Second},
			Auth: AuthConfig{PublishToken: "file-token", Streams: map[string]StreamAuth{}},
			Demo: DemoConfig{Enabled: true},
			Data: DataConfig{Dir: "data"}, // fileYAML leaves the default
			Log:  LogConfig{Level: "debug", Format: "json"},
		}
	}
	tests := []struct {
		name string
		args []string
		env  []string
		want func() Config
	}{
		{name: "defaults", want: defaultConfig},
		{
			name: "unrelated environment is ignored",
			env:  []string{"HOME=/root", "HTTP_ADDR=:1", "FRONTROWX=1", "FRONTROW_HTTP_ADDR="},
			want: defaultConfig,
		},
		{name: "file overrides defaults", args: []string{"--config", file}, want: fromFile},
		{name: "FRONTROW_CONFIG names the file", env: []string{"FRONTROW_CONFIG=" + file}, want: fromFile},
		{
			name: "--config wins over FRONTROW_CONFIG",
			args: []string{"--config", file},
			env:  []string{"FRONTROW_CONFIG=/nonexistent.yaml"},
			want: fromFile,
		},
		{
			name: "env overrides file",
			args: []string{"--config", file},
			env: []string{
				"FRONTROW_HTTP_ADDR=:9001",
				"FRONTROW_HLS_PART_TARGET=250ms",
				"FRONTROW_WEBRTC_HOSTS=198.51.100.1, 198.51.100.2",
				"FRONTROW_DEMO_ENABLED=false",
				"FRONTROW_AUTH_PUBLISH_TOKEN=env-token",
			},
			want: func() Config {
				c := fromFile()
				c.HTTP.Addr = ":9001"
				c.HLS.PartTarget = 250 * time.Millisecond
				c.WebRTC.Hosts = []string{"198.51.100.1", "198.51.100.2"}
				c.Demo.Enabled = false
				c.Auth.PublishToken = "env-token"
				return c
			},
		},
		{
			name: "flag overrides env",
			args: []string{"--config", file, "--http-addr=:9002", "--webrtc-hosts=192.0.2.1", "--demo-enabled", "--log-format=text"},
			env:  []string{"FRONTROW_HTTP_ADDR=:9001", "FRONTROW_WEBRTC_HOSTS=198.51.100.1", "FRONTROW_DEMO_ENABLED=false", "FRONTROW_LOG_FORMAT=json"},
			want: func() Config {
				c := fromFile()
				c.HTTP.Addr = ":9002"
				c.WebRTC.Hosts = []string{"192.0.2.1"}
				c.Log.Format = "text"
				return c
			},
		},
		{
			name: "flag without file or env",
			args: []string{"--hls-part-target=300ms", "--hls-segment-target=3s", "--webrtc-grace-period=0s", "--webrtc-disconnect-timeout=2s", "--rtmp-addr=:0"},
			want: func() Config {
				c := defaultConfig()
				c.WebRTC.DisconnectTimeout = 2 * time.Second
				c.HLS = HLSConfig{PartTarget: 300 * time.Millisecond, SegmentTarget: 3 * time.Second}
				c.WebRTC.GracePeriod = 0
				c.RTMP.Addr = ":0"
				return c
			},
		},
		{
			name: "ICE servers from env as JSON",
			env:  []string{`FRONTROW_WEBRTC_ICE_SERVERS=[{"urls":["turn:t.example.com:3478?transport=tcp"],"username":"u","credential":"c"}]`},
			want: func() Config {
				c := defaultConfig()
				c.WebRTC.ICEServers = []ICEServer{{URLs: []string{"turn:t.example.com:3478?transport=tcp"}, Username: "u", Credential: "c"}}
				return c
			},
		},
		{
			name: "ICE servers from env as URL list",
			env:  []string{"FRONTROW_WEBRTC_ICE_SERVERS=stun:a.example.com, stuns:b.example.com:5349"},
			want: func() Config {
				c := defaultConfig()
				c.WebRTC.ICEServers = []ICEServer{{URLs: []string{"stun:a.example.com"}}, {URLs: []string{"stuns:b.example.com:5349"}}}
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

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string // config file contents, if any
		args []string
		env  []string
		want string // the whole message, or its start when it ends in "..."
	}{
		{name: "unknown key in file", yaml: "hls:\n  part_targt: 1s\n", want: `config: unknown key "hls.part_targt" (did you mean "hls.part_target"?)`},
		{name: "unknown section in file", yaml: "metrics:\n  addr: :9090\n", want: `config: unknown key "metrics.addr"`},
		{name: "unknown key in an ICE server", yaml: "webrtc:\n  ice_servers:\n    - url: stun:a.example.com\n", want: `config: unknown key "webrtc.ice_servers[0].url"...`},
		{name: "unknown env var", env: []string{"FRONTROW_HLS_PART_TARGT=1s"}, want: `config: unknown environment variable FRONTROW_HLS_PART_TARGT (did you mean "FRONTROW_HLS_PART_TARGET"?)`},
		{name: "section given a value", yaml: "hls: 5\n", want: `config: hls: want a mapping of keys (hls.*), not a single value`},
		{name: "list given a mapping", yaml: "webrtc:\n  hosts:\n    a: b\n", want: `config: webrtc.hosts: want a list, not a mapping`},
		{name: "ICE servers given a mapping", yaml: "webrtc:\n  ice_servers:\n    urls: [stun:a]\n", want: `config: webrtc.ice_servers: want a list, not a mapping`},
		{name: "bad duration in file", yaml: "hls:\n  part_target: abc\n", want: `config: hls.part_target: time: invalid duration "abc"`},
		{name: "bad duration in env", env: []string{"FRONTROW_WEBRTC_GRACE_PERIOD=soon"}, want: `config: webrtc.grace_period: time: invalid duration "soon"`},
		{name: "duration without unit", yaml: "hls:\n  segment_target: 2\n", want: `config: hls.segment_target: duration 2 has no unit (write e.g. "2ms")`},
		{name: "bad bool in env", env: []string{"FRONTROW_DEMO_ENABLED=maybe"}, want: `config: demo.enabled: "maybe" is not true or false`},
		{name: "ICE URL scheme", yaml: "webrtc:\n  ice_servers:\n    - urls: [\"http://stun.example.com\"]\n", want: `config: webrtc.ice_servers: [0]: "http://stun.example.com": scheme must be stun:, stuns:, turn: or turns:`},
		{name: "ICE URL scheme in env", env: []string{"FRONTROW_WEBRTC_ICE_SERVERS=stun:a.example.com,udp:b"}, want: `config: webrtc.ice_servers: [1]: "udp:b": scheme must be...`},
		{name: "ICE URL with slashes", yaml: "webrtc:\n  ice_servers:\n    - urls: [\"stun://a.example.com\"]\n", want: `config: webrtc.ice_servers: [0]: "stun://a.example.com": want stun:host[:port]`},
		{name: "TURN without credential", yaml: "webrtc:\n  ice_servers:\n    - urls: [\"turn:t.example.com\"]\n      username: u\n", want: `config: webrtc.ice_servers: [0]: "turn:t.example.com": a TURN server needs username and credential`},
		{name: "ICE server without urls", yaml: "webrtc:\n  ice_servers:\n    - username: u\n", want: `config: webrtc.ice_servers: [0]: urls is empty`},
		{name: "segment shorter than part", args: []string{"--hls-segment-target=100ms"}, want: `config: hls.segment_target: 100ms is shorter than hls.part_target (200ms)`},
		{name: "short viewer token key", env: []string{"FRONTROW_AUTH_VIEWER_TOKEN_KEY=short"}, want: `config: auth.viewer_token_key: must be at least 32 bytes (or empty to generate one)`},
		{name: "empty data dir", args: []string{"--data-dir= "}, want: `config: data.dir: must not be empty`},
		{name: "part too short", env: []string{"FRONTROW_HLS_PART_TARGET=10ms"}, want: `config: hls.part_target: 10ms is out of range [50ms, 1s]`},
		{name: "part too long", args: []string{"--hls-part-target=2s", "--hls-segment-target=4s"}, want: `config: hls.part_target: 2s is out of range [50ms, 1s]`},
		{name: "segment too long", yaml: "hls:\n  segment_target: 1m\n", want: `config: hls.segment_target: 1m0s is out of range [200ms, 10s]`},
		{name: "disconnect timeout too short", yaml: "webrtc:\n  disconnect_timeout: 500ms\n", want: `config: webrtc.disconnect_timeout: 500ms is out of range [1s, 10m0s]`},
		{name: "tcp addr not host:port", yaml: "webrtc:\n  tcp_addr: \"8189\"\n", want: `config: webrtc.tcp_addr: "8189" is not host:port (missing port in address)`},
		{name: "publish bitrate too low", yaml: "webrtc:\n  publish_bitrate: 50\n", want: `config: webrtc.publish_bitrate: 50 is out of range [100, 20000]`},
		{name: "publish bitrate not a number", env: []string{"FRONTROW_WEBRTC_PUBLISH_BITRATE=fast"}, want: `config: webrtc.publish_bitrate: cannot parse value as 'int': strconv.ParseInt: invalid syntax`},
		{name: "disconnect timeout too long", env: []string{"FRONTROW_WEBRTC_DISCONNECT_TIMEOUT=1h"}, want: `config: webrtc.disconnect_timeout: 1h0m0s is out of range [1s, 10m0s]`},
		{name: "negative grace", yaml: "webrtc:\n  grace_period: -1s\n", want: `config: webrtc.grace_period: -1s is out of range [0s, 10m0s]`},
		{name: "address without port", yaml: "http:\n  addr: 8080\n", want: `config: http.addr: "8080" is not host:port (missing port in address)`},
		{name: "address with bad port", env: []string{"FRONTROW_RTMP_ADDR=:99999"}, want: `config: rtmp.addr: ":99999": port "99999" is not a number from 0 to 65535`},
		{name: "address with bad host", args: []string{"--webrtc-udp-addr=bad host:1"}, want: `config: webrtc.udp_addr: "bad host:1": host "bad host" is neither an IP nor a name`},
		{name: "bad host candidate", env: []string{"FRONTROW_WEBRTC_HOSTS=192.0.2.1,-bad-"}, want: `config: webrtc.hosts: "-bad-" is neither an IP nor a name`},
		{name: "bad log level", yaml: "log:\n  level: verbose\n", want: `config: log.level: "verbose" is not one of debug, info, warn, error`},
		{name: "bad log format", args: []string{"--log-format=xml"}, want: `config: log.format: "xml" is not one of text, json`},
		{name: "bad YAML", yaml: "http: [\n", want: `config: FILE: yaml: ...`},
		{name: "missing file", args: []string{"--config=/nonexistent/frontrow.yaml"}, want: `config: open /nonexistent/frontrow.yaml: no such file or directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args, want := tt.args, tt.want
			if tt.yaml != "" {
				path := writeConfig(t, tt.yaml)
				args = append([]string{"--config", path}, args...)
				want = strings.ReplaceAll(want, "FILE", path)
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
		})
	}
}

// TestShippedConfig checks that configs/frontrow.yaml loads, turns the demo on, and shows
// every key.
func TestShippedConfig(t *testing.T) {
	const path = "../../configs/frontrow.yaml"
	cfg, err := load(t, []string{"--config", path}, nil)
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	want := defaultConfig()
	want.Demo.Enabled = true
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("shipped config\n got %+v\nwant defaults with the demo on %+v", cfg, want)
	}

	v := viper.New()
	v.SetConfigFile(path)
	if err := v.ReadInConfig(); err != nil {
		t.Fatal(err)
	}
	for _, l := range configLeaves() {
		if !v.InConfig(l.key) {
			t.Errorf("%s does not show key %s", path, l.key)
		}
	}
}

// TestKeyNames checks that each flag and env var maps to exactly one key.
func TestKeyNames(t *testing.T) {
	keys := map[string]bool{}
	envs := map[string]string{}
	flags := map[string]string{}
	for _, l := range configLeaves() {
		keys[l.key] = true
		if k, dup := envs[envName(l.key)]; dup {
			t.Errorf("keys %s and %s share env var %s", k, l.key, envName(l.key))
		}
		envs[envName(l.key)] = l.key
		if k, dup := flags[flagName(l.key)]; dup {
			t.Errorf("keys %s and %s share flag --%s", k, l.key, flagName(l.key))
		}
		flags[flagName(l.key)] = l.key
	}
	for _, k := range []string{
		"http.addr", "rtmp.addr",
		"webrtc.udp_addr", "webrtc.tcp_addr", "webrtc.hosts", "webrtc.ice_servers", "webrtc.grace_period", "webrtc.disconnect_timeout",
		"webrtc.publish_bitrate", "hls.part_target", "hls.segment_target", "auth.publish_token", "auth.admin_token",
		"auth.viewer_token_key", "data.dir", "demo.enabled",
		"log.level", "log.format",
	} {
		if !keys[k] {
			t.Errorf("no key %s", k)
		}
	}
	if envName("hls.part_target") != "FRONTROW_HLS_PART_TARGET" || flagName("hls.part_target") != "hls-part-target" {
		t.Errorf("hls.part_target: env %s, flag %s", envName("hls.part_target"), flagName("hls.part_target"))
	}
	newServeFlags().VisitAll(func(f *pflag.Flag) {
		if f.Name != flagConfig && flags[f.Name] == "" {
			t.Errorf("flag --%s names no config key", f.Name)
		}
	})
}
