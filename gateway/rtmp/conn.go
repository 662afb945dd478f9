package rtmp

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

// onStatus codes the server answers a refused publish or play with (Adobe
// Media Server's NetStream status codes, which encoders print).
const (
	statusBadName  = "NetStream.Publish.BadName"  // no such application, bad or taken stream name
	statusRejected = "NetStream.Publish.Rejected" // token or codec refused
	statusPlay     = "NetStream.Play.Failed"
	// statusStreamID is the message stream gortmplib's ServerConn gives the
	// publisher (its createStream answers 1; messages carry it little-endian).
	statusStreamID = 0x1000000
	// statusChunkStream is the chunk stream gortmplib sends onStatus on.
	statusChunkStream = 5
)

// tlsHandshakeVersion is how gortmplib reports a TLS ClientHello (record
// type 22) in place of RTMP's version byte C0: an encoder set to rtmps://.
const tlsHandshakeVersion = "invalid rtmp version (22)"

// Commands an encoder sends when it stops publishing (ffmpeg and OBS send
// FCUnpublish, then deleteStream).
var stopCommands = map[string]bool{"FCUnpublish": true, "deleteStream": true, "closeStream": true}

// tokenPattern finds a token in text that may quote a URL, so logs never carry it.
var tokenPattern = regexp.MustCompile(`(?i)(token=)[^&\s"'}\]]*`)

func redact(err error) string { return tokenPattern.ReplaceAllString(err.Error(), "${1}REDACTED") }

// handle serves one connection from handshake to the publisher's end.
func (s *Server) handle(nc net.Conn) {
	remote := nc.RemoteAddr().String()
	log := s.log.With("remote", remote)
	var pub *stream.Publisher
	reason := "connection closed"
	defer func() {
		// gortmplib parses whatever a client sends; a bug there must cost
		// this connection only, never the process.
		if r := recover(); r != nil {
			log.Error("rtmp: connection handler panicked; connection closed", "panic", r, "stack", string(debug.Stack()))
			reason = "internal error"
		}
		if pub != nil {
			pub.CloseWithReason("rtmp: " + reason)
		}
	}()

	start := time.Now()
	_ = nc.SetDeadline(start.Add(s.cfg.HandshakeTimeout))
	sc := &gortmplib.ServerConn{RW: nc}
	if err := sc.Initialize(); err != nil {
		if strings.Contains(err.Error(), tlsHandshakeVersion) {
			log.Warn("rtmp: a TLS (RTMPS) client connected; this port speaks plain RTMP: use rtmp://, not rtmps://")
			return
		}
		var rh tls.RecordHeaderError
		if errors.As(err, &rh) {
			log.Warn("rtmps: a client spoke no TLS; this port is RTMPS: use rtmps://, not rtmp://")
			return
		}
		// Port scanners and stray clients: not worth a line each at info.
		log.Debug("rtmp: connection dropped: no RTMP handshake and connect", "err", redact(err))
		return
	}
	if err := sc.Accept(); err != nil {
		log.Info("rtmp: connection dropped before publish", "err", redact(err))
		return
	}
	if !sc.Publish {
		log.Warn("rtmp: play refused: frontrow takes RTMP in only; watch over WHEP (/whep/{stream}) or LL-HLS (/hls/{stream}/index.m3u8)")
		refuse(sc, nc, statusPlay, "playing over RTMP is not offered")
		return
	}
	name, token, err := parsePublishURL(sc.URL)
	if err != nil {
		log.Warn("rtmp: publish refused", "reason", err)
		refuse(sc, nc, statusBadName, err.Error())
		return
	}
	log = log.With("stream", name)
	if !s.tokenOK(name, token) {
		given := "missing"
		if token != "" {
			given = "wrong"
		}
		log.Warn("rtmp: publish refused: wrong or missing token; put it after the stream key: {stream}?token=...", "token", given)
		refuse(sc, nc, statusRejected, "publish token is missing or wrong")
		return
	}
	if st, ok := s.cfg.Registry.Get(name); ok && st.Live() {
		log.Warn("rtmp: publish refused: the stream already has a live publisher")
		refuse(sc, nc, statusBadName, "stream is already publishing")
		return
	}
	if s.cfg.Admit != nil {
		release, err := s.cfg.Admit(name, remote)
		if err != nil {
			log.Warn("rtmp: publish refused", "reason", err.Error())
			refuse(sc, nc, statusRejected, err.Error())
			return
		}
		defer release()
	}

	ing := newIngest(log, func(tracks packager.Tracks) (unitSink, time.Time, error) {
		p, err := s.cfg.Registry.Publish(name, stream.PublishRequest{Tracks: tracks, Protocol: "rtmp", Remote: remote})
		if err != nil {
			return nil, time.Time{}, err
		}
		pub = p
		return p, p.Stream().Epoch(), nil
	})
	reason = s.readMedia(sc, nc, ing, start, log)
	if pub != nil {
		log.Info("rtmp: publisher left", "reason", reason, "units", ing.stats.units, "dropped", ing.stats.dropped,
			"reanchors", ing.stats.reanchors, "bytes", sc.BytesReceived(), "duration", time.Since(start).Round(time.Millisecond))
	}
}

