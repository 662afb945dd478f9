package e2e

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/frontrow-live/frontrow/gateway/demo"
	"github.com/frontrow-live/frontrow/packager"
	"github.com/frontrow-live/frontrow/testdata"
)

// clockRates are the RTP clock rates of the routed codecs, by packager.Kind.
var clockRates = [2]uint32{packager.KindVideo: 90000, packager.KindAudio: 48000}

// timeToNTP is t as a 64-bit NTP timestamp (RFC 3550 section 4).
func timeToNTP(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800
	return uint64(t.Unix()+ntpEpochOffset)<<32 | (uint64(t.Nanosecond())<<32)/uint64(time.Second)
}

// rtpSpan is the time from RTP timestamp from to to at rate, across a wrap.
func rtpSpan(from, to, rate uint32) time.Duration {
	return time.Duration(int64(int32(to-from)) * int64(time.Second) / int64(rate))
}

// encoderSink is a demo.Sink publishing through a WHIP client whose only
// RTCP sender reports are its own: they say each track's media was captured
// latency[kind] before it is sent, as an encoder that takes that long
// would, where the demo file's own reports map timestamps to send times.
type encoderSink struct {
	*whipClient
	latency [2]time.Duration // by packager.Kind
	ssrc    [2]uint32

	mu  sync.Mutex
	err error // the first report that could not be sent
}

// WriteSenderReport sends the demo's report with the timestamp of the
// media captured at ntp, which goes out latency later.
func (s *encoderSink) WriteSenderReport(kind packager.Kind, ntp time.Time, rtpTime uint32) {
	ahead := uint32(int64(s.latency[kind]) * int64(clockRates[kind]) / int64(time.Second))
	sr := &rtcp.SenderReport{SSRC: s.ssrc[kind], NTPTime: timeToNTP(ntp), RTPTime: rtpTime + ahead}
	if err := s.pc.WriteRTCP([]rtcp.Packet{sr}); err != nil {
		s.mu.Lock()
		if s.err == nil {
			s.err = fmt.Errorf("publisher's %s sender report: %w", kind, err)
		}
		s.mu.Unlock()
	}
}

func (s *encoderSink) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// startEncoder publishes the demo file over WHIP from a pion client without
// pion's report interceptor, as an encoder with the given latencies.
func startEncoder(t *testing.T, ctx context.Context, g *gateway, name string, latency [2]time.Duration) *encoderSink {
	t.Helper()
	src, err := demo.NewSource(bytes.NewReader(testdata.DemoMP4))
	if err != nil {
		t.Fatal(err)
	}
	pub := newWHIPClient(t, clientAPIInterceptors(t, webrtc.ConfigureNack, nil))
	if err := pub.publish(ctx, g.base, name, testToken); err != nil {
		t.Fatalf("publish: %v", err)
	}
	sink := newEncoderSink(pub, latency)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = src.Run(runCtx, sink)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return sink
}

// newEncoderSink sends pub's sender reports as an encoder with the given
// latencies would; pub's API must not have pion's report interceptor.
func newEncoderSink(pub *whipClient, latency [2]time.Duration) *encoderSink {
	sink := &encoderSink{whipClient: pub, latency: latency}
	for _, snd := range pub.pc.GetSenders() {
		kind := packager.KindAudio
		if snd.Track() == pub.video {
			kind = packager.KindVideo
		}
		sink.ssrc[kind] = uint32(snd.GetParameters().Encodings[0].SSRC)
	}
	return sink
}

// srViewer is a pion WHEP viewer that records when each RTP packet and each
// RTCP sender report of each track arrives.
type srViewer struct {
	pc *webrtc.PeerConnection

	mu      sync.Mutex
	pkts    [2][]rtpArrival // by packager.Kind
	srs     [2][]srArrival
	changed chan struct{} // closed and replaced on every arrival
}

type rtpArrival struct {
	ts   uint32
	size int
	at   time.Time
}

type srArrival struct {
	sr rtcp.SenderReport
	at time.Time
}

