package whep

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/gateway/peer"
	"github.com/frontrow-live/frontrow/gateway/signaling"
	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/packager"
)

// maxResends bounds the retransmissions waiting for a viewer's worker:
// more NACKed at once than this are not answered (the viewer asks again, or
// waits for the next keyframe).
const maxResends = 256

var (
	_ stream.CountingViewer = (*viewer)(nil)
	_ stream.SharedViewer   = (*viewer)(nil)
)

// resend is a retransmission a viewer asked for (NACK).
type resend struct {
	kind packager.Kind
	p    *stream.Packet
}

// viewer is one WHEP session: a lean transport (gateway/peer) to which a
// send worker writes the stream's packets from the stream's fan-out; the
// viewer's RTCP is answered on the socket's read goroutine. Its goroutines
// (the supervisor, the connection watcher) end before Close returns.
type viewer struct {
	srv   *Server
	st    *stream.Stream
	conn  *peer.Conn             // set by start
	ufrag atomic.Pointer[string] // the viewer's current ICE ufrag
	log   *slog.Logger
	// What an ICE restart's answer repeats: the negotiated sections and
	// the gateway's candidates.
	neg    peer.Negotiated
	cands  []peer.Candidate
	joined time.Time

	tracks [2]*outTrack // by packager.Kind

	// Set when the viewer is attached to its fan-out and worker.
	fan       *fanout
	worker    *worker
	workerPtr atomic.Pointer[worker] // worker, for the RTCP reader
	cursor    uint64                 // the fan-out index the viewer starts at

	// The worker's: whether video started (at a keyframe), and in which
	// publisher session.
	videoStarted bool
	session      uint32

	resendMu sync.Mutex
	resends  []resend

	// The viewer's own totals (stream.CountingViewer).
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
	stopped  atomic.Bool
	reason   atomic.Pointer[string]
	done     chan struct{}
	wg       sync.WaitGroup
}

func newViewer(srv *Server, st *stream.Stream, neg peer.Negotiated, cands []peer.Candidate, log *slog.Logger) *viewer {
	v := &viewer{
		srv: srv, st: st, neg: neg, cands: cands, log: log, joined: time.Now(),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	v.ufrag.Store(&neg.RemoteUfrag)
	return v
}

// start begins the session on its connection once the answer is ready:
// packets flow from the moment DTLS is up.
func (v *viewer) start(conn *peer.Conn) error {
	select {
	case <-v.st.Ended():
		return stream.ErrNotLive
	default:
	}
	v.conn = conn // before it starts: its callbacks use it
	if err := conn.Start(); err != nil {
		return err
	}
	v.wg.Add(1)
	go v.watch()
	go v.run()
	return nil
}

// connected is the connection's OnConnected.
func (v *viewer) connected() { v.subscribeOnce.Do(v.subscribe) }

// watch ends the session when its connection ends by itself.
func (v *viewer) watch() {
	defer v.wg.Done()
	select {
	case <-v.conn.Done():
		reason := v.conn.Reason()
		if reason == "" {
			reason = "connection closed"
		}
		v.shutdown(reason)
	case <-v.stop:
	}
}

func (v *viewer) subscribe() {
	v.fan, v.worker = v.srv.attach(v.st)
	v.cursor = v.fan.attach(v.worker)
	v.workerPtr.Store(v.worker)
	unsub, err := v.st.Subscribe(v)
	if err != nil {
		v.detach()
		v.shutdown("stream ended")
		return
	}
	v.unsubscribe.Store(&unsub)
	v.worker.add(v)
	select {
	case <-v.stop: // closed while subscribing: undo at once
		v.leave()
		return
	default:
	}
	// A joining viewer needs an IDR now, not at the encoder's next GOP.
	v.st.RequestKeyframe()
	v.log.Info("viewer join", "tier", "webrtc", "connect", time.Since(v.joined).Round(time.Millisecond))
}

// leave takes the viewer off its worker and the stream. Idempotent.
func (v *viewer) leave() {
	if u := v.unsubscribe.Swap(nil); u != nil {
		(*u)()
		v.worker.remove(v)
		v.detach()
	}
}

// detach gives the viewer's place on its fan-out back.
func (v *viewer) detach() {
	if v.fan.detach(v.worker) {
		v.srv.release(v.st, v.fan)
	}
}

func (v *viewer) run() {
	<-v.stop
	v.leave()
	if err := v.conn.Close(); err != nil {
		v.log.Debug("whep: close connection", "err", err)
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
		v.stopped.Store(true)
		close(v.stop)
	})
}

// SharedWriter is where the stream writes this viewer's packets: its
// stream's fan-out, shared with the other viewers of the stream here.
func (v *viewer) SharedWriter() stream.PacketWriter { return v.fan }

// WritePacket is never called: the stream writes to SharedWriter.
func (v *viewer) WritePacket(packager.Kind, *stream.Packet) {}

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

