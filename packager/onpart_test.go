package packager

import (
	"testing"
	"time"
)

// OnPart sees every published part once, as Stats().LastPart has it.
func TestOnPart(t *testing.T) {
	var got []PartInfo
	g := newGen(30, 30, true, true)
	m := newTestMuxer(t, Config{OnPart: func(p PartInfo) { got = append(got, p) }}, g)
	g.write(t, m, 3*time.Second)
	st := m.Stats()
	if len(got) == 0 || uint64(len(got)) != st.Parts {
		t.Fatalf("OnPart called %d times, %d parts published", len(got), st.Parts)
	}
	if last := got[len(got)-1]; last != st.LastPart {
		t.Fatalf("last OnPart %+v, Stats().LastPart %+v", last, st.LastPart)
	}
	for _, p := range got {
		if p.Completed.IsZero() || p.FirstArrival.IsZero() && p.Size == 0 {
			t.Fatalf("part without times or body: %+v", p)
		}
	}
}

func TestMediaKind(t *testing.T) {
	for name, want := range map[string]string{
		initName("video", "ab12", 0):    "init",
		segmentName("audio", "ab12", 7): "segment",
		partName("video", "ab12", 7, 3): "part",
		"video.m3u8":                    "",
		"video_ab12_07.mp4":             "",
		"index.m3u8":                    "",
		"../etc/passwd":                 "",
	} {
		if got := MediaKind(name); got != want {
			t.Errorf("MediaKind(%q) = %q, want %q", name, got, want)
		}
	}
}
