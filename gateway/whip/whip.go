// Package whip is frontrow's WHIP ingest (RFC 9725): a browser or encoder
// POSTs an SDP offer to /whip/{stream} and publishes over WebRTC into the
// stream registry.
package whip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/gateway/rtc"
	"github.com/frontrow-live/frontrow/gateway/signaling"
	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

// Config wires the WHIP server.
type Config struct {
	Engine   *rtc.Engine
	Registry *stream.Registry
	Logger   *slog.Logger
}

// Server starts WHIP publisher sessions; mount it with signaling.NewHandler.
type Server struct {
	cfg Config
}

// NewServer makes a WHIP server.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Server{cfg: cfg}
}

// Start is the signaling.Starter for POST /whip/{stream}.
func (s *Server) Start(ctx context.Context, req signaling.StartRequest) (signaling.Session, []byte, error) {
	if !stream.ValidName(req.Stream) {
		return nil, nil, &signaling.Refusal{Status: http.StatusBadRequest, Msg: stream.ErrBadName.Error()}
	}
	info, err := rtc.CheckOffer(req.Offer, rtc.RolePublisher)
	if err != nil {
		return nil, nil, err
	}
	if _, ok := s.cfg.Registry.Get(req.Stream); ok {
		if st, _ := s.cfg.Registry.Get(req.Stream); st != nil && st.Live() {
			return nil, nil, refuseBusy(req.Stream)
		}
	}
	pc, err := s.cfg.Engine.Publish.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, fmt.Errorf("whip: new peer connection: %w", err)
	}
	sess := newSession(pc, info.ICEUfrag, s.cfg.Logger.With("stream", req.Stream, "remote", req.Remote))
	answer, err := rtc.Answer(ctx, pc, req.Offer)
	if err == nil {
		answer, err = s.cfg.Engine.PublishAnswer(answer)
	}
	if err != nil {
		_ = pc.Close()
		return nil, nil, err
	}
	tracks := packager.Tracks{}
	if info.Video {
		tracks.Video = &packager.VideoInfo{}
	}
	if info.Audio {
		tracks.Audio = &packager.AudioInfo{Codec: packager.CodecOpus, SampleRate: 48000, Channels: 2}
	}
	pub, err := s.cfg.Registry.Publish(req.Stream, stream.PublishRequest{
		Tracks: tracks, Protocol: "whip", Remote: req.Remote, RequestKeyframe: sess.requestKeyframe,
	})
	if err != nil {
		_ = pc.Close()
		if errors.Is(err, stream.ErrAlreadyPublishing) {
			return nil, nil, refuseBusy(req.Stream)
		}
		return nil, nil, fmt.Errorf("whip: publish %s: %w", req.Stream, err)
	}
	sess.start(pub)
	return sess, answer, nil
}

// refuseBusy is the answer to a second publisher: the first one keeps the
// stream until it leaves (RFC 9725 leaves the rule to the server).
func refuseBusy(name string) error {
	return &signaling.Refusal{Status: http.StatusConflict, Msg: "stream " + name + " already has a live publisher"}
}
