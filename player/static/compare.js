// The side-by-side page (/compare?stream=NAME): one stream over WebRTC (WHEP)
// and LL-HLS at once, to compare the tiers. Plain JS, same-origin only; the
// viewer's player (priorities, fallback, recovery) is play.js. Each side
// shows its latency from capture on the gateway's clock (clock.js), so the
// two figures compare like for like.
'use strict';

const stream = new URLSearchParams(location.search).get('stream') || 'demo';
const streamPath = encodeURIComponent(stream);
document.getElementById('stream-name').textContent = stream;

const RETRY_MS = 3000; // after an error, before trying again
const ICE_GATHERING_TIMEOUT_MS = 5000; // never wait forever for candidates
const LATENCY_EVERY_MS = 1000;

const clock = new frontrowClock.GatewayClock('/clock');
clock.run();

// statusLine writes a side's state; a latency from capture (ms) also goes
// to data-latency-ms, for tests.
function statusLine(id) {
  const el = document.getElementById(id);
  return (state, detail, latencyMs) => {
    el.textContent = detail ? `${state}: ${detail}` : state;
    el.className = `status ${state}`;
    if (latencyMs === undefined) delete el.dataset.latencyMs;
    else el.dataset.latencyMs = String(Math.round(latencyMs));
  };
}

const fromCapture = (ms) => `${Math.round(ms)} ms from capture`;

// Retry-After is seconds or an HTTP date (RFC 9110 section 10.2.3).
function retryAfterMs(header) {
  if (!header) return RETRY_MS;
  const ms = /^\d+$/.test(header.trim()) ? Number(header) * 1000 : Date.parse(header) - Date.now();
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 1000), 30000) : RETRY_MS;
}

// WHEP (RFC 9725): recvonly offer with all candidates, answer back, DELETE
// the session resource when the page goes away.
function startWhep(video, status) {
  let pc = null;
  let session = null;
  let retryTimer = 0;

  function retry(ms) {
    if (pc) pc.close();
    pc = null;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(connect, ms);
  }

  function gatheringComplete(peer) {
    if (peer.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ICE_GATHERING_TIMEOUT_MS);
      peer.addEventListener('icegatheringstatechange', () => {
        if (peer.iceGatheringState === 'complete') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  async function connect() {
    status('connecting');
    playing = false;
    const peer = new RTCPeerConnection();
    pc = peer;
    peer.addTransceiver('video', { direction: 'recvonly' });
    peer.addTransceiver('audio', { direction: 'recvonly' });
    const media = new MediaStream();
    peer.ontrack = (ev) => {
      media.addTrack(ev.track);
      video.srcObject = media;
    };
    peer.onconnectionstatechange = () => {
      if (peer !== pc) return;
      if (peer.connectionState === 'failed' || peer.connectionState === 'closed') {
        status('error', `connection ${peer.connectionState}, retrying`);
        deleteSession();
        retry(RETRY_MS);
      }
    };
    try {
      await peer.setLocalDescription(await peer.createOffer());
      await gatheringComplete(peer);
      const url = `/whep/${streamPath}`;
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp' },
        body: peer.localDescription.sdp,
      });
      if (res.status === 409) {
        const ms = retryAfterMs(res.headers.get('Retry-After'));
        status('connecting', `stream not live, retrying in ${Math.round(ms / 1000)} s`);
        retry(ms);
        return;
      }
      if (!res.ok) throw new Error(`WHEP POST ${res.status} ${await res.text()}`);
      const location = res.headers.get('Location');
      if (location) session = new URL(location, new URL(url, document.baseURI)).href;
      await peer.setRemoteDescription({ type: 'answer', sdp: await res.text() });
    } catch (err) {
      if (peer !== pc) return;
      status('error', `${err.message || err}, retrying`);
      deleteSession();
      retry(RETRY_MS);
    }
  }

  function deleteSession(keepalive) {
    if (!session) return;
    fetch(session, { method: 'DELETE', keepalive: !!keepalive }).catch(() => {});
    session = null;
  }

  let playing = false;
  video.addEventListener('playing', () => {
    playing = true;
    status('playing');
  });
  // The latency from capture: what the video shows, else what the audio plays.
  setInterval(async () => {
    const peer = pc;
    if (!playing || !peer || peer.connectionState !== 'connected') return;
    const byKind = {};
    (await peer.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp') byKind[s.kind] = s;
    });
    if (peer !== pc) return;
    const ms = frontrowClock.fromPlayout(clock, byKind.video) ?? frontrowClock.fromPlayout(clock, byKind.audio);
    if (ms !== undefined) status('playing', fromCapture(ms), ms);
  }, LATENCY_EVERY_MS);
  window.addEventListener('pagehide', () => {
    clearTimeout(retryTimer);
    deleteSession(true);
    if (pc) pc.close();
    pc = null;
  });
  connect();
}

// LL-HLS with hls.js; Safari's native HLS where MSE is missing.
function startHls(video, status) {
  const src = `/hls/${streamPath}/index.m3u8`;
  if (!window.Hls) {
    if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.addEventListener('playing', () => status('playing', 'native HLS'));
      video.src = src;
      status('connecting');
      return;
    }
    status('error', 'hls.js is missing: run player/build.sh and rebuild');
    return;
  }
  if (!Hls.isSupported()) {
    status('error', 'this browser has no Media Source Extensions');
    return;
  }

  let hls = null;
  let playing = false;
  function connect() {
    status('connecting');
    playing = false;
    hls = new Hls({ lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 });
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (!data.fatal) return;
      status('error', `${data.details}, retrying`);
      hls.destroy();
      setTimeout(connect, RETRY_MS);
    });
    hls.loadSource(src);
    hls.attachMedia(video);
  }
  video.addEventListener('playing', () => { playing = true; });
  setInterval(() => {
    if (!playing || !hls) return;
    const ms = frontrowClock.fromDate(clock, hls.playingDate);
    const edge = Number.isFinite(hls.latency) ? `hls.js latency ${hls.latency.toFixed(2)} s` : '';
    status('playing', ms !== undefined ? `${fromCapture(ms)}${edge ? ` (${edge})` : ''}` : edge, ms);
  }, LATENCY_EVERY_MS);
  connect();
}

startWhep(document.getElementById('whep-video'), statusLine('whep-status'));
startHls(document.getElementById('hls-video'), statusLine('hls-status'));