// send writes what is new for the viewer into the worker's batch: the
// snapshot's packets from the viewer's start on (video first, so a frame
// goes out as one train, then audio), the retransmissions it asked for,
// its sender reports. Video starts at a keyframe: a decoder given anything
// before it shows nothing, or garbage. Only the viewer's worker calls it.
func (v *viewer) send(w *worker, sn *snapshot, now time.Time) {
	if v.stopped.Load() {
		return
	}
	remote, ok := v.conn.Remote()
	if !ok {
		return
	}
	if sn.missed > 0 && v.cursor < sn.first {
		v.drops.Add(sn.missed)
	}
	for _, kind := range [...]packager.Kind{packager.KindVideo, packager.KindAudio} {
		t := v.tracks[kind]
		if t == nil {
			continue
		}
		for i := range sn.entries {
			e := &sn.entries[i]
			if e.kind != kind || sn.first+uint64(i) < v.cursor {
				continue
			}
			if kind == packager.KindVideo {
				if e.p.Session != v.session {
					v.videoStarted, v.session = false, e.p.Session
				}
				if !v.videoStarted {
					if !e.p.Keyframe {
						continue
					}
					v.videoStarted = true
					v.log.Debug("viewer first keyframe", "after", time.Since(v.joined).Round(time.Millisecond))
				}
			}
			if !v.write(w, remote, t, e.p, e.pad, false) {
				return
			}
		}
	}
	v.cursor = 0 // from now on every snapshot is new to the viewer
	v.resendMu.Lock()
	rs := v.resends
	v.resends = nil
	v.resendMu.Unlock()
	for _, r := range rs {
		if t := v.tracks[r.kind]; t != nil && !v.write(w, remote, t, r.p, 0, true) {
			return
		}
	}
	clear(rs)
	for _, t := range v.tracks {
		if t == nil {
			continue
		}
		sr, ok := t.senderReport(now)
		if !ok {
			continue
		}
		b, ok, err := v.conn.SealRTCP(w.buffer(remote), []rtcp.Packet{&sr})
		if err != nil || !ok {
			// Not fatal: a lost report only delays the player's sync by
			// one interval.
			v.log.Debug("whep: sender report not sent", "kind", t.src.Kind(), "err", err)
			continue
		}
		w.send(remote, b)
	}
}

// write seals one packet into the worker's batch; false when the session
// has failed and was shut down.
func (v *viewer) write(w *worker, remote peer.Path, t *outTrack, p *stream.Packet, pad int, resent bool) bool {
	var b []byte
	var ok bool
	var err error
	if resent && t.rtxSSRC != 0 {
		b, ok, err = t.sealRTX(v.conn, w.buffer(remote), w.rtx[:], p)
	} else {
		b, ok, err = t.seal(v.conn, w.buffer(remote), p, pad)
	}
	if err != nil {
		v.shutdown("send failed: " + err.Error())
		return false
	}
	if !ok {
		return true // not connected yet
	}
	t.rep.sent(t.ssrc, p, resent)
	v.sent.Add(1)
	v.sentBytes.Add(uint64(len(p.Payload)))
	if !resent && !p.Arrival.IsZero() && remote.TCP == nil {
		w.sent = append(w.sent, sentPacket{delay: &v.delay, arrival: p.Arrival})
	}
	w.send(remote, b)
	return true
}

// rtcp answers the viewer's feedback, on the socket's read goroutine:
// keyframe requests go upstream (rate-limited by the stream), NACKs are
// served from the stream's shared retransmission buffer (RFC 4585 section
// 6.2.1) by the viewer's worker. Neither blocks.
func (v *viewer) rtcp(pkts []rtcp.Packet) {
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			v.keyReqs.Add(1)
			v.st.RequestKeyframe()
		case *rtcp.TransportLayerNack:
			t := v.trackBySSRC(p.MediaSSRC)
			if t == nil {
				continue
			}
			queued := false
			for _, pair := range p.Nacks {
				for _, seq := range pair.PacketList() {
					v.nacks.Add(1)
					if rp := t.src.Retransmission(seq); rp != nil {
						queued = v.queueResend(resend{kind: t.src.Kind(), p: rp}) || queued
					}
				}
			}
			if queued {
				if w := v.workerPtr.Load(); w != nil {
					w.poke()
				}
			}
		}
	}
}

func (v *viewer) queueResend(r resend) bool {
	v.resendMu.Lock()
	defer v.resendMu.Unlock()
	if len(v.resends) >= maxResends {
		v.drops.Add(1)
		return false
	}
	v.resends = append(v.resends, r)
	v.retransmits.Add(1)
	return true
}

func (v *viewer) trackBySSRC(ssrc uint32) *outTrack {
	for _, t := range v.tracks {
		if t != nil && t.ssrc == ssrc {
			return t
		}
	}
	return nil
}

// Close ends the session and waits until its goroutines are gone. Idempotent.
func (v *viewer) Close() error {
	v.shutdown("deleted")
	<-v.done
	return nil
}

func (v *viewer) Done() <-chan struct{}  { return v.done }
func (v *viewer) RemoteICEUfrag() string { return *v.ufrag.Load() }

// RestartICE is an ICE restart (signaling.Restarter): new credentials on
// both sides, the same DTLS and SRTP, so the picture goes on without a
// new POST or a keyframe once the viewer's checks on its new network get
// through.
func (v *viewer) RestartICE(ufrag, _ string) ([]byte, error) {
	creds, err := peer.NewCredentials()
	if err != nil {
		return nil, fmt.Errorf("whep: ice credentials: %w", err)
	}
	if err := v.conn.Restart(creds, ufrag); err != nil {
		// The session is ending (its connection closed): the client's
		// answer is a new session, not a server error.
		v.log.Debug("whep: ice restart refused", "err", err)
		return nil, &signaling.Refusal{Status: http.StatusConflict, Msg: "the session is ending; start a new one"}
	}
	v.ufrag.Store(&ufrag)
	v.log.Info("viewer ice restart", "tier", "webrtc")
	return peer.RestartFragment(creds, v.neg, v.cands), nil
}

// AddICECandidate takes a trickled candidate and does nothing with it: the
// gateway is an ICE-lite agent (RFC 8445 section 2.5), which learns the
// peer's addresses from the checks the peer sends.
func (v *viewer) AddICECandidate(webrtc.ICECandidateInit) error { return nil }
