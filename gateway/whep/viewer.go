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

// DefaultQueueLen bounds a viewer's queue: about half a second of a
// 1.5 Mbit/s stream. A viewer that falls further behind loses packets (and
// may NACK them) while every other viewer goes on untouched.
const DefaultQueueLen = 512

var _ stream.CountingViewer = (*viewer)(nil)

type queued struct {
	kind packager.Kind
	p    *stream.Packet
	// resend marks a retransmission: its arrival time is long past, so it
	// stays out of the forwarding delay.
	resend bool
}

// viewer is one WHEP session: a peer connection fed from the stream through
// a bounded queue by its own writer goroutine, which also sends the RTCP
// sender reports. Its goroutines (the supervisor, the writer, one RTCP
// reader per track) end before Close returns.
type viewer struct {
	st     *stream.Stream
	pc     *webrtc.PeerConnection
	ufrag  string
	log    *slog.Logger
	joined time.Time

	tracks  [2]*outTrack // by packager.Kind
	senders []*webrtc.RTPSender
	queue   chan queued
	// The viewer's own totals (stream.CountingViewer), written by its
	// goroutines only: no cache line shared with other viewers.
	drops       atomic.Uint64
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

func newViewer(st *stream.Stream, pc *webrtc.PeerConnection, ufrag string, queueLen int, log *slog.Logger) *viewer {
	return &viewer{
		st: st, pc: pc, ufrag: ufrag, log: log, joined: time.Now(),
		queue: make(chan queued, queueLen),
		stop:  make(chan struct{}), done: make(chan struct{}),
	}
}

func (v *viewer) addTrack(t *stream.Track) error {
	ot := newOutTrack(t)
	// Send only (the offer's sendrecv sections are taken as recvonly:
	// rtc.ReceiveOnly), so the answer is sendonly.
	tr, err := v.pc.AddTransceiverFromTrack(ot, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		return err
	}
	sender := tr.Sender()
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
	v.wg.Add(1 + len(v.senders))
	go v.write()
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
		"duration", time.Since(v.joined).Round(time.Millisecond), "sent", v.sent.Load(), "dropped", v.drops.Load())
	close(v.done)
}

func (v *viewer) shutdown(reason string) {
	v.stopOnce.Do(func() {
		v.reason.Store(&reason)
		close(v.stop)
	})
}

// WritePacket queues a packet without ever blocking the stream: when this
// viewer's queue is full the packet is dropped for this viewer only.
func (v *viewer) WritePacket(kind packager.Kind, p *stream.Packet) {
	v.enqueue(queued{kind: kind, p: p})
}

func (v *viewer) enqueue(q queued) {
	select {
	case v.queue <- q:
	default:
		v.drops.Add(1)
	}
}

// ViewerStats are the viewer's totals (stream.CountingViewer).
func (v *viewer) ViewerStats() stream.ViewerStats {
	return stream.ViewerStats{
		Sent:    stream.Traffic{Packets: v.sent.Load(), Bytes: v.sentBytes.Load()},
		Dropped: v.drops.Load(), NACKs: v.nacks.Load(), Retransmits: v.retransmits.Load(),
		KeyframeRequests: v.keyReqs.Load(), ForwardDelay: v.delay.Snapshot(),
	}
}

// StreamEnded closes the session: the stream is over for good.
func (v *viewer) StreamEnded() { v.shutdown("stream ended") }

// write sends queued packets. Video starts at a keyframe: a decoder given
// anything before it shows nothing, or garbage.
func (v *viewer) write() {
	defer v.wg.Done()
	videoStarted, session := false, uint32(0)
	for {
		select {
		case <-v.stop:
			return
		case q := <-v.queue:
			t := v.tracks[q.kind]
			if t == nil {
				continue
			}
			if q.kind == packager.KindVideo && q.p.Session != session {
				videoStarted, session = false, q.p.Session
			}
			if q.kind == packager.KindVideo && !videoStarted {
				if !q.p.Keyframe {
					continue
				}
				videoStarted = true
				v.log.Debug("viewer first keyframe", "after", time.Since(v.joined).Round(time.Millisecond))
			}
			if err := t.send(q.p, q.resend); err != nil {
				v.shutdown("send failed: " + err.Error())
				return
			}
			now := time.Now() // one clock read per packet, for the delay and the reports
			if !q.resend && !q.p.Arrival.IsZero() {
				v.delay.Observe(now.Sub(q.p.Arrival))
			}
			v.sent.Add(1)
			v.sentBytes.Add(uint64(len(q.p.Payload)))
			v.report(t, now)
		}
	}
}

// report sends the track's RTCP sender report if one is due: driven by the
// packets sent, from the writer goroutine, so a viewer costs no timer and
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
							v.enqueue(queued{kind: t.src.Kind(), p: rp, resend: true})
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
