package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/frontrow-live/frontrow/app"
	"github.com/frontrow-live/frontrow/gateway/rtc"
	"github.com/frontrow-live/frontrow/gateway/stream"
)

// Configuration comes from four layers, each overriding the one before:
//
//  1. the defaults in defaultConfig,
//  2. a YAML file (--config FILE, or FRONTROW_CONFIG),
//  3. FRONTROW_* environment variables: the key upper-cased, dots as underscores
//     (hls.part_target -> FRONTROW_HLS_PART_TARGET),
//  4. flags: the key with dots and underscores as dashes (hls.part_target -> --hls-part-target).
//
// A key is the mapstructure tags of Config joined with dots. Anything unknown or invalid stops
// the start with one message that names the key: "config: hls.part_target: ...".

const (
	envPrefix     = "FRONTROW_"
	envConfigFile = "FRONTROW_CONFIG" // the YAML file, when --config is not given
	flagConfig    = "config"
)

// Bounds of the LL-HLS timing knobs, checked by validate.
const (
	// Parts shorter than ~1.5 frames at 30 fps hold at most one frame each: more requests and
	// playlist updates for no latency gain.
	minPartTarget = 50 * time.Millisecond
	// Past 1 s a part is as long as a whole low-latency segment and "low latency" is gone.
	maxPartTarget = time.Second
	// LL-HLS segments are short; longer ones only grow playlists and a new viewer's start-up.
	maxSegmentTarget = 10 * time.Second
	// A publisher gone for longer than this is not reconnecting.
	maxGracePeriod = 10 * time.Minute
	// An ICE peer silent for under a second may only have lost a few
	// packets; one kept for over ten minutes holds its resources for nothing.
	minDisconnectTimeout = time.Second
	maxDisconnectTimeout = 10 * time.Minute
	// A browser publisher's bitrate, kbit/s (0 is off): below 100 is no
	// video, above 20 Mbit/s no uplink.
	minPublishBitrate = 100
	maxPublishBitrate = 20000
	// A shutdown shorter than a second cannot close sessions cleanly; one
	// longer than ten minutes is a hang an orchestrator would kill anyway.
	minShutdownTimeout = time.Second
	maxShutdownTimeout = 10 * time.Minute
	// Offers are a few KiB; under 1 KiB refuses real ones, over 16 MiB is
	// memory for the asking.
	minMaxBody = 1 << 10
	maxMaxBody = 16 << 20
)

// Config is everything `frontrow serve` needs. Limits live here, in one struct.
type Config struct {
	HTTP     HTTPConfig     `mapstructure:"http"`
	RTMP     RTMPConfig     `mapstructure:"rtmp"`
	RTMPS    RTMPSConfig    `mapstructure:"rtmps"`
	WebRTC   WebRTCConfig   `mapstructure:"webrtc"`
	HLS      HLSConfig      `mapstructure:"hls"`
	Auth     AuthConfig     `mapstructure:"auth"`
	Limits   LimitsConfig   `mapstructure:"limits"`
	Admin    AdminConfig    `mapstructure:"admin"`
	Shutdown ShutdownConfig `mapstructure:"shutdown"`
	Demo     DemoConfig     `mapstructure:"demo"`
	Data     DataConfig     `mapstructure:"data"`
	Log      LogConfig      `mapstructure:"log"`
}

// HTTPConfig is the HTTP face: WHIP, WHEP, LL-HLS, the API, the player.
type HTTPConfig struct {
	Addr string `mapstructure:"addr"` // TCP listen address, host:port; port 0 picks a free one
	// TLSCert and TLSKey are PEM files (certificate chain, private key).
	// Set both to serve HTTPS with HTTP/2; neither for plain HTTP.
	TLSCert string `mapstructure:"tls_cert"`
	TLSKey  string `mapstructure:"tls_key"`
}

// RTMPConfig is the RTMP ingest.
type RTMPConfig struct {
	Addr string `mapstructure:"addr"` // TCP listen address, host:port
}

// RTMPSConfig is the RTMPS ingest: RTMP inside TLS, with http.tls_cert.
type RTMPSConfig struct {
	Addr string `mapstructure:"addr"` // TCP listen address; empty: off
}