// readMedia feeds the publisher's messages to the ingest until the
// connection ends, and says why it ended.
func (s *Server) readMedia(sc *gortmplib.ServerConn, nc net.Conn, ing *ingest, start time.Time, log *slog.Logger) string {
	for {
		now := time.Now()
		// Until the tracks are known the whole set-up has one deadline; then
		// each message has ReadTimeout to arrive (a stalled chunk included).
		deadline := start.Add(s.cfg.HandshakeTimeout)
		if ing.published() {
			deadline = now.Add(s.cfg.ReadTimeout)
		}
		_ = nc.SetReadDeadline(deadline)
		_ = nc.SetWriteDeadline(now.Add(writeTimeout)) // acknowledgements are written while reading
		msg, err := sc.Read()
		arrival := time.Now()
		if err != nil {
			if r := refusalFromReadError(err); r != nil {
				log.Warn("rtmp: publish refused", "reason", r.Error())
				refuse(sc, nc, statusRejected, r.Error())
				return "unsupported codec"
			}
			why := readEndReason(err, ing.published(), s.cfg.ReadTimeout)
			if !ing.published() {
				log.Warn("rtmp: publish abandoned before the tracks were known", "reason", why)
			}
			return why
		}
		if cmd, ok := msg.(*message.CommandAMF0); ok {
			if stopCommands[cmd.Name] {
				return "encoder stopped publishing"
			}
			continue
		}
		if err := ing.handle(msg, arrival); err != nil {
			var refusal *codecRefusal
			switch {
			case errors.As(err, &refusal):
				log.Warn("rtmp: publish refused", "reason", refusal.Error())
				refuse(sc, nc, statusRejected, refusal.Error())
				return "unsupported codec"
			case errors.Is(err, stream.ErrAlreadyPublishing):
				log.Warn("rtmp: publish refused: the stream already has a live publisher")
				refuse(sc, nc, statusBadName, "stream is already publishing")
				return "stream already publishing"
			case errors.Is(err, stream.ErrClosed):
				return "stream closed"
			default:
				log.Warn("rtmp: publish ended", "err", redact(err))
				refuse(sc, nc, statusRejected, err.Error())
				return redact(err)
			}
		}
	}
}

// readEndReason says why reading stopped, for logs.
func readEndReason(err error, published bool, readTimeout time.Duration) string {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "encoder disconnected"
	case errors.Is(err, net.ErrClosed):
		return "server closing"
	case errors.As(err, &ne) && ne.Timeout() && published:
		return fmt.Sprintf("no data for %v", readTimeout)
	case errors.As(err, &ne) && ne.Timeout():
		return "no H264/AAC sequence headers in time"
	}
	return "read: " + redact(err)
}

// parsePublishURL takes the stream name and token from the publish URL,
// which gortmplib joins from the connect command's tcUrl and the publish
// command's stream key: rtmp://HOST/live/{stream}?token=...
func parsePublishURL(u *url.URL) (name, token string, err error) {
	if u == nil {
		return "", "", errors.New("no publish URL")
	}
	parts := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
	if len(parts) > 0 && parts[0] != AppName {
		return "", "", fmt.Errorf("publish to rtmp://HOST/%s/{stream}, not to application %q", AppName, parts[0])
	}
	if len(parts) != 2 {
		return "", "", fmt.Errorf("publish to rtmp://HOST/%s/{stream}?token=... (OBS: Server rtmp://HOST/%s, Stream Key {stream}?token=...)", AppName, AppName)
	}
	if !stream.ValidName(parts[1]) {
		return "", "", stream.ErrBadName
	}
	return parts[1], u.Query().Get("token"), nil
}

// tokenOK compares stream's publish token in constant time; hashing first
// keeps the token's length from showing too.
func (s *Server) tokenOK(stream, got string) bool {
	if s.cfg.Token == nil {
		return true
	}
	want := s.cfg.Token(stream)
	if want == "" {
		return true
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// refuse tells the client why (encoders print the description), best effort.
func refuse(sc *gortmplib.ServerConn, nc net.Conn, code, description string) {
	_ = nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_ = sc.Write(&message.CommandAMF0{
		ChunkStreamID:   statusChunkStream,
		MessageStreamID: statusStreamID,
		Name:            "onStatus",
		Arguments: []any{nil, amf0.Object{
			{Key: "level", Value: "error"},
			{Key: "code", Value: code},
			{Key: "description", Value: description},
		}},
	})
}
