package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
)

// Config is everything `frontrow serve` needs. Limits live here, in one struct.
type Config struct {
	HTTP   HTTPConfig   `mapstructure:"http"`
	RTMP   RTMPConfig   `mapstructure:"rtmp"`
	WebRTC WebRTCConfig `mapstructure:"webrtc"`
	HLS    HLSConfig    `mapstructure:"hls"`
	Auth   AuthConfig   `mapstructure:"auth"`
	Demo   DemoConfig   `mapstructure:"demo"`
	Data   DataConfig   `mapstructure:"data"`
	Log    LogConfig    `mapstructure:"log"`
}

// HTTPConfig is the HTTP face: WHIP, WHEP, LL-HLS, the API, the player.
type HTTPConfig struct {
	Addr string `mapstructure:"addr"` // TCP listen address, host:port; port 0 picks a free one
}

// RTMPConfig is the RTMP ingest.
type RTMPConfig struct {
	Addr string `mapstructure:"addr"` // TCP listen address, host:port
}

// WebRTCConfig is the WebRTC tier (WHIP ingest and WHEP viewers).
type WebRTCConfig struct {
	// UDPAddr is the one UDP port that all ICE sessions share (ICE UDP mux).
	UDPAddr string `mapstructure:"udp_addr"`
	// Hosts are the IPs or names advertised as host candidates; empty means the machine's
	// own interface addresses. A name is resolved by whoever wires it.
	Hosts []string `mapstructure:"hosts"`
	// ICEServers are STUN/TURN servers handed to clients (Link headers, WHIP/WHEP).
	ICEServers []ICEServer `mapstructure:"ice_servers"`
	// GracePeriod is how long a stream whose publisher left waits for it to reconnect.
	GracePeriod time.Duration `mapstructure:"grace_period"`
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
	// PublishToken is the Bearer token for WHIP and the RTMP stream key check.
	// Empty means anyone may publish: warn at start.
	PublishToken string `mapstructure:"publish_token"`
	// AdminToken is the Bearer token of the distribution API; empty turns the API off.
	AdminToken string `mapstructure:"admin_token"`
	// ViewerTokenKey signs viewer tokens (32 bytes or more); empty: a key is
	// generated once and kept in data.dir.
	ViewerTokenKey string `mapstructure:"viewer_token_key"`
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
	return Config{
		HTTP:   HTTPConfig{Addr: ":8080"},
		RTMP:   RTMPConfig{Addr: ":1935"},
		WebRTC: WebRTCConfig{UDPAddr: ":8189", Hosts: []string{}, ICEServers: []ICEServer{}, GracePeriod: 10 * time.Second},
		HLS:    HLSConfig{PartTarget: 200 * time.Millisecond, SegmentTarget: time.Second},
		Demo:   DemoConfig{Enabled: false}, // configs/frontrow.yaml turns it on
		Data:   DataConfig{Dir: "data"},
		Log:    LogConfig{Level: "info", Format: "text"},
	}
}

// addConfigFlags registers --config and one flag per scalar key on fs (layer 4). The publish
// token has no flag (a flag shows in ps), nor do the structured ICE servers: use the file or env.
func addConfigFlags(fs *pflag.FlagSet) {
	d := defaultConfig()
	fs.String(flagConfig, "", "YAML config `file` (default: $"+envConfigFile+", else none)")
	fs.String(flagName("http.addr"), d.HTTP.Addr, "HTTP listen `address` (WHIP, WHEP, LL-HLS, API, player)")
	fs.String(flagName("rtmp.addr"), d.RTMP.Addr, "RTMP ingest listen `address`")
	fs.String(flagName("webrtc.udp_addr"), d.WebRTC.UDPAddr, "UDP `address` shared by all ICE sessions")
	fs.StringSlice(flagName("webrtc.hosts"), d.WebRTC.Hosts, "`hosts` (IPs or names, comma-separated) advertised as ICE host candidates (default: the machine's interfaces)")
	fs.Duration(flagName("webrtc.grace_period"), d.WebRTC.GracePeriod, "how long a stream waits for its publisher to reconnect")
	fs.Duration(flagName("hls.part_target"), d.HLS.PartTarget, fmt.Sprintf("LL-HLS part target duration (%v to %v)", minPartTarget, maxPartTarget))
	fs.Duration(flagName("hls.segment_target"), d.HLS.SegmentTarget, fmt.Sprintf("LL-HLS segment target duration (part target to %v)", maxSegmentTarget))
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

	env, err := envSettings(environ, leaves)
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

// envSettings turns the FRONTROW_* variables of environ into a nested settings map (layer 3).
// Every FRONTROW_ variable must name a key (or be FRONTROW_CONFIG); empty ones are ignored,
// as viper does, so FRONTROW_AUTH_PUBLISH_TOKEN= never opens publishing by accident.
func envSettings(environ []string, leaves []leaf) (map[string]any, error) {
	keyOf := make(map[string]string, len(leaves))
	names := make([]string, 0, len(leaves))
	for _, l := range leaves {
		keyOf[envName(l.key)] = l.key
		names = append(names, envName(l.key))
	}
	out := map[string]any{}
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || name == envConfigFile {
			continue
		}
		key, ok := keyOf[name]
		if !ok {
			return nil, fmt.Errorf("config: unknown environment variable %s%s", name, suggest(name, append(names, envConfigFile)))
		}
		if val == "" {
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
		{"rtmp.addr", checkListenAddr(c.RTMP.Addr)},
		{"webrtc.udp_addr", checkListenAddr(c.WebRTC.UDPAddr)},
		{"webrtc.hosts", checkHosts(c.WebRTC.Hosts)},
		{"webrtc.ice_servers", checkICEServers(c.WebRTC.ICEServers)},
		{"webrtc.grace_period", checkRange(c.WebRTC.GracePeriod, 0, maxGracePeriod)},
		{"hls.part_target", checkRange(c.HLS.PartTarget, minPartTarget, maxPartTarget)},
		{"hls.segment_target", checkSegmentTarget(c.HLS.SegmentTarget, c.HLS.PartTarget)},
		{"auth.viewer_token_key", checkTokenKey(c.Auth.ViewerTokenKey)},
		{"data.dir", checkNonEmpty(c.Data.Dir)},
		{"log.level", checkEnum(c.Log.Level, logLevels)},
		{"log.format", checkEnum(c.Log.Format, logFormats)},
	}
	for _, ch := range checks {
		if ch.err != nil {
			return fmt.Errorf("config: %s: %w", ch.key, ch.err)
		}
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