// LimitsConfig bounds what clients can take; app.Limits says how each
// refusal looks.
type LimitsConfig struct {
	MaxBodyBytes     int64   `mapstructure:"max_body_bytes"`     // a WHIP/WHEP offer or trickle fragment
	SessionsPerIP    int     `mapstructure:"sessions_per_ip"`    // WHIP + WHEP sessions per client address
	ViewersPerStream int     `mapstructure:"viewers_per_stream"` // WebRTC viewers of one stream
	Viewers          int     `mapstructure:"viewers"`            // WebRTC viewers in total
	Publishers       int     `mapstructure:"publishers"`         // WHIP and RTMP publishers in total
	PostRate         float64 `mapstructure:"post_rate"`          // POST, PATCH and DELETE requests per second per client address
	PostBurst        int     `mapstructure:"post_burst"`         // POSTs per client address at once
	HLSBlocking      int     `mapstructure:"hls_blocking"`       // blocking playlist requests in flight
}

// AdminConfig is the admin address: pprof and the probes, never public.
type AdminConfig struct {
	Addr string `mapstructure:"addr"` // TCP listen address; empty: off
}

// ShutdownConfig is the graceful shutdown on SIGTERM or SIGINT.
type ShutdownConfig struct {
	Timeout time.Duration `mapstructure:"timeout"` // streams end, sessions close, requests finish within it
}

// WebRTCConfig is the WebRTC tier (WHIP ingest and WHEP viewers).
type WebRTCConfig struct {
	// UDPAddr is the one UDP port that all ICE sessions share (ICE UDP mux).
	UDPAddr string `mapstructure:"udp_addr"`
	// TCPAddr is passive ICE-TCP (RFC 6544) for peers whose networks drop UDP; empty: off.
	TCPAddr string `mapstructure:"tcp_addr"`
	// Hosts are the IPs or names advertised as host candidates; empty means the machine's
	// own interface addresses. A name is resolved by whoever wires it.
	Hosts []string `mapstructure:"hosts"`
	// ICEServers are STUN/TURN servers handed to clients (Link headers, WHIP/WHEP).
	ICEServers []ICEServer `mapstructure:"ice_servers"`
	// GracePeriod is how long a stream whose publisher left waits for it to reconnect.
	GracePeriod time.Duration `mapstructure:"grace_period"`
	// DisconnectTimeout is how long a session whose peer stopped answering ICE consent checks
	// (vanished without DELETE) lives on before it is closed and its resources freed.
	DisconnectTimeout time.Duration `mapstructure:"disconnect_timeout"`
	// PublishBitrate (kbit/s) is what a browser publisher sends at from its first second
	// (start and ceiling); 0 leaves the browser's own (300 kbit/s at first).
	PublishBitrate int `mapstructure:"publish_bitrate"`
}

// ICEServer is one STUN or TURN server, shaped like WebRTC's RTCIceServer.
type ICEServer struct {
	URLs       []string `mapstructure:"urls"` // stun:, stuns:, turn: or turns: URIs (RFC 7064, RFC 7065)
	Username   string   `mapstructure:"username"`
	Credential string   `mapstructure:"credential"`
}

// HLSConfig is the CMAF LL-HLS packager.
type HLSConfig struct {
	PartTarget    time.Duration `mapstructure:"part_target"`    // EXT-X-PART-INF PART-TARGET
	SegmentTarget time.Duration `mapstructure:"segment_target"` // segments cut on the first keyframe past this
}

// AuthConfig holds the shared secrets.
type AuthConfig struct {
	// PublishToken is the Bearer token for WHIP and the RTMP stream key check,
	// for every stream without one in Streams. Empty means anyone may
	// publish those: warn at start.
	PublishToken string `mapstructure:"publish_token"`
	// Streams holds per-stream credentials, by stream name: auth.streams.{name}.publish_token.
	Streams map[string]StreamAuth `mapstructure:"streams"`
	// AdminToken is the Bearer token of the distribution API; empty turns the API off.
	AdminToken string `mapstructure:"admin_token"`
	// ViewerTokenKey signs viewer tokens (32 bytes or more); empty: a key is
	// generated once and kept in data.dir.
	ViewerTokenKey string `mapstructure:"viewer_token_key"`
}

// StreamAuth is one stream's credentials.
type StreamAuth struct {
	PublishToken string `mapstructure:"publish_token"`
}

// DataConfig is where the gateway keeps state across restarts (distributions, keys).
type DataConfig struct {
	Dir string `mapstructure:"dir"`
}

// DemoConfig is the bundled demo stream.
type DemoConfig struct {
	Enabled bool `mapstructure:"enabled"`
}

// LogConfig is the process log.
type LogConfig struct {
	Level  string `mapstructure:"level"`  // debug, info, warn or error
	Format string `mapstructure:"format"` // text or json
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
	iceSchemes = []string{"stun", "stuns", "turn", "turns"}
)

