// The gateway's clock, and latency from capture on it, for the player
// (play.js) and the side-by-side page (compare.js).
//
// Both tiers carry the capture time of their media on the gateway's clock:
// WebRTC in the RTCP sender reports (the browser turns them into getStats'
// estimatedPlayoutTimestamp), LL-HLS in EXT-X-PROGRAM-DATE-TIME (hls.js's
// playingDate). A viewer's own clock is often off by more than the latency
// to measure, so it is compared with the gateway's first (GET /clock).
'use strict';
window.frontrowClock = (() => {
  const NTP_UNIX_OFFSET_MS = 2208988800000; // 1900 to 1970, for RTCP sender clocks
  // The best of SAMPLES round trips, again every RESYNC_MS (RETRY_MS after
  // a failure).
  const SAMPLES = 4;
  const TIMEOUT_MS = 2000;
  const RESYNC_MS = 10 * 60 * 1000;
  const RETRY_MS = 10000;
  // A latency outside these bounds means the clocks are wrong (a sender not
  // synced to the gateway's): callers show something else.
  const SLACK_MS = 250; // how far below zero clock error may go
  const MAX_MS = 60000;

  // GatewayClock is the offset from this device's clock to the gateway's,
  // from GET /clock round trips (the one with the shortest round trip wins,
  // as in NTP: its error is at most half of it).
  class GatewayClock {
    constructor(url) {
      this.url = url;
      this.offsetMs = undefined; // gateway minus this device
      this.rttMs = undefined;
    }

    // at is the gateway's time when this device's clock (Date.now()) read
    // local; undefined before the first sync.
    at(local) {
      return this.offsetMs === undefined ? undefined : local + this.offsetMs;
    }

    // sync measures the offset; it reports whether it is known.
    async sync() {
      let best;
      for (let i = 0; i < SAMPLES; i++) {
        try {
          const t0 = Date.now();
          const res = await fetch(this.url, { cache: 'no-store', signal: AbortSignal.timeout(TIMEOUT_MS) });
          const body = res.ok ? await res.json() : null;
          const t1 = Date.now();
          if (!body || !Number.isFinite(body.unixMs)) break; // a gateway without /clock
          if (!best || t1 - t0 < best.rttMs) best = { rttMs: t1 - t0, offsetMs: body.unixMs - (t0 + t1) / 2 };
        } catch {
          // unreachable, late or not JSON: the other samples may do
        }
      }
      if (best) Object.assign(this, best);
      return best !== undefined;
    }

    // run keeps the offset fresh for the page's lifetime; it never settles.
    async run() {
      for (;;) {
        const ok = await this.sync();
        await new Promise((resolve) => setTimeout(resolve, ok ? RESYNC_MS : RETRY_MS));
      }
    }
  }

  const plausible = (ms) => (ms > -SLACK_MS && ms < MAX_MS ? Math.max(ms, 0) : undefined);

  // fromPlayout is how long ago the media an inbound-rtp stats entry plays
  // was captured: its estimatedPlayoutTimestamp is that capture time on the
  // sender's NTP clock, as of the entry's timestamp on this device's clock.
  function fromPlayout(clock, s) {
    if (!s || !s.estimatedPlayoutTimestamp || !s.timestamp) return undefined;
    const now = clock.at(s.timestamp);
    return now === undefined ? undefined : plausible(now + NTP_UNIX_OFFSET_MS - s.estimatedPlayoutTimestamp);
  }

  // fromDate is how long ago media stamped date (PROGRAM-DATE-TIME, on the
  // gateway's clock) was captured.
  function fromDate(clock, date) {
    const now = clock.at(Date.now());
    return date && now !== undefined ? plausible(now - date.getTime()) : undefined;
  }

  return { GatewayClock, fromPlayout, fromDate };
})();
