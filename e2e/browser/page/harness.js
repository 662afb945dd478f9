// Test harness that driver.mjs installs in every page before the page's own
// scripts: window.frontrowTest holds what the Go tests call (a WHIP
// publisher, a WHEP first-frame probe, playback and getStats checks). Every
// wait is on an event or a polled condition with a deadline (timeoutMs), so
// a failing check throws a message saying what never happened.
'use strict';
(() => {
  const POLL_MS = 50; // how often conditions without an event are checked

  // ---- What the harness sees for itself ---------------------------------
  // The tests time the bundled player by this record, not by the player's
  // own log: every time is the page's performance.now() (ms from its
  // navigation), -1 for never.
  //   pcs:          each RTCPeerConnection: made, connected, closed and by
  //                 whom ('page', or 'test' for dropWebRTC)
  //   posts:        each SDP POST (WHEP, WHIP): sent, answered or failed
  //   mediaSources: each MediaSource (hls.js's): made, bytes appended
  //   videos:       each <video>: frames presented (requestVideoFrameCallback),
  //                 when it was on top at the page's centre (the browser's
  //                 hit testing, every animation frame), its first frame
  //                 there and what fed it then (source, see sourceOf;
  //                 pc, the index in pcs of the connection it came from)
  //   states:       the player's state as the page shows it
  //                 (#player[data-state]), on each change
  const seen = { pcs: [], posts: [], mediaSources: [], videos: [], states: [] };
  const now = () => performance.now();
  let testClosing = false; // dropWebRTC, not the page, is closing connections

  // Capture every RTCPeerConnection the page makes, so the tests can read
  // getStats() of the bundled player's WHEP connection without a hook in it.
  const pcs = [];
  const pcRecs = new WeakMap();
  const Native = window.RTCPeerConnection;
  if (Native) {
    window.RTCPeerConnection = class extends Native {
      constructor(...args) {
        super(...args);
        pcs.push(this);
        const rec = { created: now(), connected: -1, closed: -1, closedBy: '' };
        seen.pcs.push(rec);
        pcRecs.set(this, rec);
        this.addEventListener('connectionstatechange', () => {
          if (this.connectionState === 'connected' && rec.connected < 0) rec.connected = now();
        });
      }

      close() {
        const rec = pcRecs.get(this);
        if (rec && rec.closed < 0) {
          rec.closed = now();
          rec.closedBy = testClosing ? 'test' : 'page';
        }
        return super.close();
      }
    };
  }

  // SDP POSTs (offers to WHEP and WHIP endpoints), from fetch.
  const nativeFetch = window.fetch;
  window.fetch = function fetch(input, init) {
    const p = nativeFetch.apply(window, arguments);
    let sdp = false;
    try {
      const req = input instanceof Request ? input : null;
      const method = String((init && init.method) || (req ? req.method : 'GET')).toUpperCase();
      const type = new Headers((init && init.headers) || (req ? req.headers : undefined)).get('Content-Type') || '';
      sdp = method === 'POST' && type.startsWith('application/sdp');
    } catch {
      // headers fetch itself rejects: not an offer that went out
    }
    if (sdp) {
      const rec = { url: String(input instanceof Request ? input.url : input), sent: now(), done: -1, status: 0, error: '' };
      seen.posts.push(rec);
      p.then((res) => {
        rec.done = now();
        rec.status = res.status;
      }, (err) => {
        rec.done = now();
        rec.error = String((err && err.message) || err);
      });
    }
    return p;
  };

  // Capture every SourceBuffer the page makes (hls.js makes one for video,
  // one for audio), so a stall can be told apart: which one ran dry; and
  // count what is appended to each MediaSource, and which object URL (a
  // video's src) stands for which.
  const sourceBuffers = [];
  const msRecs = new WeakMap(); // MediaSource -> its record in seen
  const sbRecs = new WeakMap(); // SourceBuffer -> its MediaSource's record
  const urlRecs = new Map(); // object URL -> a MediaSource's record
  const msRecOf = (ms) => {
    let rec = msRecs.get(ms);
    if (!rec) {
      rec = { created: now(), firstAppend: -1, appends: 0, bytes: 0 };
      msRecs.set(ms, rec);
      seen.mediaSources.push(rec);
    }
    return rec;
  };
  if (window.MediaSource) {
    const addSourceBuffer = MediaSource.prototype.addSourceBuffer;
    MediaSource.prototype.addSourceBuffer = function add(mime) {
      const sb = addSourceBuffer.call(this, mime);
      sourceBuffers.push({ mime, sb });
      sbRecs.set(sb, msRecOf(this));
      return sb;
    };
    const appendBuffer = SourceBuffer.prototype.appendBuffer;
    SourceBuffer.prototype.appendBuffer = function append(data) {
      const rec = sbRecs.get(this);
      if (rec) {
        if (rec.firstAppend < 0) rec.firstAppend = now();
        rec.appends++;
        rec.bytes += data.byteLength || 0;
      }
      return appendBuffer.call(this, data);
    };
    const createObjectURL = URL.createObjectURL;
    URL.createObjectURL = function objectURL(obj) {
      const url = createObjectURL.call(URL, obj);
      if (obj instanceof MediaSource) urlRecs.set(url, msRecOf(obj));
      return url;
    };
  }

  // sourceOf says what feeds a <video>: 'webrtc' (a MediaStream of tracks
  // that one of the page's peer connections receives), 'mse' (a MediaSource
  // with media appended: hls.js), 'mse-empty', 'mediastream' (another
  // stream, a camera), 'url' or ''.
  function sourceOf(v) {
    const so = v.srcObject;
    if (so instanceof MediaStream) return receiverOf(v) >= 0 ? 'webrtc' : 'mediastream';
    const ms = window.MediaSource && so instanceof MediaSource ? msRecs.get(so) : urlRecs.get(v.src);
    if (ms) return ms.bytes > 0 ? 'mse' : 'mse-empty';
    return v.currentSrc ? 'url' : '';
  }

  // receiverOf is the index (in pcs and seen.pcs) of the peer connection
  // whose received video track a <video> plays, or -1.
  function receiverOf(v) {
    const tracks = v.srcObject instanceof MediaStream ? v.srcObject.getVideoTracks() : [];
    return pcs.findIndex((pc) => pc.getReceivers().some((r) => tracks.includes(r.track)));
  }

  const videoRecs = new WeakMap(); // <video> -> its record in seen
  let onTop = null; // the <video> on top at the page's centre, as of the last animation frame

  function watchVideo(v) {
    const rec = {
      id: seen.videos.length + 1, added: now(), source: '', pc: -1, frames: 0, firstFrame: -1, lastFrame: -1,
      topSince: -1, topUntil: -1, framesOnTop: 0, firstFrameOnTop: -1, mediaTimeOnTop: -1, lastMediaTime: -1,
    };
    videoRecs.set(v, rec);
    seen.videos.push(rec);
    const onFrame = (t, meta) => {
      rec.frames++;
      if (rec.firstFrame < 0) rec.firstFrame = t;
      rec.lastFrame = t;
      rec.lastMediaTime = meta.mediaTime;
      if (v === onTop) {
        rec.framesOnTop++;
        if (rec.firstFrameOnTop < 0) {
          rec.firstFrameOnTop = t;
          rec.mediaTimeOnTop = meta.mediaTime;
          rec.source = sourceOf(v);
          rec.pc = receiverOf(v);
        }
      }
      v.requestVideoFrameCallback(onFrame);
    };
    v.requestVideoFrameCallback(onFrame);
  }

  // Every animation frame: new <video>s, the one on top, the page's state.
  function scan() {
    const t = now();
    for (const v of document.getElementsByTagName('video')) if (!videoRecs.has(v)) watchVideo(v);
    const top = document.elementsFromPoint(innerWidth / 2, innerHeight / 2).find((e) => e instanceof HTMLVideoElement) || null;
    if (top !== onTop) {
      if (onTop && videoRecs.has(onTop)) videoRecs.get(onTop).topUntil = t;
      onTop = top;
      if (top) {
        const rec = videoRecs.get(top);
        rec.topSince = t;
        rec.topUntil = -1;
      }
    }
    const el = document.getElementById('player');
    const state = el ? el.dataset.state || '' : '';
    const last = seen.states[seen.states.length - 1];
    if (state && (!last || last.state !== state)) seen.states.push({ t, state });
    requestAnimationFrame(scan);
  }
  requestAnimationFrame(scan);
  const seenNow = () => JSON.parse(JSON.stringify(seen));

  const rangesOf = (tr) => Array.from({ length: tr.length }, (_, i) => [tr.start(i), tr.end(i)]);
  const sourceBuffered = () => sourceBuffers.map(({ mime, sb }) => {
    try {
      return { mime, buffered: rangesOf(sb.buffered) };
    } catch {
      return { mime, buffered: null }; // removed from its MediaSource
    }
  });

  // until resolves with pred's first truthy value; it throws after timeoutMs
  // with what it was waiting for and, if given, the last state seen.
  async function until(what, timeoutMs, pred, describe) {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const v = await pred();
      if (v) return v;
      if (performance.now() > deadline) {
        const last = describe ? `; last: ${JSON.stringify(await describe())}` : '';
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}`);
      }
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  // onceState resolves when pc's stateProp reaches want (an event, bounded).
  function onceState(pc, stateProp, event, want, timeoutMs) {
    return new Promise((resolve, reject) => {
      if (pc[stateProp] === want) return resolve(performance.now());
      const timer = setTimeout(() => {
        pc.removeEventListener(event, check);
        reject(new Error(`${stateProp} is ${pc[stateProp]} after ${timeoutMs} ms, want ${want}`));
      }, timeoutMs);
      function check() {
        if (pc[stateProp] === want) {
          clearTimeout(timer);
          pc.removeEventListener(event, check);
          resolve(performance.now());
        } else if (pc[stateProp] === 'failed' || pc[stateProp] === 'closed') {
          clearTimeout(timer);
          pc.removeEventListener(event, check);
          reject(new Error(`${stateProp} went ${pc[stateProp]} waiting for ${want}`));
        }
      }
      pc.addEventListener(event, check);
    });
  }

  const gathered = (pc, ms) => onceState(pc, 'iceGatheringState', 'icegatheringstatechange', 'complete', ms);
  const connected = (pc, ms) => onceState(pc, 'connectionState', 'connectionstatechange', 'connected', ms);

  // Each stats report as a plain list, with the codec of each RTP entry.
  async function rtpStats(pc, type) {
    const report = await pc.getStats();
    const out = [];
    report.forEach((s) => {
      if (s.type !== type) return;
      const codec = s.codecId ? report.get(s.codecId) : undefined;
      out.push({ ...s, mimeType: codec ? codec.mimeType : '' });
    });
    return out;
  }

  let publisher = null; // { pc, location, headers }

  const frontrowTest = {
    // publish sends the fake camera and microphone to a WHIP endpoint
    // (RFC 9725 section 4.2) as a browser application would: the browser's
    // default offer (its codec order, no munging), all candidates, then the
    // answer; resolves once the connection is up.
    async publish({ url, token, width = 640, height = 360, timeoutMs = 10000 }) {
      const media = await navigator.mediaDevices.getUserMedia({
        video: { width, height, frameRate: 30 },
        audio: true,
      });
      const pc = new RTCPeerConnection();
      for (const track of media.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc, timeoutMs);
      const headers = { Authorization: `Bearer ${token}` };
      const res = await fetch(url, {
        method: 'POST',
        headers: { ...headers, 'Content-Type': 'application/sdp' },
        body: pc.localDescription.sdp,
      });
      const answer = await res.text();
      if (res.status !== 201) throw new Error(`WHIP POST ${res.status}: ${answer}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      await connected(pc, timeoutMs);
      const location = new URL(res.headers.get('Location'), res.url).href;
      publisher = { pc, media, location, headers };
      return { location };
    },

    // publisherStats is the WHIP connection's outbound-rtp per kind.
    async publisherStats() {
      if (!publisher) throw new Error('not publishing');
      const out = {};
      for (const s of await rtpStats(publisher.pc, 'outbound-rtp')) {
        out[s.kind] = {
          mimeType: s.mimeType,
          packetsSent: s.packetsSent,
          framesEncoded: s.framesEncoded,
          keyFramesEncoded: s.keyFramesEncoded,
          pliCount: s.pliCount,
          frameWidth: s.frameWidth,
          frameHeight: s.frameHeight,
          encoderImplementation: s.encoderImplementation,
        };
      }
      return out;
    },

    // unpublish DELETEs the WHIP session and stops the capture.
    async unpublish() {
      if (!publisher) return 0;
      const { pc, media, location, headers } = publisher;
      publisher = null;
      const res = await fetch(location, { method: 'DELETE', headers });
      pc.close();
      media.getTracks().forEach((t) => t.stop());
      return res.status;
    },

    // videoFrames counts the frames a <video> presents
    // (requestVideoFrameCallback) from the first call on, and resolves once
    // more than min were presented.
    async videoFrames({ selector, min, timeoutMs = 10000 }) {
      const video = document.querySelector(selector);
      if (!video) throw new Error(`no element ${selector}`);
      if (video.frontrowFrames === undefined) {
        video.frontrowFrames = 0;
        const count = () => {
          video.frontrowFrames++;
          video.requestVideoFrameCallback(count);
        };
        video.requestVideoFrameCallback(count);
      }
      const state = () => ({
        frames: video.frontrowFrames,
        totalVideoFrames: video.getVideoPlaybackQuality().totalVideoFrames,
        width: video.videoWidth,
        height: video.videoHeight,
        currentTime: video.currentTime,
        paused: video.paused,
        readyState: video.readyState,
      });
      await until(`more than ${min} frames presented in ${selector}`, timeoutMs, () => video.frontrowFrames > min, state);
      return state();
    },

    // receiverStats waits until a connected peer connection the page made has
    // decoded video and received audio with energy (not silence), and
    // returns its inbound-rtp per kind.
    async receiverStats({ timeoutMs = 10000 }) {
      let last = null;
      const read = async () => {
        for (const pc of pcs) {
          if (pc.connectionState !== 'connected') continue;
          const out = {};
          for (const s of await rtpStats(pc, 'inbound-rtp')) {
            out[s.kind] = {
              mimeType: s.mimeType,
              packetsReceived: s.packetsReceived,
              packetsLost: s.packetsLost,
              framesDecoded: s.framesDecoded,
              keyFramesDecoded: s.keyFramesDecoded,
              totalAudioEnergy: s.totalAudioEnergy,
              totalSamplesReceived: s.totalSamplesReceived,
              concealedSamples: s.concealedSamples,
            };
          }
          if (out.video || out.audio) last = out;
          if (out.video?.framesDecoded > 0 && out.audio?.totalAudioEnergy > 0) return out;
        }
        return null;
      };
      return until('decoded video and audio energy on a connected peer connection', timeoutMs, read,
        () => last ?? { peerConnections: pcs.map((pc) => pc.connectionState) });
    },

    // whepFirstFrame plays url over WHEP (RFC 9725 section 4.3) in a fresh
    // peer connection and video element and times the offer's ICE gathering
    // (before the POST, as the bundled page does it) and, from the POST, the
    // answer, ICE+DTLS connected and the first presented video frame. It
    // then DELETEs the session and tears everything down.
    async whepFirstFrame({ url, timeoutMs = 10000 }) {
      const pc = new RTCPeerConnection();
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      video.playsInline = true;
      document.body.append(video);
      let location = null;
      try {
        pc.addTransceiver('video', { direction: 'recvonly' });
        pc.addTransceiver('audio', { direction: 'recvonly' });
        const media = new MediaStream();
        pc.ontrack = (ev) => {
          media.addTrack(ev.track);
          if (video.srcObject !== media) video.srcObject = media;
        };
        const firstFrame = new Promise((resolve, reject) => {
          video.requestVideoFrameCallback(() => resolve(performance.now()));
          setTimeout(() => reject(new Error(`no video frame within ${timeoutMs} ms of the offer`)), timeoutMs);
        });
        const started = performance.now();
        await pc.setLocalDescription(await pc.createOffer());
        await gathered(pc, timeoutMs);
        const posted = performance.now();
        const isConnected = connected(pc, timeoutMs);
        // Both are awaited below; these keep an early failure from also
        // leaving an unhandled rejection behind.
        isConnected.catch(() => {});
        firstFrame.catch(() => {});
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/sdp' },
          body: pc.localDescription.sdp,
        });
        const answer = await res.text();
        if (res.status !== 201) throw new Error(`WHEP POST ${res.status}: ${answer}`);
        location = new URL(res.headers.get('Location'), res.url).href;
        const answered = performance.now();
        await pc.setRemoteDescription({ type: 'answer', sdp: answer });
        const [connectedAt, frameAt] = await Promise.all([isConnected, firstFrame]);
        return {
          gatherMs: posted - started,
          answerMs: answered - posted,
          connectedMs: connectedAt - posted,
          firstFrameMs: frameAt - posted,
        };
      } finally {
        if (location) await fetch(location, { method: 'DELETE' }).catch(() => {});
        pc.close();
        video.srcObject = null;
        video.remove();
      }
    },

    // The bundled player (player/static/play.js) publishes its state as
    // window.frontrowPlayer.state(): {state, tier, message, notice, frames,
    // latencyMs, events: [{t, event, ...}], ...}.
    async playerState() {
      return window.frontrowPlayer ? window.frontrowPlayer.state() : null;
    },

    // playerWaits resolves with the player's state once every field of want
    // matches it (strings in messageIncludes/noticeIncludes as substrings;
    // has names a field that must be set).
    async playerWaits({ want, timeoutMs = 10000 }) {
      const state = () => (window.frontrowPlayer ? window.frontrowPlayer.state() : null);
      const matches = (s) => s && Object.entries(want).every(([k, v]) => {
        if (k === 'messageIncludes') return s.message.includes(v);
        if (k === 'noticeIncludes') return s.notice.includes(v);
        if (k === 'has') return s[v] !== undefined && s[v] !== null;
        return s[k] === v;
      });
      return until(`player state ${JSON.stringify(want)}`, timeoutMs, () => (matches(state()) ? state() : null), state);
    },

    // playerPlays waits until the player says it plays tier, then counts the
    // frames the video on top (#stage video.active) presents, on its own
    // (requestVideoFrameCallback), until more than frames; a swap of the
    // element starts the count again. It returns the player's state and
    // when (performance.now(), from the page's navigation) it got there.
    async playerPlays({ tier, frames = 10, timeoutMs = 10000 }) {
      const deadline = performance.now() + timeoutMs;
      const state = () => (window.frontrowPlayer ? window.frontrowPlayer.state() : null);
      await until(`the player playing ${tier}`, timeoutMs, () => {
        const s = state();
        return s && s.state === 'playing' && s.tier === tier;
      }, state);
      let video = null;
      let count = 0;
      const counted = new WeakSet();
      await until(`more than ${frames} frames presented by the active video`, Math.max(0, deadline - performance.now()), () => {
        const v = document.querySelector('#stage video.active');
        if (v !== video) {
          video = v;
          count = 0;
          if (v && !counted.has(v)) {
            counted.add(v);
            const onFrame = () => {
              if (video === v) count++;
              v.requestVideoFrameCallback(onFrame);
            };
            v.requestVideoFrameCallback(onFrame);
          }
        }
        return count > frames;
      }, () => ({ count, player: state() }));
      return { at: performance.now(), frames: count, width: video.videoWidth, height: video.videoHeight, player: state() };
    },

    // visible reports, per selector, whether the element is shown, inside
    // the viewport, and on top at its centre (a click there reaches it).
    async visible({ selectors }) {
      const out = {};
      for (const sel of selectors) {
        const el = document.querySelector(sel);
        if (!el) {
          out[sel] = { exists: false };
          continue;
        }
        const r = el.getBoundingClientRect();
        const css = getComputedStyle(el);
        const shown = r.width > 0 && r.height > 0 && css.visibility !== 'hidden' && css.display !== 'none' && Number(css.opacity) > 0;
        const inside = r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight;
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        out[sel] = { exists: true, shown, inside, onTop: !!hit && (el === hit || el.contains(hit)),
          rect: { x: Math.round(r.left), y: Math.round(r.top), w: Math.round(r.width), h: Math.round(r.height) },
          text: el.textContent.trim().slice(0, 400) };
      }
      return out;
    },

    // blankWatch counts, from {start: true} on, the animation frames in
    // which the bundled player says it plays but the video on top has no
    // picture (none is .active, or it has no frame yet): what a viewer
    // would see as black during a switch. Any call returns the counts.
    async blankWatch({ start }) {
      const w = (window.frontrowBlank ??= { frames: 0, blank: 0, running: false });
      if (start && !w.running) {
        w.running = true;
        const check = () => {
          const s = window.frontrowPlayer && window.frontrowPlayer.state();
          if (s && s.state === 'playing') {
            w.frames++;
            const v = document.querySelector('#stage video.active');
            if (!v || v.readyState < HTMLMediaElement.HAVE_CURRENT_DATA || !v.videoWidth) w.blank++;
          }
          requestAnimationFrame(check);
        };
        requestAnimationFrame(check);
      }
      return { frames: w.frames, blank: w.blank };
    },

    // inFrame calls fn of the harness in the same-origin <iframe> selector
    // (the side-by-side page holds two players), once its page has loaded.
    async inFrame({ selector, fn, arg, timeoutMs = 10000 }) {
      const harness = await until(`the page in ${selector}`, timeoutMs, () => {
        const frame = document.querySelector(selector);
        const w = frame && frame.contentWindow;
        return w && w.frontrowTest && w.frontrowPlayer && w.document.readyState === 'complete' ? w.frontrowTest : null;
      });
      return harness[fn](arg || {});
    },

    // dropWebRTC closes every connected peer connection the page made, as
    // a network cut would look to it: media stops, no event says why. It
    // returns how many it closed and when (performance.now()).
    async dropWebRTC() {
      let closed = 0;
      testClosing = true;
      try {
        for (const pc of pcs) {
          if (pc.connectionState !== 'connected') continue;
          pc.close();
          closed++;
        }
      } finally {
        testClosing = false;
      }
      return { closed, at: now() };
    },

    // screenWaits resolves once the <video> on top of the page (the
    // harness's hit testing, not the player's word) is fed by source
    // ('webrtc' or 'mse', see sourceOf) and has presented more than frames
    // frames while on top, its media time advancing, the first of them at
    // or after afterMs (page clock). It returns that video's record, all
    // the harness saw (seen, above), when, and the player's state.
    async screenWaits({ source, frames = 10, afterMs = 0, timeoutMs = 10000 }) {
      const ready = () => {
        const r = onTop && videoRecs.get(onTop);
        return r && r.source === source && r.framesOnTop > frames && r.firstFrameOnTop >= afterMs
          && r.lastMediaTime > r.mediaTimeOnTop ? r : null;
      };
      const video = await until(`a video on top fed by ${source} presenting more than ${frames} frames from ${Math.round(afterMs)} ms on`,
        timeoutMs, ready, () => ({ onTop: onTop && videoRecs.get(onTop), seen }));
      return {
        at: now(), video: { ...video }, width: onTop.videoWidth, height: onTop.videoHeight, seen: seenNow(),
        player: window.frontrowPlayer ? window.frontrowPlayer.state() : null,
      };
    },

    // playoutLatency reads, from getStats of the page's connected peer
    // connection, how long ago the video it plays out was captured: the
    // stats' timestamp (this machine's clock) against their
    // estimatedPlayoutTimestamp (the capture time on the sender's NTP
    // clock, from its RTCP sender reports), samples times everyMs apart.
    // Only meaningful when the sender's clock is this machine's (a gateway
    // on loopback).
    async playoutLatency({ samples = 5, everyMs = 200, timeoutMs = 5000 }) {
      const NTP_UNIX_OFFSET_MS = 2208988800000;
      const read = async () => {
        for (const pc of pcs) {
          if (pc.connectionState !== 'connected') continue;
          for (const s of await rtpStats(pc, 'inbound-rtp')) {
            if (s.kind === 'video' && s.estimatedPlayoutTimestamp && s.timestamp) {
              return { ms: s.timestamp + NTP_UNIX_OFFSET_MS - s.estimatedPlayoutTimestamp };
            }
          }
        }
        return null;
      };
      const out = [];
      for (let i = 0; i < samples; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, everyMs));
        out.push((await until('estimatedPlayoutTimestamp on a connected peer connection', timeoutMs, read)).ms);
      }
      return out;
    },

    // fill types value into an input as a user would (input and change
    // events fire).
    async fill({ selector, value }) {
      const el = document.querySelector(selector);
      if (!el) throw new Error(`no element ${selector}`);
      el.focus();
      el.value = value;
      el.dispatchEvent(new Event('input', { bubbles: true }));
      el.dispatchEvent(new Event('change', { bubbles: true }));
      return true;
    },

    // publisherWaits resolves with the publish page's state
    // (window.frontrowPublisher.state(), player/static/publish.js) once
    // every field of want matches it (messageIncludes as a substring).
    async publisherWaits({ want, timeoutMs = 10000 }) {
      const state = () => (window.frontrowPublisher ? window.frontrowPublisher.state() : null);
      const matches = (s) => s && Object.entries(want).every(([k, v]) => (
        k === 'messageIncludes' ? s.message.includes(v) : s[k] === v));
      return until(`publish page state ${JSON.stringify(want)}`, timeoutMs, () => (matches(state()) ? state() : null), state);
    },

    // hlsLatency samples, every sampleMs for durationMs, the LL-HLS
    // latency of the bundled player's hls.js two ways: hls.latency (live
    // edge minus playhead) and Date.now() - hls.playingDate (the
    // PROGRAM-DATE-TIME of the frame on screen, stamped from the gateway's
    // ingest clock). Meanwhile it counts the video's waiting events (with
    // what each SourceBuffer held then) and the longest gap between presented
    // frames (requestVideoFrameCallback). The video element must stay the
    // same for the whole run.
    async hlsLatency({ durationMs, sampleMs = 250 }) {
      const hls = window.frontrowPlayer && window.frontrowPlayer.hls && window.frontrowPlayer.hls();
      const video = document.querySelector('#stage video.active');
      if (!hls || !video) throw new Error('the player is not playing LL-HLS');
      const out = { hlsLatencyMs: [], pdtLatencyMs: [], waiting: 0, frames: 0, maxFrameGapMs: 0,
        targetLatencyMs: 0, playbackRates: [], stalls: [], swapped: false };
      const onWaiting = () => {
        out.waiting++;
        out.stalls.push({ t: performance.now(), currentTime: video.currentTime, sourceBuffers: sourceBuffered() });
      };
      video.addEventListener('waiting', onWaiting);
      let last = 0;
      let running = true;
      const onFrame = (now) => {
        if (!running) return;
        if (last) out.maxFrameGapMs = Math.max(out.maxFrameGapMs, now - last);
        last = now;
        out.frames++;
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
      const end = performance.now() + durationMs;
      try {
        while (performance.now() < end) {
          await new Promise((r) => setTimeout(r, sampleMs));
          if (document.querySelector('#stage video.active') !== video) out.swapped = true;
          if (Number.isFinite(hls.latency)) out.hlsLatencyMs.push(hls.latency * 1000);
          if (hls.playingDate) out.pdtLatencyMs.push(Date.now() - hls.playingDate.getTime());
          out.playbackRates.push(video.playbackRate);
        }
      } finally {
        running = false;
        video.removeEventListener('waiting', onWaiting);
      }
      if (last) out.maxFrameGapMs = Math.max(out.maxFrameGapMs, performance.now() - last);
      out.targetLatencyMs = Number.isFinite(hls.targetLatency) ? hls.targetLatency * 1000 : 0;
      return out;
    },

    // publisherRamp samples a publishing connection's bandwidth estimate
    // (the candidate pair's availableOutgoingBitrate) and the width it
    // encodes at each of atMs after the call: how fast the browser's
    // congestion control lets it reach full quality. The connection is the
    // page's first one that sends video (the publish page's or publish's).
    async publisherRamp({ atMs }) {
      const start = performance.now();
      const sender = async () => {
        for (const pc of pcs) {
          if (pc.connectionState !== 'connected') continue;
          if ((await rtpStats(pc, 'outbound-rtp')).some((s) => s.kind === 'video')) return pc;
        }
        return null;
      };
      const pc = await until('a connected peer connection sending video', 5000, sender);
      const out = [];
      for (const at of atMs) {
        const wait = start + at - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        const report = await pc.getStats();
        const sample = {
          atMs: Math.round(performance.now() - start), bitrate: 0, frameWidth: 0, bytesSent: 0, limitation: '',
        };
        report.forEach((s) => {
          if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
            sample.bitrate = s.availableOutgoingBitrate || 0;
          }
          if (s.type === 'outbound-rtp' && s.kind === 'video') {
            sample.frameWidth = Math.max(sample.frameWidth, s.frameWidth || 0);
            sample.bytesSent += s.bytesSent || 0;
            sample.limitation = s.qualityLimitationReason || sample.limitation;
          }
        });
        out.push(sample);
      }
      return out;
    },

    // click clicks an element as a viewer would (it must exist).
    async click({ selector }) {
      const el = document.querySelector(selector);
      if (!el) throw new Error(`no element ${selector}`);
      el.click();
      return true;
    },
  };
  Object.defineProperty(window, 'frontrowTest', { value: frontrowTest });
})();