// defaultConfig is layer 1. Every key has its default here and nowhere else.
func defaultConfig() Config {
	l := app.DefaultLimits() // the gateway's own defaults, so they are said once
	return Config{
		HTTP:   HTTPConfig{Addr: ":8080"},
		RTMP:   RTMPConfig{Addr: ":1935"},
		WebRTC: WebRTCConfig{UDPAddr: ":8189", TCPAddr: ":8189", Hosts: []string{}, ICEServers: []ICEServer{}, GracePeriod: 10 * time.Second, DisconnectTimeout: rtc.DefaultDisconnectTimeout, PublishBitrate: rtc.DefaultPublishBitrate},
		HLS:    HLSConfig{PartTarget: 200 * time.Millisecond, SegmentTarget: time.Second},
		Auth:   AuthConfig{Streams: map[string]StreamAuth{}},
		Limits: LimitsConfig{
			MaxBodyBytes: l.MaxBody, SessionsPerIP: l.SessionsPerIP, ViewersPerStream: l.ViewersPerStream,
			Viewers: l.Viewers, Publishers: l.Publishers, PostRate: l.PostRate, PostBurst: l.PostBurst,
			HLSBlocking: l.HLSBlocking,
		},
		Shutdown: ShutdownConfig{Timeout: app.DefaultShutdownTimeout},
		Demo:     DemoConfig{Enabled: false}, // configs/frontrow.yaml turns it on
		Data:     DataConfig{Dir: "data"},
		Log:      LogConfig{Level: "info", Format: "text"},
	}
}

// addConfigFlags registers --config and one flag per scalar key on fs (layer 4). Secrets (the
// auth.* tokens and key) have no flag (a flag shows in ps), nor do the structured ICE servers and
// auth.streams: use the file or env.
func addConfigFlags(fs *pflag.FlagSet) {
	d := defaultConfig()
	fs.String(flagConfig, "", "YAML config `file` (default: $"+envConfigFile+", else none)")
	fs.String(flagName("http.addr"), d.HTTP.Addr, "HTTP listen `address` (WHIP, WHEP, LL-HLS, API, player)")
	fs.String(flagName("http.tls_cert"), d.HTTP.TLSCert, "TLS certificate chain, PEM `file`: serve HTTPS with HTTP/2 (with --http-tls-key)")
	fs.String(flagName("http.tls_key"), d.HTTP.TLSKey, "TLS private key, PEM `file`")
	fs.String(flagName("rtmp.addr"), d.RTMP.Addr, "RTMP ingest listen `address`")
	fs.String(flagName("rtmps.addr"), d.RTMPS.Addr, "RTMPS ingest listen `address` (needs the TLS certificate; default: off)")
	fs.String(flagName("webrtc.udp_addr"), d.WebRTC.UDPAddr, "UDP `address` shared by all ICE sessions")
	fs.String(flagName("webrtc.tcp_addr"), d.WebRTC.TCPAddr, "TCP `address` of passive ICE-TCP for viewers and publishers whose networks drop UDP (empty: off)")
	fs.StringSlice(flagName("webrtc.hosts"), d.WebRTC.Hosts, "`hosts` (IPs or names, comma-separated) advertised as ICE host candidates (default: the machine's interfaces)")
	fs.Duration(flagName("webrtc.grace_period"), d.WebRTC.GracePeriod, "how long a stream waits for its publisher to reconnect")
	fs.Duration(flagName("webrtc.disconnect_timeout"), d.WebRTC.DisconnectTimeout, fmt.Sprintf("how long a WebRTC session whose peer vanished lives on before it is closed (%v to %v)", minDisconnectTimeout, maxDisconnectTimeout))
	fs.Int(flagName("webrtc.publish_bitrate"), d.WebRTC.PublishBitrate, fmt.Sprintf("kbit/s a browser publisher sends at from its first second, start and ceiling (0: the browser's own; %d to %d)", minPublishBitrate, maxPublishBitrate))
	fs.Duration(flagName("hls.part_target"), d.HLS.PartTarget, fmt.Sprintf("LL-HLS part target duration (%v to %v)", minPartTarget, maxPartTarget))
	fs.Duration(flagName("hls.segment_target"), d.HLS.SegmentTarget, fmt.Sprintf("LL-HLS segment target duration (part target to %v)", maxSegmentTarget))
	fs.Int64(flagName("limits.max_body_bytes"), d.Limits.MaxBodyBytes, fmt.Sprintf("largest WHIP/WHEP offer or trickle fragment, bytes (%d to %d)", minMaxBody, maxMaxBody))
	fs.Int(flagName("limits.sessions_per_ip"), d.Limits.SessionsPerIP, "WHIP and WHEP sessions per client address (IPv6: per /64)")
	fs.Int(flagName("limits.viewers_per_stream"), d.Limits.ViewersPerStream, "WebRTC viewers of one stream")
	fs.Int(flagName("limits.viewers"), d.Limits.Viewers, "WebRTC viewers in total")
	fs.Int(flagName("limits.publishers"), d.Limits.Publishers, "WHIP and RTMP publishers in total")
	fs.Float64(flagName("limits.post_rate"), d.Limits.PostRate, "POST, PATCH and DELETE requests per second per client address, sustained")
	fs.Int(flagName("limits.post_burst"), d.Limits.PostBurst, "POST requests per client address at once")
	fs.Int(flagName("limits.hls_blocking"), d.Limits.HLSBlocking, "blocking LL-HLS playlist requests in flight")
	fs.String(flagName("admin.addr"), d.Admin.Addr, "admin listen `address` for pprof and the probes; keep it private (default: off)")
	fs.Duration(flagName("shutdown.timeout"), d.Shutdown.Timeout, fmt.Sprintf("how long a graceful shutdown may take (%v to %v)", minShutdownTimeout, maxShutdownTimeout))
	fs.Bool(flagName("demo.enabled"), d.Demo.Enabled, "publish the bundled demo stream")
	fs.String(flagName("data.dir"), d.Data.Dir, "`directory` for state kept across restarts (distributions, keys)")
	fs.String(flagName("log.level"), d.Log.Level, "log `level`: "+strings.Join(logLevels, ", "))
	fs.String(flagName("log.format"), d.Log.Format, "log `format`: "+strings.Join(logFormats, ", "))
}