// newSRViewer makes the viewer; its readers end when the test closes the
// peer connection.
func newSRViewer(t *testing.T, api *webrtc.API) *srViewer {
	t.Helper()
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	v := &srViewer{pc: pc, changed: make(chan struct{})}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		tr, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
		if err != nil {
			t.Fatal(err)
		}
		kind := kindOf(k)
		go func() {
			for {
				pkts, _, err := tr.Receiver().ReadRTCP()
				if err != nil {
					return
				}
				at := time.Now()
				for _, p := range pkts {
					if sr, ok := p.(*rtcp.SenderReport); ok {
						v.record(func() { v.srs[kind] = append(v.srs[kind], srArrival{*sr, at}) })
					}
				}
			}
		}()
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		kind := kindOf(tr.Kind())
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			at := time.Now()
			v.record(func() { v.pkts[kind] = append(v.pkts[kind], rtpArrival{pkt.Timestamp, len(pkt.Payload), at}) })
		}
	})
	t.Cleanup(func() { _ = pc.Close() })
	return v
}

func kindOf(k webrtc.RTPCodecType) packager.Kind {
	if k == webrtc.RTPCodecTypeVideo {
		return packager.KindVideo
	}
	return packager.KindAudio
}

func (v *srViewer) record(add func()) {
	v.mu.Lock()
	defer v.mu.Unlock()
	add()
	close(v.changed)
	v.changed = make(chan struct{})
}

// waitReports waits until each track has n sender reports and returns
// copies of what arrived.
func (v *srViewer) waitReports(ctx context.Context, n int) (pkts [2][]rtpArrival, srs [2][]srArrival, err error) {
	for {
		v.mu.Lock()
		for k := range v.pkts {
			pkts[k], srs[k] = append([]rtpArrival(nil), v.pkts[k]...), append([]srArrival(nil), v.srs[k]...)
		}
		changed := v.changed
		v.mu.Unlock()
		if len(srs[packager.KindVideo]) >= n && len(srs[packager.KindAudio]) >= n {
			return pkts, srs, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return pkts, srs, fmt.Errorf("waiting for %d sender reports per track (have %d video, %d audio): %w",
				n, len(srs[packager.KindVideo]), len(srs[packager.KindAudio]), ctx.Err())
		}
	}
}

