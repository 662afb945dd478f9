package rtc

import (
	"testing"
	"time"
)

// pion fails a session after its disconnected plus its failed timeout: the
// two must add up to the configured disconnect timeout.
func TestICETimeoutsAddUp(t *testing.T) {
	for _, d := range []time.Duration{0, time.Second, 3 * time.Second, 10*time.Second + time.Nanosecond} {
		disc, failed, keep := iceTimeouts(d)
		want := d
		if d == 0 {
			want = DefaultDisconnectTimeout
		}
		if disc+failed != want || disc <= 0 || failed <= 0 {
			t.Errorf("iceTimeouts(%v) = disconnected %v + failed %v, want a sum of %v", d, disc, failed, want)
		}
		if keep <= 0 || keep >= disc {
			t.Errorf("iceTimeouts(%v): keepalive %v must come well within the disconnected timeout %v", d, keep, disc)
		}
	}
}
