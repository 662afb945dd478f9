package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// checkResumed checks that the units a viewer got after a publisher came
// back are a contiguous run of the new session's, starting on a keyframe.
// The first one or two may still be the old session's last (pion's sample
// builder holds one back), so up to two are skipped.
func checkResumed(t *testing.T, after, sent [][][]byte) {
	t.Helper()
	var err error
	for skip := 0; skip <= 2 && skip < len(after); skip++ {
		if _, err = findRun(sent, after[skip:], auEqual); err == nil {
			if !isKeyframe(after[skip]) {
				t.Errorf("the new session's first unit a viewer gets is not a keyframe")
			}
			return
		}
	}
	t.Errorf("video after reconnect: %v", err)
}

// checkHLSDiscontinuity checks that the HLS tier marks a publisher's return
// with EXT-X-DISCONTINUITY and keeps its timing tags (rfc8216bis 6.2.1). It
// blocks on the next segments (at most four) until the new session's first
// one is complete and listed.
func checkHLSDiscontinuity(t *testing.T, ctx context.Context, g *gateway, name string) {
	t.Helper()
	url := g.base + "/hls/" + name + "/video.m3u8"
	pl, err := fetchPlaylist(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	disc := false
	for try := 0; try < 4 && !disc; try++ {
		for _, s := range pl.Segments {
			disc = disc || s.Discontinuity
		}
		next := pl.MediaSequence + len(pl.Segments) + 1
		if pl, err = fetchPlaylist(ctx, fmt.Sprintf("%s?_HLS_msn=%d", url, next)); err != nil {
			t.Fatal(err)
		}
	}
	if !disc {
		t.Errorf("no EXT-X-DISCONTINUITY in the playlist after the publisher came back")
	}
	if pl.TargetDuration != 2 || pl.PartInf == nil || pl.PartInf.PartTarget != 200*time.Millisecond {
		t.Errorf("TARGETDURATION %d, PART-INF %+v after reconnect; want 2 and 200ms as before", pl.TargetDuration, pl.PartInf)
	}
}
