// Package whep is frontrow's WebRTC tier for viewers (draft-ietf-wish-whep):
// a player POSTs an offer to /whep/{stream} and receives the stream's RTP as
// the publisher sent it, forwarded without decoding (an SFU).
package whep

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/pion/webrtc/v4"

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
	// QueueLen bounds each viewer's queue in packets; DefaultQueueLen if zero.
	QueueLen int
	Logger   *slog.Logger
}

// Server starts WHEP viewer sessions; mount it with signaling.NewHandler.
type Server struct {
	cfg Config
}

// NewServer makes a WHEP server.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	return &Server{cfg: cfg}
}

// Start is the signaling.Starter for POST /whep/{stream}.
func (s *Server) Start(ctx context.Context, req signaling.StartRequest) (signaling.Session, []byte, error) {
	if !stream.ValidName(req.Stream) {
		return nil, nil, &signaling.Refusal{Status: http.StatusBadRequest, Msg: stream.ErrBadName.Error()}
	}
	info, err := rtc.CheckOffer(req.Offer, rtc.RoleViewer)
	if err != nil {
		return nil, nil, err
	}
	st, ok := s.cfg.Registry.Get(req.Stream)
	if !ok || !st.Live() {
		return nil, nil, &signaling.Refusal{
			Status: http.StatusConflict, Msg: "stream " + req.Stream + " is not live", Retry: notLiveRetryAfter,
		}
	}
	pc, err := s.cfg.Engine.Play.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, fmt.Errorf("whep: new peer connection: %w", err)
	}
	v := newViewer(st, pc, info.ICEUfrag, s.cfg.QueueLen, s.cfg.Logger.With("stream", req.Stream, "remote", req.Remote))
	for _, t := range st.Tracks() {
		if (t.Kind() == packager.KindVideo && !info.Video) || (t.Kind() == packager.KindAudio && !info.Audio) {
			continue
		}
		if err := v.addTrack(t); err != nil {
			_ = pc.Close()
			return nil, nil, fmt.Errorf("whep: add %s track: %w", t.Kind(), err)
		}
	}
	offer, err := rtc.ReceiveOnly(req.Offer)
	if err != nil {
		_ = pc.Close()
		return nil, nil, err
	}
	answer, err := rtc.Answer(ctx, pc, offer)
	if err != nil {
		_ = pc.Close()
		return nil, nil, err
	}
	if err := v.start(); err != nil {
		_ = pc.Close()
		return nil, nil, &signaling.Refusal{
			Status: http.StatusConflict, Msg: "stream " + req.Stream + " is not live", Retry: notLiveRetryAfter,
		}
	}
	return v, answer, nil
}
