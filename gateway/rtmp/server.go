// Package rtmp is frontrow's RTMP ingest: an encoder (OBS, ffmpeg, a
// hardware encoder) publishes rtmp://HOST:1935/live/{stream}?token=... and
// the stream reaches the WebRTC and LL-HLS tiers as a WHIP stream does.
//
// The server speaks plain RTMP and enhanced RTMP (veovera enhanced-rtmp v2)
// through gortmplib; it accepts H264 video with AAC or Opus audio and
// publishes their access units through stream.Publisher.WriteUnit. Playing
// over RTMP is not offered: viewers use WHEP or LL-HLS.
package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/frontrow-live/frontrow/gateway/stream"
)

const (
	// AppName is the RTMP application streams are published under: the
	// "live" of rtmp://HOST/live/{stream}.
	AppName = "live"
	// DefaultMaxConns bounds simultaneous RTMP connections (publishers and
	// whatever else knocks on the port); past it new ones are closed at once.
	DefaultMaxConns = 64
	// DefaultHandshakeTimeout bounds the RTMP handshake, the connect and
	// publish commands, and the wait for the tracks' sequence headers.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultReadTimeout drops a publisher that sends nothing for this long,
	// including one that stops in the middle of a chunk.
	DefaultReadTimeout = 10 * time.Second
	// writeTimeout bounds the few writes the server makes (acknowledgements,
	// status replies), so a client that stops reading cannot hold a goroutine.
	writeTimeout = 5 * time.Second
	// refusedLogEvery rate-limits the warning about connections over the limit.
	refusedLogEvery = 10 * time.Second
)

// Config sets up a Server; zero values take the defaults.
type Config struct {
	// Addr is the TCP listen address, e.g. ":1935".
	Addr string
	// Registry receives the publications.
	Registry *stream.Registry
	// Token, when set, gives the token a stream's publisher must put after
	// the stream key (?token=); "" leaves that stream open.
	Token func(stream string) string
	// Admit, when set, is asked before a publisher is accepted (limits); it
	// returns a release func, called once when the publisher leaves, or the
	// reason of a refusal.
	Admit func(stream, remote string) (release func(), err error)
	// TLS, when set, makes this an RTMPS server: every connection is TLS
	// first, then RTMP inside it.
	TLS    *tls.Config
	Logger *slog.Logger

	MaxConns         int
	HandshakeTimeout time.Duration
	ReadTimeout      time.Duration
}

// Server is the RTMP ingest. New binds its port; Serve accepts until
// Close (or its context ends). Every connection's goroutine is owned by the
// server and waited for by Close.
type Server struct {
	cfg Config
	log *slog.Logger
	ln  net.Listener

	mu         sync.Mutex
	conns      map[net.Conn]struct{}
	closed     bool
	serving    bool
	refused    int       // connections over the limit since the last warning
	refusedLog time.Time // when that warning was last logged

	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// New validates cfg and binds the listener.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil {
		return nil, errors.New("rtmp: no stream registry")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen %s: %w", scheme(cfg), cfg.Addr, err)
	}
	if cfg.TLS != nil {
		// The TLS handshake runs on the first read, under the connection's
		// handshake deadline.
		ln = tls.NewListener(ln, cfg.TLS)
	}
	return &Server{cfg: cfg, log: cfg.Logger, ln: ln, conns: map[net.Conn]struct{}{}}, nil
}

// scheme names the server in errors: rtmp or rtmps.
func scheme(cfg Config) string {
	if cfg.TLS != nil {
		return "rtmps"
	}
	return "rtmp"
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts connections until Close is called or ctx ends; then it
// returns nil. Only one Serve may run.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.serving || s.closed {
		s.mu.Unlock()
		return errors.New("rtmp: server already serving or closed")
	}
	s.serving = true
	s.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { _ = s.Close() })
	defer stop()

	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.isClosed() {
				return nil
			}
			if temporaryAcceptError(err) {
				// Out of descriptors or the like: wait, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("rtmp: accept", "err", err, "retry_in", backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				}
				continue
			}
			return fmt.Errorf("rtmp: accept: %w", err)
		}
		backoff = 0
		s.track(nc)
	}
}

// temporaryAcceptError reports an accept error that passes: out of file
// descriptors, or a connection aborted before it was accepted.
func temporaryAcceptError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ECONNABORTED)
}

// track starts a goroutine for a new connection, unless the server is
// closed or full.
func (s *Server) track(nc net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = nc.Close()
		return
	}
	if len(s.conns) >= s.cfg.MaxConns {
		_ = nc.Close()
		s.refused++
		if now := time.Now(); now.Sub(s.refusedLog) >= refusedLogEvery {
			s.log.Warn("rtmp: connection refused: too many connections", "max", s.cfg.MaxConns,
				"remote", nc.RemoteAddr().String(), "refused", s.refused)
			s.refusedLog, s.refused = now, 0
		}
		return
	}
	s.conns[nc] = struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer s.forget(nc)
		s.handle(nc)
	}()
}

func (s *Server) forget(nc net.Conn) {
	_ = nc.Close()
	s.mu.Lock()
	delete(s.conns, nc)
	s.mu.Unlock()
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close stops accepting, closes every connection (their publishers
// unpublish, which starts their streams' grace periods) and waits for the
// connections' goroutines. Idempotent; concurrent callers all wait.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for nc := range s.conns {
			_ = nc.Close()
		}
		s.mu.Unlock()
		if err := s.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			s.closeErr = fmt.Errorf("rtmp: close listener: %w", err)
		}
		s.wg.Wait()
	})
	return s.closeErr
}