// flagName is the flag of a key: hls.part_target -> hls-part-target.
func flagName(key string) string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(key)
}

// envName is the environment variable of a key: hls.part_target -> FRONTROW_HLS_PART_TARGET.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// loadConfig layers defaults, the YAML file, the FRONTROW_* variables in environ (os.Environ
// form, "KEY=value") and the flags of fs (parsed, registered by addConfigFlags) into a valid
// Config. The error, if any, is one line: "config: <key>: <problem>".
func loadConfig(fs *pflag.FlagSet, environ []string) (Config, error) {
	v := viper.New()
	leaves := configLeaves()
	def := reflect.ValueOf(defaultConfig())
	for _, l := range leaves {
		if l.typ.Kind() == reflect.Map {
			continue // a map's default is empty: its entries come from the file or env only
		}
		v.SetDefault(l.key, def.FieldByIndex(l.index).Interface())
	}

	path := lookupEnv(environ, envConfigFile)
	if f := fs.Lookup(flagConfig); f != nil && f.Changed {
		path = f.Value.String()
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		v.SetConfigType("yaml")
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			var pe viper.ConfigParseError
			if errors.As(err, &pe) {
				err = pe.Unwrap()
			}
			return Config{}, fmt.Errorf("config: %s: %w", path, err)
		}
	}

	env, mapEnv, err := envSettings(environ, leaves)
	if err != nil {
		return Config{}, err
	}
	if err := v.MergeConfigMap(env); err != nil {
		return Config{}, fmt.Errorf("config: environment: %w", err)
	}

	for _, l := range leaves {
		if f := fs.Lookup(flagName(l.key)); f != nil {
			if err := v.BindPFlag(l.key, f); err != nil {
				return Config{}, fmt.Errorf("config: %s: %w", l.key, err)
			}
		}
	}

	if err := checkKeys(v.AllKeys(), leaves); err != nil {
		return Config{}, err
	}
	var cfg Config
	if err := v.UnmarshalExact(&cfg, viper.DecodeHook(decodeHook())); err != nil {
		return Config{}, decodeError(err)
	}
	if raw, ok := mapEnv["auth.streams"]; ok {
		// The variable replaces the file's map: merging secrets from two
		// places would leave a stream's old token working unseen.
		if cfg.Auth.Streams, err = parseStreamsEnv(raw); err != nil {
			return Config{}, err
		}
	}
	if cfg.Auth.Streams == nil {
		cfg.Auth.Streams = map[string]StreamAuth{}
	}
	if err := cfg.validate(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// leaf is one key of Config: a field that is not itself a section.
type leaf struct {
	key   string
	index []int // reflect field index path from Config
	typ   reflect.Type
}

// configLeaves lists every key of Config, in struct order.
func configLeaves() []leaf {
	var out []leaf
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			key := prefix + f.Tag.Get("mapstructure")
			idx := append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Duration]() {
				walk(f.Type, key+".", idx)
				continue
			}
			out = append(out, leaf{key: key, index: idx, typ: f.Type})
		}
	}
	walk(reflect.TypeFor[Config](), "", nil)
	return out
}