// WHEP playback in a plain RTCPeerConnection with an ICE restart over PATCH
// (RFC 9725 section 4.4; e2e/icerestart_browser_test.go): whepPlay starts
// it, whepRestart restarts ICE as a page whose network changed would,
// whepFrames reads the presented frames (requestVideoFrameCallback) and the
// longest gap between them, whepStop ends the session.
(() => {
  const POLL_MS = 25;
  const MAX_FRAME_TIMES = 20000; // about 11 minutes at 30 fps
  const t = window.frontrowTest;
  let whep = null; // { pc, video, location, etag, answer, posts, frameTimes, iceStates }

  async function poll(what, timeoutMs, pred) {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const v = await pred();
      if (v) return v;
      if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  const sdpValue = (sdp, key) => {
    const m = new RegExp(`^a=${key}:(\\S+)\\r?$`, 'm').exec(sdp);
    return m ? m[1] : null;
  };

  // selectedPair is the transport's selected candidate pair with both
  // candidates' ufrag (getStats), or null before there is one.
  async function selectedPair(pc) {
    const report = await pc.getStats();
    let pair = null;
    report.forEach((s) => {
      if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId);
    });
    if (!pair) return null;
    const local = report.get(pair.localCandidateId) || {};
    const remote = report.get(pair.remoteCandidateId) || {};
    return {
      id: pair.id,
      state: pair.state,
      localUfrag: local.usernameFragment ?? null,
      remoteUfrag: remote.usernameFragment ?? null,
      protocol: local.protocol ?? null,
      local: `${local.address}:${local.port}`,
      remote: `${remote.address}:${remote.port}`,
      bytesReceived: pair.bytesReceived,
    };
  }

  Object.assign(t, {
    // whepPlay POSTs a recvonly video and audio offer to url and plays the
    // answer in a <video>; it resolves once the first frame is presented.
    async whepPlay({ url, timeoutMs = 10000 }) {
      if (whep) throw new Error('already playing');
      const pc = new RTCPeerConnection();
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      video.playsInline = true;
      document.body.append(video);
      const s = { pc, video, location: null, etag: null, answer: null, posts: 0, frameTimes: [], iceStates: [] };
      whep = s;
      const started = performance.now();
      pc.addEventListener('iceconnectionstatechange', () => {
        s.iceStates.push({ t: performance.now(), state: pc.iceConnectionState });
      });
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const media = new MediaStream();
      pc.ontrack = (ev) => {
        media.addTrack(ev.track);
        if (video.srcObject !== media) video.srcObject = media;
      };
      const onFrame = (now) => {
        s.frameTimes.push(now);
        if (s.frameTimes.length > MAX_FRAME_TIMES) s.frameTimes.shift();
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
      await pc.setLocalDescription(await pc.createOffer());
      await poll('ICE gathering complete', timeoutMs, () => pc.iceGatheringState === 'complete');
      s.posts++;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp' },
        body: pc.localDescription.sdp,
      });
      const answer = await res.text();
      if (res.status !== 201) throw new Error(`WHEP POST ${res.status}: ${answer}`);
      s.location = new URL(res.headers.get('Location'), res.url).href;
      s.etag = res.headers.get('ETag');
      s.answer = answer;
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      await poll('the first presented frame', timeoutMs, () => s.frameTimes.length > 0);
      return {
        location: s.location,
        etag: s.etag,
        firstFrameMs: s.frameTimes[0] - started,
        localUfrag: sdpValue(pc.localDescription.sdp, 'ice-ufrag'),
        remoteUfrag: sdpValue(answer, 'ice-ufrag'),
        pair: await selectedPair(pc),
      };
    },

    // whepRestart restarts ICE: pc.restartIce(), a new offer, a PATCH of
    // its new ufrag and pwd (application/trickle-ice-sdpfrag, If-Match: the
    // session's ETag), and the gateway's new ufrag and pwd applied to the
    // answer the page has as the new remote description. It resolves, with
    // the timings (ms) and both selected candidate pairs, once the
    // transport's selected pair uses the new local ufrag and ICE is
    // connected again, or after timeoutMs with what it saw.
    async whepRestart({ timeoutMs = 5000 }) {
      const s = whep;
      if (!s) throw new Error('not playing');
      const { pc } = s;
      const before = await selectedPair(pc);
      const restartAt = performance.now();
      pc.restartIce();
      await pc.setLocalDescription(await pc.createOffer());
      const ufrag = sdpValue(pc.localDescription.sdp, 'ice-ufrag');
      const pwd = sdpValue(pc.localDescription.sdp, 'ice-pwd');
      const mid = sdpValue(pc.localDescription.sdp, 'mid');
      const frag = `a=ice-ufrag:${ufrag}\r\na=ice-pwd:${pwd}\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:${mid}\r\n`;
      const res = await fetch(s.location, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': s.etag },
        body: frag,
      });
      const body = await res.text();
      const patchedAt = performance.now();
      const out = {
        status: res.status,
        oldEtag: s.etag,
        etag: res.headers.get('ETag'),
        localUfrag: ufrag,
        oldLocalUfrag: before ? before.localUfrag : null,
        serverUfrag: sdpValue(body, 'ice-ufrag'),
        restartAt,
        patchMs: patchedAt - restartAt,
        before,
      };
      if (res.status !== 200) {
        out.body = body;
        return out;
      }
      const serverPwd = sdpValue(body, 'ice-pwd');
      if (!out.serverUfrag || !serverPwd) throw new Error(`restart answer without ice-ufrag and ice-pwd: ${body}`);
      s.etag = out.etag;
      // '.' stops at the line's \r, which stays.
      s.answer = s.answer
        .replace(/^a=ice-ufrag:.*$/gm, `a=ice-ufrag:${out.serverUfrag}`)
        .replace(/^a=ice-pwd:.*$/gm, `a=ice-pwd:${serverPwd}`);
      await pc.setRemoteDescription({ type: 'answer', sdp: s.answer });
      const appliedAt = performance.now();
      out.applyMs = appliedAt - restartAt;
      let after = null;
      try {
        await poll('the selected pair on the new ICE credentials, connected', timeoutMs, async () => {
          after = await selectedPair(pc);
          return after && after.localUfrag === ufrag && ['connected', 'completed'].includes(pc.iceConnectionState);
        });
        out.reconnectedMs = performance.now() - appliedAt;
      } catch (err) {
        out.error = String(err.message || err);
      }
      out.after = after;
      out.iceConnectionState = pc.iceConnectionState;
      out.iceStates = s.iceStates.filter((e) => e.t >= restartAt).map((e) => ({ ms: e.t - restartAt, state: e.state }));
      return out;
    },

    // whepFrames resolves once more than min frames were presented after
    // `from` (performance.now() time), with their count, the longest gap
    // between presented frames from the last one before `from` up to now,
    // the POSTs made and the ICE state.
    async whepFrames({ from, min, timeoutMs = 10000 }) {
      const s = whep;
      if (!s) throw new Error('not playing');
      const count = () => s.frameTimes.filter((ft) => ft > from).length;
      await poll(`more than ${min} frames after the restart (have ${count()})`, timeoutMs, () => count() > min);
      const now = performance.now();
      let maxGapMs = 0;
      let prev = null;
      for (const ft of s.frameTimes) {
        if (ft <= from) {
          prev = ft;
          continue;
        }
        if (prev !== null) maxGapMs = Math.max(maxGapMs, ft - prev);
        prev = ft;
      }
      if (prev !== null) maxGapMs = Math.max(maxGapMs, now - prev);
      return {
        frames: count(),
        maxGapMs,
        posts: s.posts,
        iceConnectionState: s.pc.iceConnectionState,
        connectionState: s.pc.connectionState,
        pair: await selectedPair(s.pc),
      };
    },

    // whepStop DELETEs the session and closes the connection; resolves with
    // the DELETE's status.
    async whepStop() {
      const s = whep;
      if (!s) return 0;
      whep = null;
      const res = await fetch(s.location, { method: 'DELETE' });
      s.pc.close();
      s.video.srcObject = null;
      s.video.remove();
      return res.status;
    },
  });
})();
