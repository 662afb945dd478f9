package whep

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

var _ stream.CountingViewer = (*viewer)(nil)

// viewer is one WHEP session: a peer connection the stream's fan-out
// workers send to directly (a send never blocks: the shared socket's sender
// queues), which also sends the RTCP sender reports. Its goroutines (the
// supervisor, one RTCP reader per track) end before Close returns.
type viewer struct {
	st     *stream.Stream
	pc     *webrtc.PeerConnection
	ufrag  string
	log    *slog.Logger
	joined time.Time

	tracks  [2]*outTrack // by packager.Kind
	senders []*webrtc.RTPSender
	// sendMu serialises the sends (the stream's fan-out worker, the RTCP
	// reader's retransmissions) and guards the video start state.
	sendMu       sync.Mutex
	videoStarted bool
	session      uint32
	// The viewer's own totals (stream.CountingViewer), written by its
	// goroutines only: no cache line shared with other viewers.
	sent        atomic.Uint64
	sentBytes   atomic.Uint64
	nacks       atomic.Uint64
	retransmits atomic.Uint64
	keyReqs     atomic.Uint64
	delay       stream.DelayRecorder

	subscribeOnce sync.Once
	unsubscribe   atomic.Pointer[func()]

	stopOnce sync.Once
	stop     chan struct{}
	reason   atomic.Pointer[string]
	done     chan struct{}
	wg       sync.WaitGroup
}

func newViewer(st *stream.Stream, pc *webrtc.PeerConnection, ufrag string, log *slog.Logger) *viewer {
	return &viewer{
		st: st, pc: pc, ufrag: ufrag, log: log, joined: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
}

func (v *viewer) addTrack(t *stream.Track) error {
	ot := newOutTrack(t)
	sender, err := v.pc.AddTrack(ot)
	if err != nil {
		return err
	}
	v.tracks[t.Kind()] = ot
	v.senders = append(v.senders, sender)
	return nil
}

// start begins the session once the answer is ready: packets flow from the
// moment the connection is up.
func (v *viewer) start() error {
	select {
	case <-v.st.Ended():
		return stream.ErrNotLive
	default:
	}
	v.pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			v.subscribeOnce.Do(v.subscribe)
		case webrtc.PeerConnectionStateFailed:
			v.shutdown("ice failed")
		case webrtc.PeerConnectionStateClosed:
			v.shutdown("connection closed")
		}
	})
	v.wg.Add(len(v.senders))
	for _, s := range v.senders {
		go v.readRTCP(s)
	}
	go v.run()
	return nil
}

func (v *viewer) subscribe() {
	unsub, err := v.st.Subscribe(v)
	if err != nil {
		v.shutdown("stream ended")
		return
	}
	v.unsubscribe.Store(&unsub)
	select {
	case <-v.stop: // closed while subscribing: undo at once
		unsub()
		return
	default:
	}
	// A joining viewer needs an IDR now, not at the encoder's next GOP.
	v.st.RequestKeyframe()
	v.log.Info("viewer join", "tier", "webrtc", "connect", time.Since(v.joined).Round(time.Millisecond))
}

func (v *viewer) run() {
	<-v.stop
	if u := v.unsubscribe.Load(); u != nil {
		(*u)()
	}
	if err := v.pc.Close(); err != nil {
		v.log.Debug("whep: close peer connection", "err", err)
	}
	v.wg.Wait()
	reason := "closed"
	if r := v.reason.Load(); r != nil {
		reason = *r
	}
	v.log.Info("viewer leave", "tier", "webrtc", "reason", reason,
		"duration", time.Since(v.joined).Round(time.Millisecond), "sent", v.sent.Load())
	close(v.done)
}

func (v *viewer) shutdown(reason string) {
	v.stopOnce.Do(func() {
		v.reason.Store(&reason)
		close(v.stop)
	})
}

// WritePacket sends one packet now, from the stream's fan-out worker. It
// never blocks: the shared socket's sender queues the datagram.
func (v *viewer) WritePacket(kind packager.Kind, p *stream.Packet) { v.send(kind, p, false) }

