package stream

import (
	"math"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/packager"
)

// rtpDuration is ticks of a clock at rate as a duration, as the track clock
// computes it (whole seconds and remainder).
func rtpDuration(ticks int64, rate uint32) time.Duration {
	r := int64(rate)
	return time.Duration(ticks/r)*time.Second + time.Duration(ticks%r)*time.Second/time.Duration(r)
}

// captureSession is one WHIP-like publisher session of TestPacketCaptureTime.
type captureSession struct {
	name         string
	vBase, aBase uint32    // the publisher's first video and audio timestamps
	ntp          time.Time // its NTP clock when vBase and aBase were captured (its SRs)
}

// Each packet viewers get carries the capture time of its output timestamp:
// the publisher's sender reports mapped onto the gateway's clock, one offset
// for both tracks of a session; so the output timestamps of a session lie on
// one line with the capture times, through RTP timestamp wraps, and a
// reconnected publisher's packets, rewritten onto the same output line, map
// through its own sender reports. Before its first SR a track's packets
// carry no capture time.
func TestPacketCaptureTime(t *testing.T) {
	sessions := []captureSession{
		// The first session keeps the publisher's numbering: the output
		// timestamps wrap too.
		{"first session, timestamps wrap", math.MaxUint32 - 4*3000, math.MaxUint32 - 5*960, ntpBase},
		{"reconnect: new bases and NTP clock", 123_456, 4_000_000_000, ntpBase.Add(-7 * time.Hour)},
		{"reconnect again", 3_000_000_000, 77, ntpBase.Add(30 * time.Minute)},
	}
	const frames = 10 // per session: 10 video frames at 30 fps, 17 audio packets of 20 ms
	cfg := Config{NoAudioBridge: true, GracePeriod: time.Hour, Logger: discardLogger, Now: func() time.Time { return gwBase }}
	r := NewRegistry(cfg)
	t.Cleanup(r.Close)
	viewer := newRecordingViewer()
	wrapped := map[packager.Kind]bool{}
	var lastOut map[packager.Kind]uint32
	for i, s := range sessions {
		p, err := r.Publish("live", PublishRequest{Tracks: videoAudio(), Protocol: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if _, err := p.Stream().Subscribe(viewer); err != nil {
				t.Fatal(err)
			}
		}
		from := len(viewer.received())
		// One audio packet before any SR: its capture time is unknown.
		var aSeq uint16 = 9
		if err := p.WriteRTP(packager.KindAudio, &rtp.Packet{Header: rtp.Header{SequenceNumber: aSeq, Timestamp: s.aBase - 960}, Payload: []byte{0xfc}}, time.Now()); err != nil {
			t.Fatal(err)
		}
		before := time.Now()
		p.WriteSenderReport(packager.KindVideo, s.ntp, s.vBase)
		p.WriteSenderReport(packager.KindAudio, s.ntp, s.aBase)
		after := time.Now()
		// The publisher's timestamp of each packet written, in order per kind.
		sent := map[packager.Kind][]uint32{packager.KindAudio: {s.aBase - 960}}
		var vSeq uint16 = 60000
		for k := range frames {
			ts := s.vBase + uint32(k*3000)
			nalus := [][]byte{nalu(hdrNonIDR, 2000)}
			if k == 0 {
				nalus = [][]byte{testSPS, testPPS, nalu(hdrIDR, 3000)}
			}
			pkts := h264Packets(&vSeq, ts, 1200, true, nalus...)
			writeAll(t, p, packager.KindVideo, pkts, time.Now())
			for range pkts {
				sent[packager.KindVideo] = append(sent[packager.KindVideo], ts)
			}
		}
		for k := range 17 {
			aSeq++
			ts := s.aBase + uint32(k*960)
			if err := p.WriteRTP(packager.KindAudio, &rtp.Packet{Header: rtp.Header{SequenceNumber: aSeq, Timestamp: ts}, Payload: []byte{0xfc}}, time.Now()); err != nil {
				t.Fatal(err)
			}
			sent[packager.KindAudio] = append(sent[packager.KindAudio], ts)
		}
		p.Close()

		t.Run(s.name, func(t *testing.T) {
			got := viewer.received()[from:]
			offset := time.Duration(math.MinInt64) // the session's NTP-to-gateway offset, once seen
			for _, kind := range []packager.Kind{packager.KindVideo, packager.KindAudio} {
				pkts := kindPackets(got, kind)
				if len(pkts) != len(sent[kind]) {
					t.Fatalf("%s: viewer got %d packets, %d written", kind, len(pkts), len(sent[kind]))
				}
				rate, srTS := uint32(videoClockRate), s.vBase
				if kind == packager.KindAudio {
					rate, srTS = audioClockRate, s.aBase
				}
				var first *Packet
				for j, vp := range pkts {
					pk := vp.p
					if lastOut != nil && j == 0 && int32(pk.Header.Timestamp-lastOut[kind]) <= 0 {
						t.Errorf("%s: output timestamp %d does not continue the last session's %d", kind, pk.Header.Timestamp, lastOut[kind])
					}
					if j > 0 && pk.Header.Timestamp < pkts[j-1].p.Header.Timestamp {
						wrapped[kind] = true
					}
					if kind == packager.KindAudio && j == 0 {
						if !pk.Capture.IsZero() {
							t.Errorf("audio packet before the first SR has capture time %v, want none", pk.Capture)
						}
						continue
					}
					if pk.Capture.IsZero() {
						t.Fatalf("%s packet %d has no capture time after the SRs", kind, j)
					}
					// The publisher's mapping, moved by one offset for the session.
					pub := s.ntp.Add(rtpDuration(int64(int32(sent[kind][j]-srTS)), rate))
					off := pk.Capture.Sub(pub)
					if offset == math.MinInt64 {
						offset = off
						if lo, hi := before.Sub(s.ntp), after.Sub(s.ntp); off < lo || off > hi {
							t.Errorf("offset to the gateway clock %v, want the first SR's arrival, in [%v, %v]", off, lo, hi)
						}
					}
					if off != offset {
						t.Errorf("%s packet %d (ts %d): capture %v off the publisher's SR mapping by %v, the session by %v",
							kind, j, sent[kind][j], pk.Capture, off, offset)
					}
					// On the output timeline: one line through the wrap.
					if first == nil {
						first = pk
						continue
					}
					want := first.Capture.Add(rtpDuration(int64(int32(pk.Header.Timestamp-first.Header.Timestamp)), rate))
					if d := pk.Capture.Sub(want); d.Abs() > time.Microsecond {
						t.Errorf("%s output ts %d: capture %v, %v off the line through ts %d", kind, pk.Header.Timestamp, pk.Capture, d, first.Header.Timestamp)
					}
				}
			}
		})
		got := viewer.received()
		lastOut = map[packager.Kind]uint32{}
		for _, kind := range []packager.Kind{packager.KindVideo, packager.KindAudio} {
			pkts := kindPackets(got, kind)
			lastOut[kind] = pkts[len(pkts)-1].p.Header.Timestamp
		}
	}
	for _, kind := range []packager.Kind{packager.KindVideo, packager.KindAudio} {
		if !wrapped[kind] {
			t.Errorf("%s output timestamps never wrapped: the test misses its case", kind)
		}
	}
}

// Units (RTMP) are on the stream clock already: each packet's capture time
// is the stream epoch plus its unit's PTS, the PTS of a B-frame included,
// as its RTP timestamp is.
func TestUnitCaptureTime(t *testing.T) {
	ms := time.Millisecond
	units := []packager.Unit{
		{Kind: packager.KindVideo, DTS: time.Second, PTS: time.Second, Keyframe: true, NALUs: [][]byte{testSPS, testPPS, nalu(hdrIDR, 3000)}},
		{Kind: packager.KindAudio, DTS: time.Second, PTS: time.Second, Keyframe: true, Payload: []byte{0xfc, 1}},
		{Kind: packager.KindVideo, DTS: 1033 * ms, PTS: 1100 * ms, NALUs: [][]byte{nalu(hdrNonIDR, 500)}},
		{Kind: packager.KindAudio, DTS: 1020 * ms, PTS: 1020 * ms, Keyframe: true, Payload: []byte{0xfc, 2}},
		{Kind: packager.KindVideo, DTS: 1066 * ms, PTS: 1066 * ms, NALUs: [][]byte{nalu(hdrNonIDR, 500)}},
	}
	p, _ := newTestPublisher(t, gwBase, videoAudio())
	viewer := newRecordingViewer()
	if _, err := p.Stream().Subscribe(viewer); err != nil {
		t.Fatal(err)
	}
	first := map[packager.Kind]*Packet{}
	for _, u := range units {
		from := len(viewer.received())
		if err := p.WriteUnit(u); err != nil {
			t.Fatal(err)
		}
		got := viewer.received()[from:]
		if len(got) == 0 {
			t.Fatalf("%s unit at %v: no packet", u.Kind, u.PTS)
		}
		rate := uint32(videoClockRate)
		if u.Kind == packager.KindAudio {
			rate = audioClockRate
		}
		for _, vp := range got {
			if want := gwBase.Add(u.PTS); !vp.p.Capture.Equal(want) {
				t.Errorf("%s unit PTS %v: capture %v, want %v", u.Kind, u.PTS, vp.p.Capture, want)
			}
			// The output timestamps say the same times on the RTP clock.
			f := first[u.Kind]
			if f == nil {
				first[u.Kind] = vp.p
				continue
			}
			at := rtpDuration(int64(int32(vp.p.Header.Timestamp-f.Header.Timestamp)), rate)
			if d := at - vp.p.Capture.Sub(f.Capture); d.Abs() > time.Second/time.Duration(rate) {
				t.Errorf("%s unit PTS %v: RTP timestamp %v after the first, capture %v", u.Kind, u.PTS, at, vp.p.Capture.Sub(f.Capture))
			}
		}
	}
}

// A unit that comes through faster than the session's first (whose arrival
// anchors the stream clock), or a B-frame, would be "captured" after it
// arrived: every capture from then on moves back by the most any unit came
// out ahead, so none is ever later than its arrival, and the spacing of
// capture times (A/V alignment, the RTP clock) is kept.
func TestUnitCaptureNeverAfterArrival(t *testing.T) {
	ms := time.Millisecond
	lag := 40 * ms // the first unit's transit: the anchor
	units := []struct {
		u       packager.Unit
		arrival time.Duration // after the stream epoch
		skew    time.Duration // the capture's shift once this unit is in
	}{
		{packager.Unit{Kind: packager.KindVideo, DTS: 0, PTS: 0, Keyframe: true, NALUs: [][]byte{testSPS, testPPS, nalu(hdrIDR, 3000)}}, lag, 0},
		{packager.Unit{Kind: packager.KindAudio, DTS: 0, PTS: 0, Keyframe: true, Payload: []byte{0xfc, 1}}, lag, 0},
		// 25 ms faster through the network than the first.
		{packager.Unit{Kind: packager.KindVideo, DTS: 33 * ms, PTS: 33 * ms, NALUs: [][]byte{nalu(hdrNonIDR, 500)}}, 33*ms + 15*ms, 25 * ms},
		// 30 ms faster: the skew grows.
		{packager.Unit{Kind: packager.KindAudio, DTS: 20 * ms, PTS: 20 * ms, Keyframe: true, Payload: []byte{0xfc, 2}}, 20*ms + 10*ms, 30 * ms},
		// A B-frame shown 100 ms after it is decoded, 30 ms faster too.
		{packager.Unit{Kind: packager.KindVideo, DTS: 66 * ms, PTS: 166 * ms, NALUs: [][]byte{nalu(hdrNonIDR, 500)}}, 66*ms + 10*ms, 130 * ms},
		// As slow as the first: the skew stays.
		{packager.Unit{Kind: packager.KindAudio, DTS: 40 * ms, PTS: 40 * ms, Keyframe: true, Payload: []byte{0xfc, 3}}, 40*ms + lag, 130 * ms},
	}
	p, _ := newTestPublisher(t, gwBase, videoAudio())
	viewer := newRecordingViewer()
	if _, err := p.Stream().Subscribe(viewer); err != nil {
		t.Fatal(err)
	}
	for i, tc := range units {
		// The stream clock puts the first unit at its arrival: PTS on it
		// are the encoder's plus the first unit's transit.
		tc.u.Arrival = gwBase.Add(tc.arrival)
		tc.u.DTS, tc.u.PTS = tc.u.DTS+lag, tc.u.PTS+lag
		from := len(viewer.received())
		if err := p.WriteUnit(tc.u); err != nil {
			t.Fatal(err)
		}
		for _, vp := range viewer.received()[from:] {
			want := gwBase.Add(tc.u.PTS - tc.skew)
			if !vp.p.Capture.Equal(want) {
				t.Errorf("unit %d (%s, PTS %v, arrived %v): capture %v, want %v", i, tc.u.Kind, tc.u.PTS, tc.arrival,
					vp.p.Capture.Sub(gwBase), want.Sub(gwBase))
			}
			if vp.p.Capture.After(vp.p.Arrival) {
				t.Errorf("unit %d: captured %v after it arrived", i, vp.p.Capture.Sub(vp.p.Arrival))
			}
		}
	}
}
