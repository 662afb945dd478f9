package packager

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"time"
)

const (
	// DefaultPartTarget is the LL-HLS PART-TARGET: 200 ms parts give about
	// one second of viewer latency (see the spec's latency arithmetic).
	DefaultPartTarget = 200 * time.Millisecond
	// DefaultSegmentTarget is the shortest segment; a segment closes at the
	// first keyframe at or after it. Producers use a 1 s GOP.
	DefaultSegmentTarget = time.Second

	// targetDurationHeadroom multiplies SegmentTarget into TARGETDURATION, so
	// that a GOP up to twice the target still fits: EXTINF <= TARGETDURATION
	// (rfc8216bis §4.4.3.1) holds without ever changing the tag.
	targetDurationHeadroom = 2
	// windowTargetDurations is the default playlist window in target
	// durations: twice the skip boundary, so delta updates halve a playlist.
	windowTargetDurations = 12
	// minWindowTargetDurations: a live playlist never lists less than three
	// target durations (rfc8216bis §6.2.2).
	minWindowTargetDurations = 3
	// partHoldBackParts: PART-HOLD-BACK is three part targets, the
	// recommended minimum (rfc8216bis §4.4.3.8); two is the hard floor.
	partHoldBackParts = 3
	// skipUntilTargetDurations: CAN-SKIP-UNTIL is six target durations, the
	// smallest skip boundary allowed (rfc8216bis §4.4.3.8).
	skipUntilTargetDurations = 6
	// partListTargetDurations: EXT-X-PART tags older than three target
	// durations from the live edge leave the playlist (rfc8216bis §4.4.4.9).
	partListTargetDurations = 3
	// partKeepTargetDurations: a part that left the playlist stays
	// downloadable three target durations more (spec: "3 x TD more").
	partKeepTargetDurations = 6
	// blockTimeoutTargetDurations: a request blocked this long gets 503
	// (rfc8216bis Appendix B.1).
	blockTimeoutTargetDurations = 3
	// idBytes is the entropy of a muxer's URI tag.
	idBytes = 4
	// minPartFraction: a part that is not INDEPENDENT and not the last of
	// its segment lasts at least 85% of PART-TARGET (rfc8216bis §4.4.4.9).
	minPartFraction = 0.85
)

// Config tunes one stream's packaging; zero values take the defaults.
type Config struct {
	// PartTarget is the LL-HLS part target duration (EXT-X-PART-INF).
	PartTarget time.Duration
	// SegmentTarget is the shortest segment duration.
	SegmentTarget time.Duration
	// Epoch is the wall-clock time of DTS 0; EXT-X-PROGRAM-DATE-TIME is
	// Epoch+PTS of a segment's first sample. Default: when NewMuxer ran.
	Epoch time.Time
	// Now is the clock stamped on parts (Part.Completed); tests inject it.
	Now func() time.Time
	// Logger receives the muxer's warnings. Default: slog.Default().
	Logger *slog.Logger
	// OnPart, if set, is called once per published part, with the muxer's
	// lock held: it must be quick and must not call back into the muxer
	// (metrics observe the part build delay, Completed minus FirstArrival).
	OnPart func(PartInfo)

	// Window is how much media the playlist lists. Default 12 x
	// TARGETDURATION; never below 3 x TARGETDURATION.
	Window time.Duration
	// BlockTimeout bounds how long a blocking request waits before it fails
	// with ErrBlockTimeout. Default 3 x TARGETDURATION.
	BlockTimeout time.Duration
	// ID tags this muxer's media URIs so a CDN never serves a previous
	// muxer's cached parts for the same stream. Default: random hex.
	ID string
}

// timing holds the numbers derived once from a Config; they never change
// during a stream, which is what LL-HLS players rely on.
type timing struct {
	partTarget    time.Duration
	minPart       time.Duration // minPartFraction of partTarget
	segmentTarget time.Duration
	// targetDuration is EXT-X-TARGETDURATION, whole seconds.
	targetDuration time.Duration
	// maxSegment is the longest a segment may grow (EXTINF <= TARGETDURATION);
	// past it a segment is cut even without a keyframe.
	maxSegment   time.Duration
	partHoldBack time.Duration
	canSkipUntil time.Duration
	window       time.Duration
	partListAge  time.Duration
	partKeepAge  time.Duration
	blockTimeout time.Duration
	// maxLead and maxHold interleave video with a late audio track
	// (muxer_interleave.go).
	maxLead, maxHold time.Duration
}

// withDefaults fills zero fields and validates the result.
func (c Config) withDefaults() (Config, timing, error) {
	if c.PartTarget == 0 {
		c.PartTarget = DefaultPartTarget
	}
	if c.SegmentTarget == 0 {
		c.SegmentTarget = DefaultSegmentTarget
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Epoch.IsZero() {
		c.Epoch = c.Now()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ID == "" {
		var b [idBytes]byte
		if _, err := rand.Read(b[:]); err != nil {
			return c, timing{}, fmt.Errorf("packager: random muxer id: %w", err)
		}
		c.ID = hex.EncodeToString(b[:])
	}

	if c.PartTarget < 0 {
		return c, timing{}, fmt.Errorf("packager: PartTarget %v must be > 0", c.PartTarget)
	}
	if c.SegmentTarget < c.PartTarget {
		return c, timing{}, fmt.Errorf("packager: SegmentTarget %v must be >= PartTarget %v", c.SegmentTarget, c.PartTarget)
	}
	if !validID(c.ID) {
		return c, timing{}, fmt.Errorf("packager: ID %q must be lowercase letters and digits", c.ID)
	}

	td := time.Duration(math.Ceil((targetDurationHeadroom * c.SegmentTarget).Seconds())) * time.Second
	t := timing{
		partTarget:     c.PartTarget,
		minPart:        time.Duration(minPartFraction * float64(c.PartTarget)),
		segmentTarget:  c.SegmentTarget,
		targetDuration: td,
		maxSegment:     td,
		partHoldBack:   partHoldBackParts * c.PartTarget,
		canSkipUntil:   skipUntilTargetDurations * td,
		window:         c.Window,
		partListAge:    partListTargetDurations * td,
		partKeepAge:    partKeepTargetDurations * td,
		blockTimeout:   c.BlockTimeout,
		maxLead:        maxLeadParts * c.PartTarget,
		maxHold:        maxHoldTargetDurations * td,
	}
	if t.window == 0 {
		t.window = windowTargetDurations * td
	}
	if t.window < minWindowTargetDurations*td {
		return c, timing{}, fmt.Errorf("packager: Window %v must be >= 3 x target duration (%v)", t.window, minWindowTargetDurations*td)
	}
	if t.blockTimeout == 0 {
		t.blockTimeout = blockTimeoutTargetDurations * td
	}
	if t.blockTimeout < 0 {
		return c, timing{}, fmt.Errorf("packager: BlockTimeout %v must be > 0", t.blockTimeout)
	}
	return c, t, nil
}

func validID(s string) bool {
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return s != ""
}
