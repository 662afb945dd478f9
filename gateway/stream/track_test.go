package stream

import (
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/frontrow-live/frontrow/packager"
)

func TestTrackIngest(t *testing.T) {
	var seq uint16 = 40
	keyPkts := h264Packets(&seq, 900, 1200, true, testSPS, testPPS, nalu(hdrIDR, 3000))
	pPkts := h264Packets(&seq, 3900, 1200, true, nalu(hdrNonIDR, 100))
	tests := []struct {
		name    string
		kind    packager.Kind
		in      *rtp.Packet
		wantKey bool
	}{
		{"video keyframe start (STAP-A with SPS)", packager.KindVideo, keyPkts[0], true},
		{"video FU-A middle of the IDR", packager.KindVideo, keyPkts[2], false},
		{"video P frame", packager.KindVideo, pPkts[0], false},
		{"audio is never a keyframe here", packager.KindAudio, &rtp.Packet{Payload: []byte{0x65}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTrack(tc.kind)
			in := *tc.in
			if err := in.SetExtension(3, []byte{1, 2}); err != nil {
				t.Fatal(err)
			}
			in.SSRC, in.PayloadType = 0xdeadbeef, 102
			at := time.Unix(100, 0)
			p := tr.ingest(&in, at, time.Time{}, 7)
			if p.Keyframe != tc.wantKey {
				t.Errorf("Keyframe = %v, want %v", p.Keyframe, tc.wantKey)
			}
			h := p.Header
			if h.Version != 2 || h.Marker != in.Marker || h.PayloadType != 102 || h.SSRC != 0 || h.Extension || len(h.Extensions) != 0 {
				t.Errorf("header %+v: want version 2, the marker and payload type kept, SSRC for the viewer to set, no extensions", h)
			}
			if p.Session != 7 || !p.Arrival.Equal(at) {
				t.Errorf("session %d arrival %v, want 7 and %v", p.Session, p.Arrival, at)
			}
			if len(p.Payload) == 0 || &p.Payload[0] != &in.Payload[0] {
				t.Error("payload copied; it must be shared, not copied per packet")
			}
		})
	}
}

func TestTrackRetransmission(t *testing.T) {
	tr := newTrack(packager.KindAudio)
	at := time.Unix(100, 0)
	var first uint16 = 65000 // the ring wraps with the sequence numbers
	var sent []*Packet
	for i := range retransmitSlots + 10 {
		seq := first + uint16(i)
		sent = append(sent, tr.ingest(&rtp.Packet{Header: rtp.Header{SequenceNumber: seq}, Payload: []byte{1}}, at, time.Time{}, 1))
	}
	newest := first + retransmitSlots + 9
	tests := []struct {
		name string
		seq  uint16
		want *Packet
	}{
		{"newest", newest, sent[len(sent)-1]},
		{"oldest still kept", newest - retransmitSlots + 1, sent[10]},
		{"overwritten", newest - retransmitSlots, nil},
		{"never sent", newest + 1, nil},
	}
	for _, tc := range tests {
		if got := tr.Retransmission(tc.seq); got != tc.want {
			t.Errorf("%s: Retransmission(%d) = %p, want %p", tc.name, tc.seq, got, tc.want)
		}
	}
}
