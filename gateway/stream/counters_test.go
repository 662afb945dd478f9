package stream

import (
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/packager"
)

type countingViewer struct {
	nopViewer
	stats ViewerStats
}

func (v *countingViewer) ViewerStats() ViewerStats { return v.stats }

// A viewer's totals count while it watches and stay counted once it
// leaves: the stream's counters never go back.
func TestCountersKeepViewersThatLeft(t *testing.T) {
	r := NewRegistry(Config{GracePeriod: time.Hour, Logger: discardLogger})
	defer r.Close()
	p, err := r.Publish("live", PublishRequest{Tracks: packager.Tracks{Video: &packager.VideoInfo{}}})
	if err != nil {
		t.Fatal(err)
	}
	st := p.Stream()
	a := &countingViewer{stats: ViewerStats{Sent: Traffic{Packets: 3, Bytes: 300}, Dropped: 1, NACKs: 2, Retransmits: 1}}
	b := &countingViewer{stats: ViewerStats{Sent: Traffic{Packets: 5, Bytes: 500}, KeyframeRequests: 1}}
	unsubA, err := st.Subscribe(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Subscribe(b); err != nil {
		t.Fatal(err)
	}
	want := ViewerStats{Sent: Traffic{Packets: 8, Bytes: 800}, Dropped: 1, NACKs: 2, Retransmits: 1, KeyframeRequests: 1}
	if got := st.Counters().Viewers; got != want {
		t.Fatalf("with both viewers: %+v, want %+v", got, want)
	}
	unsubA()
	unsubA() // idempotent: counted once
	if got := st.Counters().Viewers; got != want {
		t.Fatalf("after one left: %+v, want %+v", got, want)
	}
}
