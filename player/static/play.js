// frontrow's player (/play/{distribution} and /watch/{stream}).
//
// It reads the distribution's sources (GET /play/{id}/config: WebRTC over
// WHEP and LL-HLS, lowest priority number first) and plays the first that
// works. The rules (issue 5):
//   - WebRTC gets connectTimeoutMs (4 s) from the POST to its first decoded
//     frame; a refused or failed POST, an ICE failure or the timeout moves on
//     to the next source at once. 409 (not live) carries Retry-After.
//   - A playing source that shows no new frame for 2 s (4 s on LL-HLS, which
//     rides out short gaps itself) or whose connection drops is reconnected
//     with exponential backoff, a few times, then the next source is tried.
//   - While a lower source plays, the preferred one is retried in the
//     background; it replaces the other only once it has presented a frame,
//     in a second <video> underneath, so the switch shows no black frame.
//   - All sources failing (the stream off air, say) starts over after
//     Retry-After or a bounded backoff, without a page reload; refusals
//     (401/403) stop with the reason instead.
//   - Every wait has a deadline, and the page says what it is doing.
'use strict';
(() => {
  // Deadlines and backoffs, in milliseconds.
  const CONFIG_TIMEOUT_MS = 5000; // GET /play/{id}/config
  const ICE_GATHER_CAP_MS = 1000; // then POST the candidates so far; later ones follow by PATCH (RFC 9725 section 4.3.1)
  const DEFAULT_CONNECT_TIMEOUT_MS = 4000; // when the configuration names none
  const DEFAULT_TARGET_LATENCY_MS = 600;
  const WEBRTC_STALL_MS = 2000; // no new frame for this long: the WebRTC connection is broken
  const HLS_START_TIMEOUT_MS = 8000; // LL-HLS: manifest to first frame
  const HLS_STALL_MS = 4000;
  // LL-HLS catch-up: play up to this much faster than real time while
  // behind the target latency. hls.js's own catch-up only acts with more
  // than a second buffered, which a sub-second target never has, so the
  // player runs its own (CATCH_UP_* below) and keeps hls.js's off.
  const CATCH_UP_MAX_RATE = 1.5;
  const CATCH_UP_EVERY_MS = 100;
  const CATCH_UP_SLACK_S = 0.02; // behind by less than this: real time
  const CATCH_UP_MIN_AHEAD_S = 0.2; // never speed up with less than this buffered
  // Aim this much below the configured target: catch-up stops up to
  // CATCH_UP_SLACK_S above the aim, so the viewer stays under the target.
  // Aiming lower stalls: at 0.5 s (about 0.3 s buffered, 200 ms parts)
  // hls.js 1.7 runs dry at segment boundaries on loopback. Never below
  // TARGET_FLOOR_S (two 200 ms parts, the protocol's floor).
  const TARGET_MARGIN_S = 0.05;
  const TARGET_FLOOR_S = 0.4;
  const RECONNECT = { baseMs: 500, maxMs: 4000, tries: 3 }; // the same source, after it broke
  const OFFLINE = { baseMs: 1000, maxMs: 8000 }; // every source failed, no Retry-After: start over
  const PROBE = { baseMs: 2000, maxMs: 30000 }; // the preferred source, while another plays
  const RETRY_AFTER_MAX_MS = 30000; // a server's Retry-After, capped
  const TICK_MS = 250; // stall checks and countdowns
  const STATS_EVERY_TICKS = 4; // getStats and the latency once a second
  const NOTICE_MS = 8000; // how long a notice ("WebRTC blocked, ...") stays up
  const MAX_EVENTS = 40; // kept for the stats panel and tests

  const { GatewayClock, fromPlayout, fromDate } = window.frontrowClock; // clock.js
  const LABELS = { webrtc: 'WebRTC', hls: 'LL-HLS' };
  // What the stats panel says each latency is (stats().latencySource).
  const LATENCY_SOURCES = {
    capture: 'from capture: RTCP sender reports on the gateway clock',
    estimate: 'estimate: jitter buffer + RTT/2 + decode',
    'hls.js': 'hls.js: behind the live edge',
  };
  const $ = (id) => document.getElementById(id);
  const root = $('player');
  const stage = $('stage');
  const pageParams = new URLSearchParams(location.search);
  const viewerToken = pageParams.get('token') || '';

  // PlayError is why a source did not play. kind: 'offline' (not live, or
  // ended), 'refused' (401/403/404: retrying will not help), 'failed'
  // (network, ICE, timeout), 'aborted' (the player gave up on it).
  class PlayError extends Error {
    constructor(kind, message, extra) {
      super(message);
      this.kind = kind;
      Object.assign(this, extra);
    }
  }

  const sleepMs = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const backoff = (policy, n) => Math.min(policy.baseMs * 2 ** n, policy.maxMs);
  const seconds = (ms) => `${Math.max(1, Math.ceil(ms / 1000))} s`;

  // withDeadline rejects with a 'failed' PlayError when p has not settled
  // within ms.
  function withDeadline(p, ms, why) {
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new PlayError('failed', `${why()} within ${seconds(ms)}`)), ms);
    });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }

  async function fetchWithin(url, init, ms, what) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), ms);
    try {
      return await fetch(url, { ...init, signal: ctrl.signal });
    } catch (err) {
      const why = err.name === 'AbortError' ? `no answer within ${seconds(ms)}` : 'unreachable';
      throw new PlayError('failed', `${what} ${why}`);
    } finally {
      clearTimeout(timer);
    }
  }

  // Retry-After is seconds or an HTTP date (RFC 9110 section 10.2.3).
  function retryAfterMs(header) {
    if (!header) return undefined;
    const ms = /^\d+$/.test(header.trim()) ? Number(header) * 1000 : Date.parse(header) - Date.now();
    return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), RETRY_AFTER_MAX_MS) : undefined;
  }

  // refusalText turns the gateway's refusal ({code, error}, origin/api) into
  // words for a viewer.
  function refusalText(status, body) {
    const code = body && body.code;
    const reason = body && body.error;
    if (code === 'token_missing') return 'This stream needs a viewer token: open the link you were given (it ends in ?token=…).';
    if (code === 'token_invalid') return `Your viewer token was refused${reason ? `: ${reason}` : ''}. Ask for a new link.`;
    if (status === 404) return 'There is no such stream or distribution.';
    return `You may not watch this stream here${reason ? `: ${reason}` : ` (HTTP ${status})`}.`;
  }

  // errorFrom reads a failed HTTP answer into a PlayError.
  async function errorFrom(res, what) {
    let body = null;
    const text = await res.text().catch(() => '');
    try {
      body = JSON.parse(text);
    } catch {
      body = { error: text.trim().slice(0, 200) };
    }
    const retry = retryAfterMs(res.headers.get('Retry-After'));
    switch (res.status) {
      case 409:
        return new PlayError('offline', 'the stream is not live', { retryAfterMs: retry });
      case 401:
      case 403:
        return new PlayError('refused', refusalText(res.status, body), { status: res.status });
      default:
        return new PlayError('failed', `${what} answered ${res.status}${body.error ? ` (${body.error})` : ''}`,
          { retryAfterMs: retry, status: res.status });
    }
  }

  // ---- Configuration --------------------------------------------------

  // loadConfig is the distribution's player configuration; /watch/{stream}
  // makes one up: this gateway's WHEP first, then its LL-HLS.
  async function loadConfig() {
    const [kind, name] = location.pathname.split('/').filter(Boolean);
    if (kind === 'watch' && name) {
      const stream = decodeURIComponent(name);
      return {
        distribution: '', name: stream, stream,
        sources: [
          { type: 'webrtc', url: `/whep/${name}`, priority: 0 },
          { type: 'hls', url: `/hls/${name}/index.m3u8`, priority: 1 },
        ],
        iceServers: [], tokenParam: 'token', distributionParam: 'distribution',
      };
    }
    if (kind !== 'play' || !name) throw new PlayError('refused', 'This page plays /play/{distribution} or /watch/{stream}.');
    const url = new URL(`/play/${name}/config`, location.href);
    if (viewerToken) url.searchParams.set('token', viewerToken);
    const res = await fetchWithin(url, { cache: 'no-store' }, CONFIG_TIMEOUT_MS, 'the player configuration');
    if (res.status === 404) return Promise.reject(new PlayError('refused', refusalText(404, null)));
    if (!res.ok) throw await errorFrom(res, 'the player configuration');
    return res.json();
  }

  // viewerURL adds the distribution and the viewer token to a request for
  // one of this gateway's sources; playlists name parts by relative URIs,
  // which drop the query, so hls.js calls this for every request.
  function viewerURL(cfg, source, url) {
    const u = new URL(url, location.href);
    if (source.external) return u.href;
    if (cfg.distribution) u.searchParams.set(cfg.distributionParam || 'distribution', cfg.distribution);
    if (viewerToken) u.searchParams.set(cfg.tokenParam || 'token', viewerToken);
    return u.href;
  }

  // ---- Frames ---------------------------------------------------------

  // watchFrames counts the frames a <video> presents
  // (requestVideoFrameCallback; decoded-frame polling where it is missing).
  function watchFrames(video) {
    const clock = { frames: 0, last: 0, stopped: false };
    let firstFrame;
    clock.first = new Promise((resolve) => { firstFrame = resolve; });
    const seen = () => {
      clock.frames++;
      clock.last = performance.now();
      if (clock.frames === 1) firstFrame(clock.last);
    };
    if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) {
      const onFrame = () => {
        if (clock.stopped) return;
        seen();
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    } else {
      let shown = 0;
      clock.timer = setInterval(() => {
        const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality().totalVideoFrames : 0;
        const n = q || Math.round(video.currentTime * 1000);
        if (video.readyState >= 2 && n !== shown) {
          shown = n;
          seen();
        }
      }, 100);
    }
    clock.stop = () => {
      clock.stopped = true;
      clearInterval(clock.timer);
    };
    return clock;
  }

  function newVideo() {
    const v = document.createElement('video');
    v.muted = true; // autoplay; the viewer unmutes
    v.autoplay = true;
    v.playsInline = true;
    v.setAttribute('playsinline', '');
    stage.prepend(v); // underneath whatever plays now
    return v;
  }

  // ---- Tiers ----------------------------------------------------------
  // A tier plays one source into its own <video>. start(ms) resolves once a
  // frame was presented; afterwards onBreak(err) is called at most once.
  // pause() stops the network but leaves the last frame on screen; stop()
  // tears down and removes the element.

  class Tier {
    constructor(player, source) {
      this.player = player;
      this.cfg = player.cfg;
      this.source = source;
      this.type = source.type;
      this.label = LABELS[source.type] || source.type;
      this.video = newVideo();
      this.clock = watchFrames(this.video);
      this.started = false;
      this.stopped = false;
      this.onBreak = null;
      this.fatal = new Promise((_, reject) => { this.rejectStart = reject; });
      this.fatal.catch(() => {});
    }

    // breakOff fails the start, or reports a break once playing.
    breakOff(err) {
      if (this.stopped) return;
      if (!this.started) {
        this.rejectStart(err);
        return;
      }
      const cb = this.onBreak;
      this.onBreak = null;
      if (cb) cb(err);
    }

    async start(ms) {
      try {
        await withDeadline(Promise.race([this.open().then(() => this.clock.first), this.fatal]), ms, () => this.lateReason());
      } catch (err) {
        this.stop();
        throw err instanceof PlayError ? err : new PlayError('failed', `${this.label}: ${err.message || err}`);
      }
      if (this.stopped) throw new PlayError('aborted', 'stopped');
      this.started = true;
      this.startedAt = performance.now();
    }

    stop() {
      this.pause();
      this.rejectStart(new PlayError('aborted', 'stopped'));
      this.stopped = true;
      this.clock.stop();
      this.video.remove();
    }

    stallMs() { return WEBRTC_STALL_MS; }

    lateReason() { return `${this.label}: no picture`; }
  }

  // WebRTC over WHEP (RFC 9725): a recvonly offer with the candidates
  // gathered within ICE_GATHER_CAP_MS, the rest trickled by PATCH.
  class WhepTier extends Tier {
    async open() {
      const ice = this.source.external ? [] : (this.cfg.iceServers || []);
      const pc = new RTCPeerConnection({ iceServers: ice, bundlePolicy: 'max-bundle' });
      this.pc = pc;
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const media = new MediaStream();
      pc.ontrack = (ev) => {
        media.addTrack(ev.track);
        if (this.video.srcObject !== media) this.video.srcObject = media;
        this.player.play(this.video);
      };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === 'failed' || pc.connectionState === 'closed') {
          this.breakOff(new PlayError('failed', `WebRTC connection ${pc.connectionState}`));
        }
      };
      await pc.setLocalDescription(await pc.createOffer());
      await this.gathered(ICE_GATHER_CAP_MS);
      const late = [];
      let answered = false;
      pc.onicecandidate = (ev) => {
        late.push(ev.candidate); // null: gathering complete
        if (answered) this.trickle(late);
      };
      const offer = pc.localDescription.sdp;
      this.postedAt = performance.now();
      const url = viewerURL(this.cfg, this.source, this.source.url);
      const res = await fetchWithin(url, {
        method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer,
      }, this.cfg.connectTimeoutMs || DEFAULT_CONNECT_TIMEOUT_MS, 'the WHEP endpoint');
      if (res.status !== 201 && res.status !== 200) throw await errorFrom(res, 'the WHEP endpoint');
      const location = res.headers.get('Location');
      // The session's PATCH and DELETE carry what the POST did (the
      // distribution and the viewer token): the gateway asks for them.
      if (location) this.session = viewerURL(this.cfg, this.source, new URL(location, res.url).href);
      this.canTrickle = (res.headers.get('Accept-Patch') || '').includes('trickle-ice-sdpfrag');
      const answer = await res.text();
      if (this.stopped) throw new PlayError('aborted', 'stopped');
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      this.offer = offer;
      answered = true;
      this.answered = true;
      this.trickle(late);
    }

    lateReason() {
      const ice = this.pc ? this.pc.iceConnectionState : 'new';
      if (!this.answered) return 'WebRTC: no answer from the WHEP endpoint';
      if (ice !== 'connected' && ice !== 'completed') return `WebRTC could not connect (ICE ${ice})`;
      return 'WebRTC: connected but no picture';
    }

    // gathered resolves when ICE gathering completes or after capMs,
    // whichever is first: a slow STUN or TURN server costs a second, never more.
    gathered(capMs) {
      const pc = this.pc;
      if (pc.iceGatheringState === 'complete') return Promise.resolve();
      return new Promise((resolve) => {
        const timer = setTimeout(done, capMs);
        pc.addEventListener('icegatheringstatechange', check);
        function check() {
          if (pc.iceGatheringState === 'complete') done();
        }
        function done() {
          clearTimeout(timer);
          pc.removeEventListener('icegatheringstatechange', check);
          resolve();
        }
      });
    }

    // trickle PATCHes candidates found after the POST as an
    // application/trickle-ice-sdpfrag (RFC 8840 section 4.4), in one
    // request per batch.
    trickle(queue) {
      if (!this.session || !this.canTrickle || this.stopped || queue.length === 0) return;
      const batch = queue.splice(0);
      const ufrag = /a=ice-ufrag:(\S+)/.exec(this.offer);
      const pwd = /a=ice-pwd:(\S+)/.exec(this.offer);
      const lines = [];
      if (ufrag) lines.push(`a=ice-ufrag:${ufrag[1]}`);
      if (pwd) lines.push(`a=ice-pwd:${pwd[1]}`);
      let mid = null;
      for (const c of batch) {
        const cmid = c ? (c.sdpMid ?? '0') : mid ?? '0';
        if (cmid !== mid) {
          lines.push('m=audio 9 UDP/TLS/RTP/SAVPF 0', `a=mid:${cmid}`);
          mid = cmid;
        }
        lines.push(c && c.candidate ? `a=${c.candidate}` : 'a=end-of-candidates');
      }
      fetch(this.session, {
        method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: `${lines.join('\r\n')}\r\n`,
      }).catch(() => {}); // a lost candidate costs a path, not the session
    }

    pause() {
      if (this.session) {
        fetch(this.session, { method: 'DELETE', keepalive: true }).catch(() => {});
        this.session = null;
      }
      if (this.pc) {
        this.pc.onconnectionstatechange = null;
        this.pc.close();
      }
    }

    // stats reads inbound RTP and the selected candidate pair. The latency
    // is from capture (clock.js fromPlayout: the gateway's RTCP sender
    // reports map RTP time to the capture clock) once they and the
    // gateway's clock are known: what the video shows, else what the audio
    // plays. Before that, or where the browser has no
    // estimatedPlayoutTimestamp, it is an estimate of the gateway-to-screen
    // delay: the jitter buffer (the later of audio and video, which lip sync
    // waits for) plus half the round trip plus decode time.
    async stats() {
      if (!this.pc) return {};
      const report = await this.pc.getStats();
      let video, audio, pair;
      const codecs = {};
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') video = s;
        else if (s.type === 'inbound-rtp' && s.kind === 'audio') audio = s;
        else if (s.type === 'codec') codecs[s.id] = s.mimeType;
        else if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
      });
      const prev = this.prevStats || {};
      const now = performance.now();
      const out = {};
      if (video) {
        const dCount = (video.jitterBufferEmittedCount || 0) - (prev.jbCount || 0);
        const dDelay = (video.jitterBufferDelay || 0) - (prev.jbDelay || 0);
        const dFrames = (video.framesDecoded || 0) - (prev.framesDecoded || 0);
        const dDecode = (video.totalDecodeTime || 0) - (prev.decodeTime || 0);
        out.jitterBufferMs = dCount > 0 ? (dDelay / dCount) * 1000
          : video.jitterBufferEmittedCount ? (video.jitterBufferDelay / video.jitterBufferEmittedCount) * 1000 : undefined;
        out.decodeMs = dFrames > 0 ? (dDecode / dFrames) * 1000 : undefined;
        out.codec = codecs[video.codecId];
        out.resolution = video.frameWidth ? `${video.frameWidth}×${video.frameHeight}` : undefined;
        out.fps = video.framesPerSecond;
        out.packetsLost = video.packetsLost;
        out.framesDropped = video.framesDropped;
        out.freezes = video.freezeCount;
        out.nacks = video.nackCount;
        out.plis = video.pliCount;
        if (prev.at && video.bytesReceived >= prev.bytes) {
          out.kbps = ((video.bytesReceived - prev.bytes) * 8) / (now - prev.at);
        }
        out.captureToPlayoutMs = fromPlayout(this.player.gatewayClock, video);
        this.prevStats = {
          at: now, bytes: video.bytesReceived, jbCount: video.jitterBufferEmittedCount, jbDelay: video.jitterBufferDelay,
          framesDecoded: video.framesDecoded, decodeTime: video.totalDecodeTime,
        };
      }
      if (audio) {
        out.audioCodec = codecs[audio.codecId];
        const dCount = (audio.jitterBufferEmittedCount || 0) - (prev.ajbCount || 0);
        const dDelay = (audio.jitterBufferDelay || 0) - (prev.ajbDelay || 0);
        if (dCount > 0) out.audioJitterBufferMs = (dDelay / dCount) * 1000;
        out.audioCaptureToPlayoutMs = fromPlayout(this.player.gatewayClock, audio);
        this.prevStats = { ...this.prevStats, ajbCount: audio.jitterBufferEmittedCount, ajbDelay: audio.jitterBufferDelay };
      }
      if (pair) {
        out.rttMs = pair.currentRoundTripTime !== undefined ? pair.currentRoundTripTime * 1000 : undefined;
        const local = report.get(pair.localCandidateId);
        if (local) out.path = `${local.candidateType}${local.protocol ? `/${local.protocol}` : ''}${local.relayProtocol ? ` via ${local.relayProtocol}` : ''}`;
      }
      if (out.jitterBufferMs !== undefined) {
        // Lip sync holds the earlier of audio and video back to the later.
        const buffered = Math.max(out.jitterBufferMs, out.audioJitterBufferMs || 0);
        out.estimateMs = buffered + (out.rttMs || 0) / 2 + (out.decodeMs || 0);
      }
      const fromCapture = out.captureToPlayoutMs !== undefined ? out.captureToPlayoutMs : out.audioCaptureToPlayoutMs;
      if (fromCapture !== undefined) {
        out.latencyMs = fromCapture;
        out.latencySource = 'capture';
      } else if (out.estimateMs !== undefined) {
        out.latencyMs = out.estimateMs;
        out.latencySource = 'estimate';
      }
      return out;
    }
  }

  // guardPartLoading works around an hls.js 1.7 low-latency bug that stops
  // its audio or its video stream controller for good at a segment boundary
  // (the buffer runs dry: a stall of many seconds). Its fragment tracker
  // calls a segment fully buffered (OK) once the buffer reaches within 0.2 s
  // of the segment's end (FragmentTracker.bufferPadding) while the playlist
  // still lists a part of it that was never loaded; this happens when the
  // playlist that completes the segment arrives before the part ahead of
  // its last one is appended (a busy machine; every audio part and the last
  // video part are at most 0.2 s). From then on the next-fragment lookup
  // picks that segment on every tick because of the missing part, and the
  // controller skips it because it is OK. When the lookup picks a segment
  // the tracker calls OK that has a part the playlist lists and hls.js never
  // loaded, mark it PARTIAL: hls.js then loads the first part it lacks after
  // those it has (the missing last part, or the next segment's first).
  function guardPartLoading(hls) {
    for (const ctl of [hls.streamController, hls.audioStreamController]) {
      const tracker = ctl && ctl.fragmentTracker;
      if (!tracker || typeof ctl.getNextFragment !== 'function' || typeof tracker.getState !== 'function') continue;
      const next = ctl.getNextFragment;
      ctl.getNextFragment = function getNextFragment(pos, details) {
        const frag = next.call(this, pos, details);
        const parts = details && details.partList;
        if (frag && parts && tracker.getState(frag) === 'OK'
          && parts.some((p) => p.fragment.sn === frag.sn && !p.loaded && !p.gap)) {
          const entity = tracker.fragments && tracker.fragments[`${frag.type}_${frag.level}_${frag.sn}`];
          if (entity && entity.range) Object.values(entity.range).forEach((r) => { if (r) r.partial = true; });
        }
        return frag;
      };
    }
  }

  // LL-HLS with hls.js: low-latency mode, catching up faster than real time
  // when behind, every request carrying the viewer's parameters.
  class HlsTier extends Tier {
    open() {
      const url = viewerURL(this.cfg, this.source, this.source.url);
      if (!window.Hls || !Hls.isSupported()) {
        if (this.video.canPlayType('application/vnd.apple.mpegurl')) {
          // Safari without MSE: native HLS, which cannot add the token to
          // part requests; distributions without tokens still play.
          this.video.src = url;
          this.player.play(this.video);
          return Promise.resolve();
        }
        const why = window.Hls ? 'this browser has no Media Source Extensions' : 'hls.js is missing (run player/build.sh)';
        return Promise.reject(new PlayError('failed', `LL-HLS: ${why}`));
      }
      const add = (u) => viewerURL(this.cfg, this.source, u);
      const retries = (n) => ({
        maxTimeToFirstByteMs: 8000, maxLoadTimeMs: 10000,
        timeoutRetry: { maxNumRetry: n, retryDelayMs: 0, maxRetryDelayMs: 0 },
        errorRetry: { maxNumRetry: n, retryDelayMs: 500, maxRetryDelayMs: 2000 },
      });
      // The distribution's target latency (GET /play/{id}/config) is a
      // ceiling: hls.js aims TARGET_MARGIN_S below it. Without one, hls.js
      // aims at the playlist's PART-HOLD-BACK.
      const target = this.cfg.targetLatencyMs > 0
        ? { liveSyncDuration: Math.max(TARGET_FLOOR_S, this.cfg.targetLatencyMs / 1000 - TARGET_MARGIN_S) } : {};
      const hls = new Hls({
        lowLatencyMode: true,
        ...target,
        maxLiveSyncPlaybackRate: 1, // the player's catchUp instead, see CATCH_UP_MAX_RATE
        liveSyncOnStallIncrease: 0.5,
        // No back-buffer trimming by hls.js: the browser evicts played media
        // itself when it needs the room. hls.js 1.7 trims every target
        // duration, and a trim that completes while a part is between its
        // load and its append makes the fragment tracker forget that
        // segment and the parts of it already loaded; at the segment's end
        // it then never loads the next one (a stall of many seconds, seen in
        // e2e/player_latency_test.go).
        backBufferLength: Infinity,
        manifestLoadPolicy: { default: retries(2) },
        playlistLoadPolicy: { default: retries(2) },
        fragLoadPolicy: { default: retries(3) },
        xhrSetup: (xhr, u) => xhr.open('GET', add(u), true),
        fetchSetup: (ctx, init) => new Request(add(ctx.url), init),
      });
      this.hls = hls;
      guardPartLoading(hls);
      hls.on(Hls.Events.ERROR, (_, data) => {
        if (!data.fatal) return;
        const code = data.response && data.response.code;
        let err;
        if (code === 401 || code === 403) {
          let body = null;
          try { body = JSON.parse(data.response.text); } catch { /* not JSON */ }
          err = new PlayError('refused', refusalText(code, body), { status: code });
        } else if (code === 404 || code === 410) {
          err = new PlayError('offline', 'the stream is not live');
        } else {
          err = new PlayError('failed', `LL-HLS ${data.details}${code ? ` (HTTP ${code})` : ''}`);
        }
        this.breakOff(err);
      });
      hls.on(Hls.Events.LEVEL_UPDATED, (_, data) => {
        if (data.details && data.details.live === false) this.breakOff(new PlayError('offline', 'the stream ended'));
      });
      hls.on(Hls.Events.MANIFEST_PARSED, () => this.player.play(this.video));
      hls.loadSource(url);
      hls.attachMedia(this.video);
      this.catchUpTimer = setInterval(() => this.catchUp(), CATCH_UP_EVERY_MS);
      return Promise.resolve();
    }

    // catchUp plays faster than real time, up to CATCH_UP_MAX_RATE, while
    // the latency is above hls.js's target (the configured one plus what
    // hls.js adds after stalls), as long as enough is buffered; otherwise
    // real time. The rate grows with the distance, so it settles without
    // overshooting.
    catchUp() {
      const hls = this.hls;
      const v = this.video;
      if (!hls || v.paused || !Number.isFinite(hls.latency) || !Number.isFinite(hls.targetLatency)) return;
      const behind = hls.latency - hls.targetLatency;
      const ahead = v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : 0;
      let rate = 1;
      if (behind > CATCH_UP_SLACK_S && ahead > CATCH_UP_MIN_AHEAD_S) {
        rate = Math.min(CATCH_UP_MAX_RATE, Math.round((1 + 2 * behind) * 20) / 20);
      }
      if (v.playbackRate !== rate) v.playbackRate = rate;
    }

    pause() {
      if (this.hls) this.hls.stopLoad();
    }

    stop() {
      super.stop();
      clearInterval(this.catchUpTimer);
      if (this.hls) this.hls.destroy();
      this.hls = null;
    }

    stallMs() { return HLS_STALL_MS; }

    async stats() {
      const hls = this.hls;
      const v = this.video;
      const out = {};
      const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
      if (q) out.framesDropped = q.droppedVideoFrames;
      if (v.videoWidth) out.resolution = `${v.videoWidth}×${v.videoHeight}`;
      out.playbackRate = v.playbackRate;
      if (v.buffered.length) out.bufferMs = (v.buffered.end(v.buffered.length - 1) - v.currentTime) * 1000;
      if (!hls) return out;
      if (Number.isFinite(hls.latency)) {
        out.latencyMs = hls.latency * 1000;
        out.latencySource = 'hls.js';
      }
      if (Number.isFinite(hls.targetLatency)) out.targetLatencyMs = hls.targetLatency * 1000;
      // PROGRAM-DATE-TIME is stamped from the gateway's ingest clock.
      out.captureToPlayoutMs = fromDate(this.player.gatewayClock, hls.playingDate);
      const level = hls.levels && hls.levels[hls.currentLevel];
      if (level) {
        out.kbps = level.bitrate / 1000;
        out.codec = level.videoCodec;
        out.audioCodec = level.audioCodec;
      }
      if (Number.isFinite(hls.bandwidthEstimate)) out.bandwidthKbps = hls.bandwidthEstimate / 1000;
      return out;
    }
  }

  // ---- The player -----------------------------------------------------

  class Player {
    constructor(cfg) {
      this.cfg = cfg;
      this.tier = null; // the tier on screen
      this.inflight = new Set(); // tiers connecting
      this.flow = 0; // bumped by every new connect/recover flow: older ones stop
      this.probeFlow = 0;
      this.probeTries = 0;
      this.offlineTries = 0;
      this.muted = true;
      this.interactive = false;
      this.reconnects = 0;
      this.switches = 0;
      this.events = [];
      this.gatewayClock = new GatewayClock(new URL('/clock', location.href).href);
      this.state = '';
      this.message = '';
      this.countdown = null; // {text(ms), until}
      this.stats = {};
      this.hasWebRTC = cfg.sources.some((s) => s.type === 'webrtc');
      // Interactive (force WebRTC) means something only beside another tier.
      this.canForceWebRTC = this.hasWebRTC && cfg.sources.some((s) => s.type !== 'webrtc');
    }

    // order is the sources to try: the distribution's, or WebRTC first in
    // interactive mode.
    order() {
      const s = this.cfg.sources.slice();
      if (this.interactive) s.sort((a, b) => (a.type === 'webrtc' ? 0 : 1) - (b.type === 'webrtc' ? 0 : 1));
      return s;
    }

    log(event, detail) {
      this.events.push({ t: Math.round(performance.now()), event, ...detail });
      if (this.events.length > MAX_EVENTS) this.events.shift();
    }

    play(video) {
      const p = video.play();
      if (p) {
        p.catch((err) => {
          if (err.name === 'NotAllowedError') this.notice('Autoplay is blocked: press Unmute to start.');
        });
      }
    }

    newFlow() {
      this.flow++;
      this.cancelProbe();
      for (const t of this.inflight) t.stop();
      this.inflight.clear();
      this.countdown = null;
      return this.flow;
    }

    async attempt(source) {
      const tier = source.type === 'webrtc' ? new WhepTier(this, source) : new HlsTier(this, source);
      this.inflight.add(tier);
      const began = performance.now();
      this.log('try', { tier: source.type });
      const ms = source.type === 'webrtc' ? (this.cfg.connectTimeoutMs || DEFAULT_CONNECT_TIMEOUT_MS) : HLS_START_TIMEOUT_MS;
      try {
        await tier.start(ms);
        this.log('first-frame', { tier: source.type, ms: Math.round(performance.now() - began) });
        return tier;
      } catch (err) {
        if (err.kind !== 'aborted') this.log('fail', { tier: source.type, kind: err.kind, reason: err.message });
        throw err;
      } finally {
        this.inflight.delete(tier);
      }
    }

    // connect tries the sources from index on; when all fail it waits and
    // starts over. failures carries what already failed in this round.
    async connect(index = 0, failures = []) {
      const flow = this.newFlow();
      const order = this.order();
      for (let i = index; i < order.length; i++) {
        const src = order[i];
        if (!this.tier || failures.length === 0) {
          this.setState(this.tier ? 'reconnecting' : 'connecting', `connecting to ${LABELS[src.type]}…`);
        } else {
          this.setState('reconnecting', `${LABELS[failures[failures.length - 1].src.type]} lost, trying ${LABELS[src.type]}…`);
        }
        try {
          const tier = await this.attempt(src);
          if (flow !== this.flow) return tier.stop();
          return this.adopt(tier, failures);
        } catch (err) {
          if (flow !== this.flow) return undefined;
          failures.push({ src, err });
        }
      }
      return this.allFailed(flow, failures);
    }

    // allFailed: refusals end here; anything else starts over after the
    // server's Retry-After or a backoff.
    async allFailed(flow, failures) {
      this.retire(this.tier);
      this.tier = null;
      this.render();
      const refused = failures.find((f) => f.err.kind === 'refused');
      if (refused && !failures.some((f) => f.err.kind === 'offline')) {
        this.log('refused', { reason: refused.err.message });
        this.setState('refused', refused.err.message);
        return;
      }
      const offline = failures.some((f) => f.err.kind === 'offline');
      const hinted = failures.map((f) => f.err.retryAfterMs).filter((ms) => ms !== undefined);
      const wait = hinted.length ? Math.max(...hinted, 500) : backoff(OFFLINE, this.offlineTries);
      this.offlineTries++;
      const last = failures[failures.length - 1];
      const why = offline ? 'stream offline' : `cannot play (${last ? last.err.message : 'no source'})`;
      this.log('wait', { ms: wait, why });
      this.setState(offline ? 'offline' : 'error', '');
      this.countdown = { until: performance.now() + wait, text: (ms) => `${why}, retrying in ${seconds(ms)}` };
      this.render();
      await sleepMs(wait);
      if (flow === this.flow) this.connect(0, []);
    }

    // adopt puts a tier that has presented a frame on screen, on top of
    // the old one, which goes once the new one is painted.
    adopt(tier, failures) {
      const old = this.tier;
      this.tier = tier;
      this.countdown = null;
      tier.video.muted = this.muted;
      tier.video.classList.add('active');
      tier.onBreak = (err) => this.broken(tier, err);
      if (old) {
        old.video.classList.remove('active');
        requestAnimationFrame(() => requestAnimationFrame(() => this.retire(old)));
      }
      this.offlineTries = 0;
      this.probeTries = 0; // a fresh fallback probes soon again
      this.stats = {};
      this.log('playing', { tier: tier.type });
      this.setState('playing', '');
      const failed = failures.find((f) => f.src.type !== tier.type);
      if (failed) {
        const verb = failed.err.kind === 'offline' ? 'not live' : failed.err.kind === 'refused' ? 'refused' : 'blocked';
        this.notice(`${LABELS[failed.src.type]} ${verb}, playing ${tier.label}`);
        this.log('fallback', { from: failed.src.type, to: tier.type, reason: failed.err.message });
      } else if (old && old.type !== tier.type) {
        this.notice(`switched to ${tier.label}`);
      }
      if (this.order()[0] !== tier.source) this.scheduleProbe();
      this.render();
    }

    retire(tier) {
      if (tier) tier.stop();
    }

    // broken: the tier on screen stopped. Reconnect it with backoff (the
    // last frame stays up meanwhile), then fall back to the next sources.
    async broken(tier, err) {
      if (tier !== this.tier) return;
      this.log('broken', { tier: tier.type, reason: err.message });
      tier.pause();
      const flow = this.newFlow();
      const order = this.order();
      const index = Math.max(0, order.indexOf(tier.source));
      let last = err;
      if (err.kind !== 'offline') {
        for (let n = 0; n < RECONNECT.tries; n++) {
          const wait = backoff(RECONNECT, n);
          this.setState('reconnecting', '');
          const why = last.message;
          this.countdown = { until: performance.now() + wait, text: (ms) => `${tier.label} interrupted (${why}), reconnecting in ${seconds(ms)}` };
          this.render();
          await sleepMs(wait);
          if (flow !== this.flow) return;
          this.countdown = null;
          this.setState('reconnecting', `reconnecting ${tier.label} (${n + 1}/${RECONNECT.tries})…`);
          try {
            const next = await this.attempt(tier.source);
            if (flow !== this.flow) return next.stop();
            this.reconnects++;
            return this.adopt(next, []);
          } catch (e) {
            if (flow !== this.flow) return undefined;
            last = e;
            if (e.kind === 'offline' || e.kind === 'refused') break;
          }
        }
      }
      // Not the same source again: the others, then start over.
      return this.connect(index + 1, [{ src: tier.source, err: last }]);
    }

    // scheduleProbe retries the preferred source in the background, with a
    // growing pause between tries.
    scheduleProbe(ms) {
      this.cancelProbe();
      const probe = this.probeFlow;
      const wait = ms ?? backoff(PROBE, this.probeTries);
      this.probeTimer = setTimeout(() => this.probe(probe), wait);
    }

    cancelProbe() {
      this.probeFlow++;
      clearTimeout(this.probeTimer);
      if (this.probing) this.probing.stop();
      this.probing = null;
    }

    async probe(probe) {
      const target = this.order()[0];
      if (!this.tier || this.tier.source === target || probe !== this.probeFlow) return;
      const flow = this.flow;
      this.probeTries++;
      this.log('probe', { tier: target.type });
      let tier;
      try {
        const p = this.attempt(target);
        // attempt registers the tier in inflight synchronously; keep it to cancel.
        this.probing = [...this.inflight].pop();
        tier = await p;
      } catch (err) {
        if (probe !== this.probeFlow || flow !== this.flow) return;
        this.probing = null;
        if (this.interactive && target.type === 'webrtc') this.notice(`WebRTC unavailable (${err.message}), staying on ${this.tier.label}`);
        this.scheduleProbe();
        return;
      }
      this.probing = null;
      if (probe !== this.probeFlow || flow !== this.flow || !this.tier) {
        tier.stop();
        return;
      }
      this.switches++;
      this.adopt(tier, []);
    }

    setInteractive(on) {
      this.interactive = on;
      this.log('interactive', { on });
      $('interactive').setAttribute('aria-pressed', String(on));
      if (!this.tier) {
        if (this.state !== 'refused') this.connect(0, []);
        return;
      }
      if (this.tier.source !== this.order()[0]) {
        this.probeTries = 0;
        this.notice(on ? 'switching to WebRTC…' : `switching to ${LABELS[this.order()[0].type]}…`);
        this.scheduleProbe(0);
      } else {
        this.cancelProbe();
      }
    }

    setMuted(muted) {
      this.muted = muted;
      if (this.tier) {
        this.tier.video.muted = muted;
        if (!muted) this.play(this.tier.video);
      }
      this.render();
    }

    setState(state, message) {
      this.state = state;
      this.message = message;
      this.render();
    }

    notice(text) {
      this.noticeText = text;
      this.noticeUntil = performance.now() + NOTICE_MS;
      this.render();
    }

    // tick checks for stalls and refreshes latency, stats and countdowns.
    async tick() {
      const tier = this.tier;
      if (tier && this.state === 'playing' && !document.hidden) {
        const since = performance.now() - Math.max(tier.clock.last, this.visibleSince || 0);
        if (since > tier.stallMs()) tier.breakOff(new PlayError('failed', `no picture for ${(since / 1000).toFixed(1)} s`));
      }
      this.ticks = (this.ticks || 0) + 1;
      if (tier && this.state === 'playing' && this.ticks % STATS_EVERY_TICKS === 0) {
        try {
          this.stats = await tier.stats();
        } catch {
          this.stats = {};
        }
      }
      this.render();
    }

    snapshot() {
      const t = this.tier;
      return {
        state: this.state,
        tier: t ? t.type : '',
        message: $('message').textContent,
        notice: $('notice').textContent,
        frames: t ? t.clock.frames : 0,
        sinceFrameMs: t ? Math.round(performance.now() - t.clock.last) : null,
        latencyMs: this.stats.latencyMs,
        latencyEstimate: this.stats.latencySource === 'estimate',
        latencySource: this.stats.latencySource || '',
        captureToPlayoutMs: this.stats.captureToPlayoutMs,
        audioCaptureToPlayoutMs: this.stats.audioCaptureToPlayoutMs,
        estimateMs: this.stats.estimateMs,
        clockOffsetMs: this.gatewayClock.offsetMs,
        clockRttMs: this.gatewayClock.rttMs,
        reconnects: this.reconnects,
        switches: this.switches,
        interactive: this.interactive,
        muted: this.muted,
        events: this.events.slice(),
        now: performance.now(),
      };
    }

    render() {
      const t = this.tier;
      root.dataset.state = this.state;
      root.dataset.tier = t ? t.type : '';
      $('tier').textContent = t ? t.label : '';
      $('tier').hidden = !t;
      const s = this.stats;
      let latency = '';
      if (t && this.state === 'playing' && s.latencyMs !== undefined) {
        const v = s.latencyMs < 1000 ? `${Math.round(s.latencyMs)} ms` : `${(s.latencyMs / 1000).toFixed(2)} s`;
        latency = s.latencySource === 'estimate' ? `latency ≈ ${v} (estimate)` : `latency ${v}`;
      }
      $('latency').textContent = latency;
      let msg = this.message;
      if (this.countdown) msg = this.countdown.text(this.countdown.until - performance.now());
      $('message').textContent = msg;
      $('message').hidden = !msg;
      const noticeOn = this.noticeText && performance.now() < this.noticeUntil;
      $('notice').textContent = noticeOn ? this.noticeText : '';
      $('notice').hidden = !noticeOn;
      $('mute').setAttribute('aria-pressed', String(this.muted));
      $('mute').querySelector('.label').textContent = this.muted ? 'Unmute' : 'Mute';
      $('unmute').hidden = !this.muted || !t;
      $('interactive').hidden = !this.canForceWebRTC;
      if (!$('stats').hidden) this.renderStats();
    }

    renderStats() {
      const s = this.stats;
      const t = this.tier;
      const ms = (v) => (v === undefined || v === null ? undefined : `${Math.round(v)} ms`);
      const rows = [
        ['tier', t ? t.label : '—'],
        ['state', this.state],
        ['source', t ? t.source.url.replace(/([?&]token=)[^&]*/, '$1…') : undefined],
        ['latency', s.latencyMs !== undefined ? `${ms(s.latencyMs)} (${LATENCY_SOURCES[s.latencySource] || s.latencySource})` : undefined],
        ['capture → playout', s.audioCaptureToPlayoutMs !== undefined
          ? `video ${ms(s.captureToPlayoutMs) || '—'}, audio ${ms(s.audioCaptureToPlayoutMs)}` : ms(s.captureToPlayoutMs)],
        ['gateway → screen estimate', ms(s.estimateMs)],
        ['gateway clock', this.gatewayClock.offsetMs !== undefined
          ? `${this.gatewayClock.offsetMs >= 0 ? '+' : ''}${Math.round(this.gatewayClock.offsetMs)} ms (±${Math.ceil(this.gatewayClock.rttMs / 2)} ms)` : undefined],
        ['target latency', ms(s.targetLatencyMs)],
        ['jitter buffer', s.jitterBufferMs !== undefined ? `video ${ms(s.jitterBufferMs)}${s.audioJitterBufferMs !== undefined ? `, audio ${ms(s.audioJitterBufferMs)}` : ''}` : undefined],
        ['round trip', ms(s.rttMs)],
        ['decode', s.decodeMs !== undefined ? `${s.decodeMs.toFixed(1)} ms` : undefined],
        ['buffer ahead', ms(s.bufferMs)],
        ['playback rate', s.playbackRate !== undefined && s.playbackRate !== 1 ? `${s.playbackRate.toFixed(2)}×` : undefined],
        ['resolution', s.resolution],
        ['frame rate', s.fps !== undefined ? `${s.fps} fps` : undefined],
        ['video', s.codec],
        ['audio', s.audioCodec],
        ['bitrate', s.kbps !== undefined ? `${Math.round(s.kbps)} kbit/s` : undefined],
        ['bandwidth estimate', s.bandwidthKbps !== undefined ? `${Math.round(s.bandwidthKbps)} kbit/s` : undefined],
        ['ICE path', s.path],
        ['packets lost', s.packetsLost],
        ['frames dropped', s.framesDropped],
        ['freezes', s.freezes],
        ['NACK / PLI sent', s.nacks !== undefined ? `${s.nacks} / ${s.plis}` : undefined],
        ['reconnects', this.reconnects],
        ['switches back', this.switches],
      ].filter(([, v]) => v !== undefined && v !== '');
      const dl = $('stats-list');
      dl.replaceChildren(...rows.flatMap(([k, v]) => {
        const dt = document.createElement('dt');
        dt.textContent = k;
        const dd = document.createElement('dd');
        dd.textContent = String(v);
        return [dt, dd];
      }));
      const ol = $('stats-events');
      ol.replaceChildren(...this.events.slice(-8).reverse().map((e) => {
        const li = document.createElement('li');
        const { t: at, event, ...rest } = e;
        li.textContent = `${(at / 1000).toFixed(1)} s ${event} ${Object.values(rest).join(' ')}`;
        return li;
      }));
    }

    teardown() {
      this.newFlow();
      this.retire(this.tier);
      this.tier = null;
    }
  }

  // ---- Controls -------------------------------------------------------

  function toggleFullscreen() {
    const video = stage.querySelector('video.active');
    if (document.fullscreenElement || document.webkitFullscreenElement) {
      (document.exitFullscreen || document.webkitExitFullscreen).call(document);
    } else if (root.requestFullscreen) {
      root.requestFullscreen().catch(() => {});
    } else if (root.webkitRequestFullscreen) {
      root.webkitRequestFullscreen();
    } else if (video && video.webkitEnterFullscreen) {
      video.webkitEnterFullscreen(); // iPhone: the video alone
    }
  }

  function wire(player) {
    $('mute').addEventListener('click', () => player.setMuted(!player.muted));
    $('unmute').addEventListener('click', () => player.setMuted(false));
    $('interactive').addEventListener('click', () => player.setInteractive(!player.interactive));
    $('fullscreen').addEventListener('click', toggleFullscreen);
    $('stats-toggle').addEventListener('click', () => {
      const panel = $('stats');
      panel.hidden = !panel.hidden;
      $('stats-toggle').setAttribute('aria-expanded', String(!panel.hidden));
      player.render();
    });
    document.addEventListener('keydown', (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      const key = { m: 'mute', f: 'fullscreen', s: 'stats-toggle', i: 'interactive' }[ev.key];
      if (key && !$(key).hidden) $(key).click();
    });
    // A hidden tab presents no frames: do not call that a stall.
    document.addEventListener('visibilitychange', () => {
      if (!document.hidden) player.visibleSince = performance.now();
    });
    window.addEventListener('pagehide', () => player.teardown());
    setInterval(() => player.tick(), TICK_MS);
  }

  async function main() {
    let cfg;
    const fallback = new Player({ sources: [] });
    fallback.setState('connecting', 'loading…');
    for (let n = 0; ; n++) {
      try {
        cfg = await loadConfig();
        break;
      } catch (err) {
        if (err.kind === 'refused') {
          fallback.setState('refused', err.message);
          return;
        }
        const wait = backoff(OFFLINE, n);
        fallback.countdown = { until: performance.now() + wait, text: (ms) => `${err.message}, retrying in ${seconds(ms)}` };
        fallback.setState('error', '');
        const timer = setInterval(() => fallback.render(), TICK_MS);
        await sleepMs(wait);
        clearInterval(timer);
        fallback.countdown = null;
      }
    }
    if (cfg.name) document.title = `${cfg.name} · frontrow`;
    // ?tier=webrtc or ?tier=hls keeps that one source (the side-by-side
    // page shows each tier in its own player): no fallback to the other.
    const tier = pageParams.get('tier');
    cfg.sources = (cfg.sources || []).filter((s) => LABELS[s.type] && (!tier || s.type === tier));
    const player = new Player(cfg);
    player.gatewayClock.run(); // for the whole page: it never settles
    // hls is the hls.js instance on screen or connecting (null without
    // one), for tests that read its latency figures directly.
    window.frontrowPlayer = {
      state: () => player.snapshot(),
      hls: () => {
        for (const t of [player.tier, ...player.inflight]) if (t && t.hls) return t.hls;
        return null;
      },
    };
    wire(player);
    if (cfg.sources.length === 0) {
      player.setState('refused', tier ? `This distribution has no ${LABELS[tier] || tier} source.` : 'This distribution has no source to play.');
      return;
    }
    player.connect(0, []);
  }

  window.frontrowPlayer = { state: () => ({ state: root.dataset.state, tier: '', message: $('message').textContent, events: [] }) };
  main();
})();