// lookupEnv is os.LookupEnv over an injected environment; the last definition wins, as in os.
func lookupEnv(environ []string, name string) string {
	val := ""
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			val = v
		}
	}
	return val
}

// envSettings turns the FRONTROW_* variables of environ into a nested settings map (layer 3),
// and the map-typed keys' variables into raw values by key (they replace, not merge; see
// loadConfig). Every FRONTROW_ variable must name a key (or be FRONTROW_CONFIG); empty ones
// are ignored, as viper does, so FRONTROW_AUTH_PUBLISH_TOKEN= never opens publishing by accident.
func envSettings(environ []string, leaves []leaf) (settings map[string]any, maps map[string]string, err error) {
	keyOf := make(map[string]string, len(leaves))
	isMap := map[string]bool{}
	names := make([]string, 0, len(leaves))
	for _, l := range leaves {
		keyOf[envName(l.key)] = l.key
		isMap[l.key] = l.typ.Kind() == reflect.Map
		names = append(names, envName(l.key))
	}
	out := map[string]any{}
	maps = map[string]string{}
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || name == envConfigFile {
			continue
		}
		key, ok := keyOf[name]
		if !ok {
			return nil, nil, fmt.Errorf("config: unknown environment variable %s%s", name, suggest(name, append(names, envConfigFile)))
		}
		if val == "" {
			continue
		}
		if isMap[key] {
			maps[key] = val
			continue
		}
		section, field, _ := strings.Cut(key, ".")
		m, _ := out[section].(map[string]any)
		if m == nil {
			m = map[string]any{}
			out[section] = m
		}
		m[field] = val
	}
	return out, maps, nil
}

// parseStreamsEnv reads FRONTROW_AUTH_STREAMS: {"cam1": {"publish_token": "..."}}.
// Errors name the key, never the value: it holds secrets.
func parseStreamsEnv(raw string) (map[string]StreamAuth, error) {
	var m map[string]map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(raw)), &m); err != nil {
		return nil, errors.New(`config: auth.streams: not a JSON object of {"stream": {"publish_token": "..."}}`)
	}
	out := make(map[string]StreamAuth, len(m))
	for name, fields := range m {
		var sa StreamAuth
		for k, v := range fields {
			if k != "publish_token" {
				return nil, fmt.Errorf("config: unknown key \"auth.streams[%s].%s\"", name, k)
			}
			tok, ok := v.(string)
			if !ok {
				return nil, fmt.Errorf("config: auth.streams.%s.publish_token: want a string", name)
			}
			sa.PublishToken = tok
		}
		out[name] = sa
	}
	return out, nil
}

// checkKeys rejects keys that Config does not have, naming the full dotted key.
func checkKeys(keys []string, leaves []leaf) error {
	known := make(map[string]leaf, len(leaves))
	names := make([]string, 0, len(leaves))
	for _, l := range leaves {
		known[l.key] = l
		names = append(names, l.key)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := known[k]; ok {
			continue
		}
		if inMap(k, leaves) {
			continue // the decoder checks a map entry's own keys
		}
		for _, l := range leaves {
			switch {
			case strings.HasPrefix(k, l.key+"."):
				return fmt.Errorf("config: %s: want %s, not a mapping", l.key, typeName(l.typ))
			case strings.HasPrefix(l.key, k+"."):
				return fmt.Errorf("config: %s: want a mapping of keys (%s.*), not a single value", k, k)
			}
		}
		return fmt.Errorf("config: unknown key %q%s", k, suggest(k, names))
	}
	return nil
}

// inMap reports whether key is inside a map-typed key (auth.streams.cam1.publish_token).
func inMap(key string, leaves []leaf) bool {
	for _, l := range leaves {
		if l.typ.Kind() == reflect.Map && strings.HasPrefix(key, l.key+".") {
			return true
		}
	}
	return false
}

func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "a duration"
	case t.Kind() == reflect.Slice:
		return "a list"
	default:
		return "a " + t.Kind().String()
	}
}