// ViewerStats are the viewer's totals (stream.CountingViewer).
func (v *viewer) ViewerStats() stream.ViewerStats {
	return stream.ViewerStats{
		Sent:  stream.Traffic{Packets: v.sent.Load(), Bytes: v.sentBytes.Load()},
		NACKs: v.nacks.Load(), Retransmits: v.retransmits.Load(),
		KeyframeRequests: v.keyReqs.Load(), ForwardDelay: v.delay.Snapshot(),
	}
}

// StreamEnded closes the session: the stream is over for good.
func (v *viewer) StreamEnded() { v.shutdown("stream ended") }

// send writes one packet; resend marks a retransmission, whose arrival is
// long past, so it stays out of the forwarding delay. Video starts at a
// keyframe: a decoder given anything before it shows nothing, or garbage.
func (v *viewer) send(kind packager.Kind, p *stream.Packet, resend bool) {
	t := v.tracks[kind]
	if t == nil {
		return
	}
	select {
	case <-v.stop:
		return
	default:
	}
	v.sendMu.Lock()
	defer v.sendMu.Unlock()
	if kind == packager.KindVideo && !resend {
		if p.Session != v.session {
			v.videoStarted, v.session = false, p.Session
		}
		if !v.videoStarted {
			if !p.Keyframe {
				return
			}
			v.videoStarted = true
			v.log.Debug("viewer first keyframe", "after", time.Since(v.joined).Round(time.Millisecond))
		}
	}
	if err := t.send(p, resend); err != nil {
		v.shutdown("send failed: " + err.Error())
		return
	}
	now := time.Now() // one clock read per packet, for the delay and the reports
	if !resend && !p.Arrival.IsZero() {
		v.delay.Observe(now.Sub(p.Arrival))
	}
	v.sent.Add(1)
	v.sentBytes.Add(uint64(len(p.Payload)))
	v.report(t, now)
}

// report sends the track's RTCP sender report if one is due: driven by the
// packets sent, under sendMu, so a viewer costs no timer and
// reports stop when its media does (RFC 3550 section 6.4: SRs are for
// active senders).
func (v *viewer) report(t *outTrack, now time.Time) {
	sr, ok := t.senderReport(now)
	if !ok {
		return
	}
	if err := v.pc.WriteRTCP([]rtcp.Packet{&sr}); err != nil {
		// Not fatal: RTP goes over the same transport, and the next
		// packet's write ends the session if it is broken (closed); a lost
		// report only delays the player's sync by one interval.
		v.log.Debug("whep: sender report not sent", "kind", t.src.Kind(), "err", err)
	}
}

// readRTCP answers the viewer's feedback: keyframe requests go upstream
// (rate-limited by the stream), NACKs are served from the stream's shared
// retransmission buffer (RFC 4585 section 6.2.1).
func (v *viewer) readRTCP(s *webrtc.RTPSender) {
	defer v.wg.Done()
	t, _ := s.Track().(*outTrack)
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				v.keyReqs.Add(1)
				v.st.RequestKeyframe()
			case *rtcp.TransportLayerNack:
				if t == nil {
					continue
				}
				for _, pair := range p.Nacks {
					for _, seq := range pair.PacketList() {
						v.nacks.Add(1)
						if rp := t.src.Retransmission(seq); rp != nil {
							v.retransmits.Add(1)
							v.send(t.src.Kind(), rp, true)
						}
					}
				}
			}
		}
	}
}

// Close ends the session and waits until its goroutines are gone. Idempotent.
func (v *viewer) Close() error {
	v.shutdown("deleted")
	<-v.done
	return nil
}

func (v *viewer) Done() <-chan struct{}  { return v.done }
func (v *viewer) RemoteICEUfrag() string { return v.ufrag }

func (v *viewer) AddICECandidate(c webrtc.ICECandidateInit) error { return v.pc.AddICECandidate(c) }
