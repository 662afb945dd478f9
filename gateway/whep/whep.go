// Package whep is frontrow's WebRTC tier for viewers (draft-ietf-wish-whep):
// a player POSTs an offer to /whep/{stream} and receives the stream's RTP as
// the publisher sent it, forwarded without decoding (an SFU).
package whep

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"

	"github.com/frontrow-live/frontrow/gateway/peer"
	"github.com/frontrow-live/frontrow/gateway/rtc"
	"github.com/frontrow-live/frontrow/gateway/signaling"
	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

// notLiveRetryAfter is the Retry-After, in seconds, a player gets for a
// stream that is not live: short, since an encoder may be seconds away.
const notLiveRetryAfter = 2

// Config wires the WHEP server.
type Config struct {
	Engine   *rtc.Engine
	Registry *stream.Registry
	// Workers is how many send workers share the viewers; GOMAXPROCS if
	// zero.
	Workers int
	Logger  *slog.Logger
}

// Server starts WHEP viewer sessions; mount it with signaling.NewHandler.
// Close it after its sessions.
type Server struct {
	cfg     Config
	cert    *peer.Certificate
	workers []*worker

	mu      sync.Mutex
	fanouts map[*stream.Stream]*fanout
	closed  bool
}

// NewServer makes a WHEP server with its DTLS identity.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	cert, err := peer.NewCertificate()
	if err != nil {
		return nil, fmt.Errorf("whep: %w", err)
	}
	s := &Server{cfg: cfg, cert: cert, fanouts: make(map[*stream.Stream]*fanout)}
	for range cfg.Workers {
		s.workers = append(s.workers, newWorker(cfg.Engine.NewBatch()))
	}
	return s, nil
}

// Close stops the send workers. Idempotent.
func (s *Server) Close() error {
	s.mu.Lock()
	closed := s.closed
	s.closed = true
	s.mu.Unlock()
	if !closed {
		for _, w := range s.workers {
			w.close()
		}
	}
	return nil
}

// attach gives a joining viewer of st its stream's fan-out and the least
// loaded worker.
func (s *Server) attach(st *stream.Stream) (*fanout, *worker) {
	w := s.workers[0]
	for _, o := range s.workers[1:] {
		if o.load() < w.load() {
			w = o
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fanouts[st]
	if f == nil {
		f = newFanout(st)
		s.fanouts[st] = f
	}
	return f, w
}

// release forgets st's fan-out once its last viewer left.
func (s *Server) release(st *stream.Stream, f *fanout) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fanouts[st] == f && f.empty() {
		delete(s.fanouts, st)
	}
}

// Start is the signaling.Starter for POST /whep/{stream}.
func (s *Server) Start(_ context.Context, req signaling.StartRequest) (signaling.Session, []byte, error) {
	if !stream.ValidName(req.Stream) {
		return nil, nil, &signaling.Refusal{Status: http.StatusBadRequest, Msg: stream.ErrBadName.Error()}
	}
	if _, err := rtc.CheckOffer(req.Offer, rtc.RoleViewer); err != nil {
		return nil, nil, err
	}
	st, ok := s.cfg.Registry.Get(req.Stream)
	if !ok || !st.Live() {
		return nil, nil, notLive(req.Stream)
	}
	creds, err := peer.NewCredentials()
	if err != nil {
		return nil, nil, fmt.Errorf("whep: ice credentials: %w", err)
	}
	acfg := peer.AnswerConfig{ICE: creds, Fingerprint: s.cert.Fingerprint, CNAME: "frontrow"}
	for _, a := range s.cfg.Engine.Candidates() {
		acfg.Candidates = append(acfg.Candidates, peer.Candidate{Network: "udp", Addr: a})
	}
	for _, a := range s.cfg.Engine.TCPCandidates() {
		acfg.Candidates = append(acfg.Candidates, peer.Candidate{Network: "tcp", Addr: a})
	}
	srcs := map[packager.Kind]*stream.Track{}
	for _, t := range st.Tracks() {
		srcs[t.Kind()] = t
		pt := &peer.Track{Kind: t.Kind().String(), SSRC: randomSSRC(), StreamID: "frontrow", TrackID: t.Kind().String()}
		if t.Kind() == packager.KindVideo {
			pt.RTXSSRC = randomSSRC() // used if the offer has rtx (RFC 4588)
			acfg.Video = pt
		} else {
			acfg.Audio = pt
		}
	}
	answer, neg, err := peer.Answer(req.Offer, acfg)
	if err != nil {
		return nil, nil, err
	}
	v := newViewer(s, st, neg, acfg.Candidates, s.cfg.Logger.With("stream", req.Stream, "remote", req.Remote))
	if neg.Video != nil && srcs[packager.KindVideo] != nil {
		vt := newOutTrack(srcs[packager.KindVideo], acfg.Video.SSRC, neg.Video.PayloadType)
		if neg.Video.RTXPayloadType != 0 {
			vt.rtxSSRC, vt.rtxPT = acfg.Video.RTXSSRC, neg.Video.RTXPayloadType
		}
		v.tracks[packager.KindVideo] = vt
	}
	if neg.Audio != nil && srcs[packager.KindAudio] != nil {
		v.tracks[packager.KindAudio] = newOutTrack(srcs[packager.KindAudio], acfg.Audio.SSRC, neg.Audio.PayloadType)
	}
	conn, err := peer.New(peer.Config{
		Engine: s.cfg.Engine, Certificate: s.cert,
		Local: creds, RemoteUfrag: neg.RemoteUfrag, RemoteFingerprint: neg.RemoteFingerprint,
		DisconnectTimeout: s.cfg.Engine.DisconnectTimeout(),
		OnConnected:       v.connected, OnRTCP: v.rtcp,
		Logger: v.log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("whep: %w", err)
	}
	if err := v.start(conn); err != nil {
		_ = conn.Close()
		if errors.Is(err, stream.ErrNotLive) {
			return nil, nil, notLive(req.Stream)
		}
		return nil, nil, fmt.Errorf("whep: %w", err)
	}
	return v, answer, nil
}

func notLive(name string) error {
	return &signaling.Refusal{Status: http.StatusConflict, Msg: "stream " + name + " is not live", Retry: notLiveRetryAfter}
}

// randomSSRC picks a viewer track's SSRC (RFC 3550 section 8.1: random).
func randomSSRC() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return binary.BigEndian.Uint32(b[:])
}