// suggest returns ` (did you mean "x"?)` for the candidate closest to s, if it is close.
func suggest(s string, candidates []string) string {
	best, bestDist := "", 4 // more than 3 edits away is no typo
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// decodeHook converts the strings that env vars, flags and YAML give into Config's types.
func decodeHook() mapstructure.DecodeHookFunc {
	return mapstructure.ComposeDecodeHookFunc(durationHook, boolHook, stringListHook, iceServersHook, notMappingHook)
}

// boolHook parses "true"/"false" (and strconv's 1, t, F ...) from env vars, naming the value.
func boolHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Bool {
		return data, nil
	}
	b, err := strconv.ParseBool(strings.TrimSpace(data.(string)))
	if err != nil {
		return nil, fmt.Errorf("%q is not true or false", data)
	}
	return b, nil
}

// notMappingHook refuses a mapping where a list belongs, which weak decoding would otherwise
// wrap into a one-element list and report as a type error on element [0].
func notMappingHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() == reflect.Map && to.Kind() == reflect.Slice {
		return nil, errors.New("want a list, not a mapping")
	}
	return data, nil
}

// durationHook parses "200ms". A bare number is refused (but 0): YAML's `part_target: 200`
// would otherwise be 200 ns.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() || from == to {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String:
		return time.ParseDuration(strings.TrimSpace(data.(string)))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("duration %v has no unit (write e.g. \"%vms\")", data, data)
	}
	return data, nil
}

// stringListHook splits "a, b" into [a b] (env vars, or a one-line YAML string).
func stringListHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != reflect.TypeFor[[]string]() {
		return data, nil
	}
	return splitList(data.(string)), nil
}

func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// iceServersHook reads ICE servers from one string (an env var): either JSON
// ([{"urls":["turn:h:3478"],"username":"u","credential":"c"}]) or comma-separated URLs
// without credentials ("stun:a:3478, stun:b:3478"), one server each.
func iceServersHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to != reflect.TypeFor[[]ICEServer]() {
		return data, nil
	}
	s := strings.TrimSpace(data.(string))
	if strings.HasPrefix(s, "[") {
		var list []map[string]any
		if err := json.Unmarshal([]byte(s), &list); err != nil {
			return nil, fmt.Errorf("not a JSON list of {urls, username, credential}: %w", err)
		}
		return list, nil
	}
	var list []map[string]any
	for _, u := range splitList(s) {
		list = append(list, map[string]any{"urls": []string{u}})
	}
	return list, nil
}

// decodeError turns mapstructure's error tree into one line naming the first bad key.
func decodeError(err error) error {
	probs := decodeProblems(err, "")
	if len(probs) == 0 {
		return fmt.Errorf("config: %w", err)
	}
	switch n := len(probs) - 1; n {
	case 0:
		return errors.New(probs[0])
	case 1:
		return fmt.Errorf("%s (and 1 more problem)", probs[0])
	default:
		return fmt.Errorf("%s (and %d more problems)", probs[0], n)
	}
}

func decodeProblems(err error, name string) []string {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range joined.Unwrap() {
			out = append(out, decodeProblems(e, name)...)
		}
		return out
	}
	var de *mapstructure.DecodeError
	if d, ok := err.(*mapstructure.DecodeError); ok {
		return decodeProblems(d.Unwrap(), d.Name())
	}
	if errors.As(err, &de) { // a wrapper around the tree ("decoding failed ...")
		return decodeProblems(errors.Unwrap(err), name)
	}
	if keys, ok := strings.CutPrefix(err.Error(), "has invalid keys: "); ok {
		var out []string
		for _, k := range strings.Split(keys, ", ") {
			out = append(out, fmt.Sprintf("config: unknown key %q", strings.TrimPrefix(name+"."+k, ".")))
		}
		return out
	}
	if name == "" {
		return []string{"config: " + err.Error()}
	}
	return []string{fmt.Sprintf("config: %s: %v", name, err)}
}

