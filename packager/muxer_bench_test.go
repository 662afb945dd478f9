package packager

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkBlockedPlaylistWake measures the delay from the WriteUnit call
// that completes a part to the last of n blocked playlist requests for that
// part returning with its (shared) playlist. Reports the median and max.
//
//	go test ./packager -run '^$' -bench BlockedPlaylistWake
func BenchmarkBlockedPlaylistWake(b *testing.B) {
	for _, waiters := range []int{1, 100} {
		b.Run(fmt.Sprintf("waiters=%d", waiters), func(b *testing.B) {
			g := newGen(30, 30, true, true)
			m := newTestMuxer(b, Config{}, g)
			g.write(b, m, 2*time.Second)
			h := hookWaiters(m)
			delays := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				msn, parts := edge(m, RenditionVideo)
				var res []<-chan result
				for w := 0; w < waiters; w++ {
					res = append(res, playlistAsync(m, RenditionVideo, Request{Block: true, MSN: msn, HasPart: true, Part: parts}))
				}
				h.await(b, waiters)
				for {
					u := g.next()
					start := time.Now()
					if err := m.WriteUnit(u); err != nil {
						b.Fatal(err)
					}
					if msn2, parts2 := edge(m, RenditionVideo); msn2 == msn && parts2 == parts {
						continue
					}
					for _, ch := range res {
						if r := <-ch; r.err != nil {
							b.Fatal(r.err)
						}
					}
					delays = append(delays, time.Since(start))
					break
				}
			}
			b.StopTimer()
			slices.Sort(delays)
			b.ReportMetric(float64(delays[len(delays)/2].Microseconds()), "median-µs")
			b.ReportMetric(float64(delays[len(delays)-1].Microseconds()), "max-µs")
		})
	}
}