// TestWHEPSenderReports: a WHEP viewer gets an RTCP sender report per track
// about once a second, the first as soon as the track's media flows, and
// they map the RTP timestamps to when the media was captured, not to when
// the gateway sent it. The publisher is an encoder whose own reports say
// video is captured 120 ms and audio 50 ms before it is sent; so the
// viewer, mapping each packet's timestamp through the gateway's reports,
// finds it arrived that long after capture (the least over all packets,
// which the forwarding adds a millisecond or so to), and audio and video
// agree with each other as they did at the publisher. The reports of a
// track lie on one line (one clock), their NTP time is when they were sent
// (as receivers take it to estimate the sender's clock), and their packet
// and octet counts are what the viewer received by then.
func TestWHEPSenderReports(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	const ms = time.Millisecond
	latency := [2]time.Duration{packager.KindVideo: 120 * ms, packager.KindAudio: 50 * ms}
	g := startGateway(t)
	pub := startEncoder(t, ctx, g, "live", latency)
	viewer := newSRViewer(t, clientAPI(t))
	if _, err := offerAndPost(ctx, viewer.pc, g.base+"/whep/live", ""); err != nil {
		t.Fatalf("play: %v", err)
	}
	const reports = 5
	pkts, srs, err := viewer.waitReports(ctx, reports)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.failed(); err != nil {
		t.Fatal(err)
	}

	var skew [2]time.Duration // per track: least arrival after capture, less the encoder's latency
	for _, kind := range []packager.Kind{packager.KindVideo, packager.KindAudio} {
		t.Run(kind.String(), func(t *testing.T) {
			rate, got, reps := clockRates[kind], pkts[kind], srs[kind]
			if len(got) == 0 {
				t.Fatal("no RTP")
			}
			first := reps[0]
			if d := first.at.Sub(got[0].at); d > 200*ms {
				t.Errorf("first sender report %v after the first packet, want at once", d)
			}
			for i, r := range reps {
				// Sent when it says, as receivers assume to estimate the sender's clock.
				if d := r.at.Sub(ntpToTime(r.sr.NTPTime)); d < -2*ms || d > 50*ms {
					t.Errorf("report %d arrived %v after its NTP time, want when it was sent", i, d)
				}
				if i == 0 {
					continue
				}
				prev := reps[i-1]
				// A loaded machine may hold a report back, never send two early.
				if d := r.at.Sub(prev.at); d < 900*ms || d > 2*time.Second {
					t.Errorf("report %d came %v after the one before, want about a second", i, d)
				}
				// One clock: each report's (NTP, RTP) pair on the first one's line.
				if d := ntpToTime(r.sr.NTPTime).Sub(ntpToTime(first.sr.NTPTime)) - rtpSpan(first.sr.RTPTime, r.sr.RTPTime, rate); d.Abs() > ms {
					t.Errorf("report %d is %v off the line of the first: not one clock", i, d)
				}
				if r.sr.PacketCount <= prev.sr.PacketCount || r.sr.OctetCount <= prev.sr.OctetCount {
					t.Errorf("report %d counts %d packets %d octets, the one before %d and %d", i,
						r.sr.PacketCount, r.sr.OctetCount, prev.sr.PacketCount, prev.sr.OctetCount)
				}
			}
			if d := reps[len(reps)-1].at.Sub(first.at) / time.Duration(len(reps)-1); d < 950*ms || d > 1200*ms {
				t.Errorf("reports %v apart on average, want a second", d)
			}
			// The counts are what arrived by the report, give or take what
			// crossed it on the way (RTP and RTCP are read apart); not the
			// newest report's, whose packets may not all be recorded yet.
			for i, r := range reps[:len(reps)-1] {
				var loPkts, hiPkts, loBytes, hiBytes uint32
				for _, p := range got {
					if !p.at.After(r.at.Add(-50 * ms)) {
						loPkts, loBytes = loPkts+1, loBytes+uint32(p.size)
					}
					if !p.at.After(r.at.Add(50 * ms)) {
						hiPkts, hiBytes = hiPkts+1, hiBytes+uint32(p.size)
					}
				}
				if r.sr.PacketCount < loPkts || r.sr.PacketCount > hiPkts || r.sr.OctetCount < loBytes || r.sr.OctetCount > hiBytes {
					t.Errorf("report %d counts %d packets, %d octets; the viewer had %d-%d packets, %d-%d octets around it",
						i, r.sr.PacketCount, r.sr.OctetCount, loPkts, hiPkts, loBytes, hiBytes)
				}
			}
			// Capture, not send time: each packet's arrival against its
			// capture time as the newest report maps it.
			last := reps[len(reps)-1].sr
			least := time.Duration(1<<63 - 1)
			for _, p := range got {
				capture := ntpToTime(last.NTPTime).Add(rtpSpan(last.RTPTime, p.ts, rate))
				least = min(least, p.at.Sub(capture))
			}
			skew[kind] = least - latency[kind]
			t.Logf("%d reports; packets arrive at least %v after capture (encoder latency %v)", len(reps), least, latency[kind])
			// Early by as long as the publisher's first report took to reach
			// the gateway, which takes it for sent as it arrived (the same
			// for both tracks); late by the least forwarding time.
			if skew[kind] < -25*ms || skew[kind] > 15*ms {
				t.Errorf("packets arrive at least %v after capture, want the encoder's %v (-25 ms to +15 ms)", least, latency[kind])
			}
		})
	}
	av := skew[packager.KindAudio] - skew[packager.KindVideo]
	t.Logf("audio against video, from the reports: %v", av)
	if av.Abs() > 5*ms {
		t.Errorf("audio is %v off video through the sender reports, want within 5 ms of the publisher's", av)
	}
}