// validate checks what types alone cannot; the first problem wins.
func (c *Config) validate() error {
	c.Log.Level = strings.ToLower(strings.TrimSpace(c.Log.Level))
	c.Log.Format = strings.ToLower(strings.TrimSpace(c.Log.Format))
	checks := []struct {
		key string
		err error
	}{
		{"http.addr", checkListenAddr(c.HTTP.Addr)},
		{"http.tls_cert", checkCertFile(c.HTTP.TLSCert, c.HTTP.TLSKey)},
		{"http.tls_key", checkKeyFile(c.HTTP.TLSCert, c.HTTP.TLSKey)},
		{"rtmp.addr", checkListenAddr(c.RTMP.Addr)},
		{"rtmps.addr", checkRTMPSAddr(c.RTMPS.Addr, c.HTTP.TLSCert != "")},
		{"webrtc.udp_addr", checkListenAddr(c.WebRTC.UDPAddr)},
		{"webrtc.tcp_addr", checkOptionalListenAddr(c.WebRTC.TCPAddr)},
		{"webrtc.hosts", checkHosts(c.WebRTC.Hosts)},
		{"webrtc.ice_servers", checkICEServers(c.WebRTC.ICEServers)},
		{"webrtc.grace_period", checkRange(c.WebRTC.GracePeriod, 0, maxGracePeriod)},
		{"webrtc.disconnect_timeout", checkRange(c.WebRTC.DisconnectTimeout, minDisconnectTimeout, maxDisconnectTimeout)},
		{"webrtc.publish_bitrate", checkPublishBitrate(c.WebRTC.PublishBitrate)},
		{"hls.part_target", checkRange(c.HLS.PartTarget, minPartTarget, maxPartTarget)},
		{"hls.segment_target", checkSegmentTarget(c.HLS.SegmentTarget, c.HLS.PartTarget)},
		{"auth.viewer_token_key", checkTokenKey(c.Auth.ViewerTokenKey)},
		{"limits.max_body_bytes", checkIntRange(c.Limits.MaxBodyBytes, minMaxBody, maxMaxBody)},
		{"limits.sessions_per_ip", checkPositive(c.Limits.SessionsPerIP)},
		{"limits.viewers_per_stream", checkPositive(c.Limits.ViewersPerStream)},
		{"limits.viewers", checkPositive(c.Limits.Viewers)},
		{"limits.publishers", checkPositive(c.Limits.Publishers)},
		{"limits.post_rate", checkRate(c.Limits.PostRate)},
		{"limits.post_burst", checkPositive(c.Limits.PostBurst)},
		{"limits.hls_blocking", checkPositive(c.Limits.HLSBlocking)},
		{"admin.addr", checkAdminAddr(c.Admin.Addr, c.HTTP.Addr)},
		{"shutdown.timeout", checkRange(c.Shutdown.Timeout, minShutdownTimeout, maxShutdownTimeout)},
		{"data.dir", checkNonEmpty(c.Data.Dir)},
		{"log.level", checkEnum(c.Log.Level, logLevels)},
		{"log.format", checkEnum(c.Log.Format, logFormats)},
	}
	for _, ch := range checks {
		if ch.err != nil {
			return fmt.Errorf("config: %s: %w", ch.key, ch.err)
		}
	}
	return checkStreams(c.Auth.Streams)
}

// checkStreams checks auth.streams: names a stream can have, and a token
// each (an empty one would open the stream, which leaving it out does
// more plainly, or fall back silently: neither is what was meant).
func checkStreams(streams map[string]StreamAuth) error {
	names := make([]string, 0, len(streams))
	for name := range streams {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if !stream.ValidName(name) {
			return fmt.Errorf("config: auth.streams: %q is not a stream name (1-64 characters of A-Z a-z 0-9 _ - .)", name)
		}
		if strings.TrimSpace(streams[name].PublishToken) == "" {
			return fmt.Errorf("config: auth.streams.%s.publish_token: must not be empty (remove %s to use auth.publish_token)", name, name)
		}
	}
	return nil
}

