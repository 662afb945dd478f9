package whip

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/gateway/rtc"
	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

// session is one WHIP publisher: a peer connection whose tracks feed a
// stream.Publisher. Its goroutines (one per track for RTP, one for RTCP, and
// the supervisor) all end before Close returns.
type session struct {
	pc    *webrtc.PeerConnection
	ufrag string
	log   *slog.Logger

	pub       *stream.Publisher
	ready     chan struct{} // closed once pub is set
	videoSSRC atomic.Uint32

	stopOnce sync.Once
	stop     chan struct{}
	reason   atomic.Pointer[string]
	done     chan struct{}
	wg       sync.WaitGroup
}

func newSession(pc *webrtc.PeerConnection, ufrag string, log *slog.Logger) *session {
	s := &session{pc: pc, ufrag: ufrag, log: log, ready: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		s.wg.Add(1)
		go s.readTrack(t, r)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateFailed:
			s.shutdown("ice failed")
		case webrtc.PeerConnectionStateClosed:
			s.shutdown("connection closed")
		}
	})
	return s
}

// start hands the session its publisher and begins supervision.
func (s *session) start(pub *stream.Publisher) {
	s.pub = pub
	close(s.ready)
	go s.run()
}

func (s *session) run() {
	<-s.stop
	reason := "closed"
	if r := s.reason.Load(); r != nil {
		reason = *r
	}
	s.pub.CloseWithReason(reason)
	if err := s.pc.Close(); err != nil {
		s.log.Debug("whip: close peer connection", "err", err)
	}
	s.wg.Wait()
	close(s.done)
}

func (s *session) shutdown(reason string) {
	s.stopOnce.Do(func() {
		s.reason.Store(&reason)
		close(s.stop)
	})
}

// Close ends the publisher session and waits until its goroutines are gone.
func (s *session) Close() error {
	s.shutdown("deleted")
	<-s.done
	return nil
}

func (s *session) Done() <-chan struct{}  { return s.done }
func (s *session) RemoteICEUfrag() string { return s.ufrag }

func (s *session) AddICECandidate(c webrtc.ICECandidateInit) error { return s.pc.AddICECandidate(c) }

// requestKeyframe sends a PLI (RFC 4585 section 6.3.1) to the publisher.
func (s *session) requestKeyframe() {
	ssrc := s.videoSSRC.Load()
	if ssrc == 0 {
		return
	}
	if err := s.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		s.log.Debug("whip: send PLI", "err", err)
	}
}

func (s *session) readTrack(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
	defer s.wg.Done()
	select {
	case <-s.ready:
	case <-s.stop:
		return
	}
	kind := packager.KindAudio
	if t.Kind() == webrtc.RTPCodecTypeVideo {
		kind = packager.KindVideo
		if !rtc.IsH264Mode1(t.Codec()) {
			s.log.Warn("whip: video track is not H264 packetization-mode 1; ignored", "codec", t.Codec().MimeType)
			return
		}
		s.videoSSRC.Store(uint32(t.SSRC()))
		s.pub.Stream().RequestKeyframe()
	}
	s.wg.Add(1)
	go s.readRTCP(kind, r)
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return // the peer connection closed
		}
		if err := s.pub.WriteRTP(kind, pkt, time.Now()); err != nil {
			if errors.Is(err, stream.ErrClosed) {
				s.shutdown("stream closed")
				return
			}
			s.log.Debug("whip: write rtp", "kind", kind, "err", err)
		}
	}
}

// readRTCP takes the publisher's sender reports: they align audio and video.
func (s *session) readRTCP(kind packager.Kind, r *webrtc.RTPReceiver) {
	defer s.wg.Done()
	for {
		pkts, _, err := r.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if sr, ok := p.(*rtcp.SenderReport); ok {
				s.pub.WriteSenderReport(kind, ntpTime(sr.NTPTime), sr.RTPTime)
			}
		}
	}
}

// ntpTime converts a 64-bit NTP timestamp (RFC 3550 section 4) to time.Time.
func ntpTime(ntp uint64) time.Time {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := int64(ntp>>32) - ntpEpochOffset
	frac := int64(ntp&0xFFFFFFFF) * int64(time.Second) >> 32
	return time.Unix(secs, frac)
}