// checkCertFile checks the certificate half of the TLS pair: both or
// neither set, and a file of PEM certificates.
func checkCertFile(cert, key string) error {
	switch {
	case cert == "" && key == "":
		return nil
	case cert == "":
		return errors.New("must be set with http.tls_key")
	}
	data, err := os.ReadFile(cert)
	if err != nil {
		return err
	}
	n := 0
	for block, rest := pem.Decode(data); block != nil; block, rest = pem.Decode(rest) {
		if block.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return fmt.Errorf("%s: %w", cert, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("%s holds no PEM certificate", cert)
	}
	return nil
}

// checkKeyFile checks the key half: set with the certificate, readable, and
// the certificate's key.
func checkKeyFile(cert, key string) error {
	switch {
	case cert == "" && key == "":
		return nil
	case key == "":
		return errors.New("must be set with http.tls_cert")
	}
	if _, err := os.Stat(key); err != nil {
		return err
	}
	if _, err := tls.LoadX509KeyPair(cert, key); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	return nil
}

func checkOptionalListenAddr(addr string) error {
	if addr == "" {
		return nil
	}
	return checkListenAddr(addr)
}

func checkRTMPSAddr(addr string, haveCert bool) error {
	if addr == "" {
		return nil
	}
	if !haveCert {
		return errors.New("needs http.tls_cert and http.tls_key")
	}
	return checkListenAddr(addr)
}

func checkAdminAddr(addr, httpAddr string) error {
	if addr == "" {
		return nil
	}
	if err := checkListenAddr(addr); err != nil {
		return err
	}
	if _, port, _ := net.SplitHostPort(addr); addr == httpAddr && port != "0" {
		return errors.New("must differ from http.addr: pprof never goes on the public address")
	}
	return nil
}

func checkPositive(n int) error {
	if n < 1 {
		return fmt.Errorf("%d: must be at least 1", n)
	}
	return nil
}

func checkIntRange(n, lo, hi int64) error {
	if n < lo || n > hi {
		return fmt.Errorf("%d is out of range [%d, %d]", n, lo, hi)
	}
	return nil
}

func checkPublishBitrate(kbps int) error {
	if kbps == 0 {
		return nil
	}
	return checkIntRange(int64(kbps), minPublishBitrate, maxPublishBitrate)
}

func checkRate(r float64) error {
	if !(r > 0) || math.IsInf(r, 0) {
		return fmt.Errorf("%v: must be a number above 0", r)
	}
	return nil
}

// checkListenAddr accepts host:port with a numeric port (0 = any free port) and an empty,
// IP or name host.
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return fmt.Errorf("%q is not host:port (%s)", addr, ae.Err)
		}
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (n == 0 && port != "0") {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if host != "" && net.ParseIP(host) == nil && !isHostname(host) {
		return fmt.Errorf("%q: host %q is neither an IP nor a name", addr, host)
	}
	return nil
}

func checkHosts(hosts []string) error {
	for _, h := range hosts {
		if net.ParseIP(h) == nil && !isHostname(h) {
			return fmt.Errorf("%q is neither an IP nor a name", h)
		}
	}
	return nil
}

// isHostname is the RFC 1123 shape of a DNS name (letters, digits, hyphens, dots).
func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// checkICEServers checks each URL's scheme (stun/stuns: RFC 7064, turn/turns: RFC 7065) and
// that TURN comes with credentials, which browsers require (WebRTC 1.0, RTCIceServer).
func checkICEServers(servers []ICEServer) error {
	for i, s := range servers {
		if len(s.URLs) == 0 {
			return fmt.Errorf("[%d]: urls is empty", i)
		}
		for _, raw := range s.URLs {
			u, err := url.Parse(strings.TrimSpace(raw))
			if err != nil {
				return fmt.Errorf("[%d]: %q: %w", i, raw, errors.Unwrap(err))
			}
			scheme := strings.ToLower(u.Scheme)
			if !slices.Contains(iceSchemes, scheme) {
				return fmt.Errorf("[%d]: %q: scheme must be stun:, stuns:, turn: or turns:", i, raw)
			}
			if u.Opaque == "" {
				return fmt.Errorf("[%d]: %q: want %s:host[:port]", i, raw, scheme)
			}
			if strings.HasPrefix(scheme, "turn") && (s.Username == "" || s.Credential == "") {
				return fmt.Errorf("[%d]: %q: a TURN server needs username and credential", i, raw)
			}
		}
	}
	return nil
}

func checkRange(d, lo, hi time.Duration) error {
	if d < lo || d > hi {
		return fmt.Errorf("%v is out of range [%v, %v]", d, lo, hi)
	}
	return nil
}

func checkSegmentTarget(seg, part time.Duration) error {
	if seg < part {
		return fmt.Errorf("%v is shorter than hls.part_target (%v)", seg, part)
	}
	return checkRange(seg, part, maxSegmentTarget)
}

func checkEnum(s string, allowed []string) error {
	if !slices.Contains(allowed, s) {
		return fmt.Errorf("%q is not one of %s", s, strings.Join(allowed, ", "))
	}
	return nil
}

// minTokenKey is the shortest viewer token key accepted: HMAC-SHA256 keys
// shorter than the hash add no strength.
const minTokenKey = 32

func checkTokenKey(k string) error {
	if k != "" && len(k) < minTokenKey {
		return fmt.Errorf("must be at least %d bytes (or empty to generate one)", minTokenKey)
	}
	return nil
}

func checkNonEmpty(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("must not be empty")
	}
	return nil
}
