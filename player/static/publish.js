// frontrow's publish page (/publish/{stream}): a producer goes live from the
// browser over WHIP (RFC 9725), camera or screen, microphone optional, with
// the publish token as a Bearer token. The token is kept in sessionStorage
// only (this tab), never in the URL or localStorage.
//
// State (also window.frontrowPublisher.state(), for tests):
//   idle -> connecting -> live -> stopped, or error with the server's reason.
'use strict';
(() => {
  const ICE_GATHER_MS = 2000; // post the offer with what was gathered by then
  const CONNECT_MS = 10000; // ICE + DTLS after the answer
  const TOKEN_KEY = 'frontrow.publishToken';

  const $ = (id) => document.getElementById(id);
  const stream = decodeURIComponent(location.pathname.split('/')[2] || '');
  const whipURL = new URL(`/whip/${encodeURIComponent(stream)}`, location.href).href;

  let session = null; // {pc, media, location, token}
  let state = 'idle';
  let message = 'not live';
  let httpStatus = 0;
  let flow = 0; // bumped by every start and stop: an older start gives up

  function setState(s, msg, status = 0) {
    state = s;
    message = msg;
    httpStatus = status;
    const el = $('state');
    el.dataset.state = s;
    el.textContent = msg;
    el.className = `status ${s === 'live' ? 'playing' : s === 'error' ? 'error' : ''}`;
    const busy = s === 'connecting' || s === 'live';
    $('start').disabled = busy;
    $('stop').disabled = !busy;
    $('token').disabled = busy;
    for (const el of document.querySelectorAll('input[name=source], #mic')) el.disabled = busy;
  }

  function reason(status, text) {
    const body = (text || '').trim().slice(0, 300);
    switch (status) {
      case 401: return `401: the publish token was refused${body ? ` (${body})` : ''}`;
      case 403: return `403: not allowed to publish${body ? ` (${body})` : ''}`;
      case 409: return `409: ${body || 'the stream already has a live publisher'}`;
      default: return `${status}: ${body || 'the gateway refused the stream'}`;
    }
  }

  function within(ms, promise, what) {
    let timer;
    return Promise.race([
      promise,
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms); }),
    ]).finally(() => clearTimeout(timer));
  }

  function gathered(pc) {
    if (pc.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { pc.removeEventListener('icegatheringstatechange', check); resolve(); };
      const check = () => { if (pc.iceGatheringState === 'complete') done(); };
      pc.addEventListener('icegatheringstatechange', check);
      setTimeout(done, ICE_GATHER_MS);
    });
  }

  function connected(pc) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (pc.connectionState === 'connected') resolve();
        else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') reject(new Error(`connection ${pc.connectionState}`));
      };
      pc.addEventListener('connectionstatechange', check);
      check();
    });
  }

  async function capture(source, mic) {
    if (source === 'screen') {
      if (!navigator.mediaDevices.getDisplayMedia) throw new Error('this browser cannot share the screen');
      const screen = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: 30 }, audio: false });
      if (!mic) return screen;
      try {
        const audio = await navigator.mediaDevices.getUserMedia({ audio: true });
        return new MediaStream([...screen.getVideoTracks(), ...audio.getAudioTracks()]);
      } catch (err) {
        screen.getTracks().forEach((t) => t.stop());
        throw err;
      }
    }
    return navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } },
      audio: mic,
    });
  }

  async function start() {
    const token = $('token').value.trim();
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
    const source = document.querySelector('input[name=source]:checked').value;
    const mic = $('mic').checked;
    const mine = ++flow;
    setState('connecting', `connecting: asking for the ${source}…`);
    let media = null;
    let pc = null;
    try {
      media = await capture(source, mic);
      if (mine !== flow) throw new Error('stopped');
      $('preview').srcObject = media;
      pc = new RTCPeerConnection();
      for (const track of media.getTracks()) pc.addTransceiver(track, { direction: 'sendonly' });
      // Keyframe on request is the gateway's job (PLI); the screen's track
      // tells the encoder to favour sharpness over motion.
      for (const track of media.getVideoTracks()) if (source === 'screen') track.contentHint = 'detail';
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      if (mine !== flow) throw new Error('stopped');
      setState('connecting', 'connecting: sending the offer…');
      const headers = { 'Content-Type': 'application/sdp' };
      if (token) headers.Authorization = `Bearer ${token}`;
      const res = await within(CONNECT_MS, fetch(whipURL, { method: 'POST', headers, body: pc.localDescription.sdp }), 'the WHIP request');
      const text = await res.text();
      if (res.status !== 201) {
        const err = new Error(reason(res.status, text));
        err.status = res.status;
        throw err;
      }
      const loc = res.headers.get('Location');
      session = { pc, media, token, location: loc ? new URL(loc, res.url).href : null };
      if (mine !== flow) throw new Error('stopped');
      await pc.setRemoteDescription({ type: 'answer', sdp: text });
      await within(CONNECT_MS, connected(pc), 'connecting to the gateway');
      if (mine !== flow) throw new Error('stopped');
      pc.addEventListener('connectionstatechange', () => {
        if (session?.pc !== pc) return;
        if (pc.connectionState === 'failed') {
          teardown(true);
          setState('error', 'error: the connection to the gateway was lost');
        } else if (pc.connectionState === 'disconnected') {
          setState('connecting', 'reconnecting: the network dropped…');
        } else if (pc.connectionState === 'connected' && state !== 'live') {
          setState('live', `live on ${stream}`);
        }
      });
      setState('live', `live on ${stream}`);
    } catch (err) {
      if (mine !== flow) {
        // Stop was pressed meanwhile; it cleaned up what it knew of.
        pc?.close();
        media?.getTracks().forEach((t) => t.stop());
        return;
      }
      if (session && session.pc === pc) await teardown(true);
      else {
        pc?.close();
        media?.getTracks().forEach((t) => t.stop());
      }
      $('preview').srcObject = null;
      const msg = err.name === 'NotAllowedError' ? 'permission to capture was denied' : err.message;
      setState('error', `error: ${msg}`, err.status || 0);
    }
  }

  // teardown ends the session: DELETE at the Location the gateway gave
  // (with the token), then closes the connection and stops the capture.
  async function teardown(quiet, keepalive = false) {
    const s = session;
    session = null;
    if (!s) return 0;
    let status = 0;
    if (s.location) {
      const headers = s.token ? { Authorization: `Bearer ${s.token}` } : {};
      try {
        status = (await fetch(s.location, { method: 'DELETE', headers, keepalive })).status;
      } catch { /* the gateway times the session out */ }
    }
    s.pc.close();
    s.media.getTracks().forEach((t) => t.stop());
    $('preview').srcObject = null;
    if (!quiet) setState('stopped', status && status >= 400 ? `stopped (DELETE ${status})` : 'stopped');
    return status;
  }

  function stop() {
    flow++;
    if (!session) {
      setState('stopped', 'stopped');
      return Promise.resolve(0);
    }
    return teardown(false);
  }

  $('stream-name').textContent = stream;
  $('watch').href = `/watch/${encodeURIComponent(stream)}`;
  $('watch').textContent = `Watch ${stream}`;
  $('token').value = sessionStorage.getItem(TOKEN_KEY) || '';
  $('publish-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    start();
  });
  $('stop').addEventListener('click', () => stop());
  window.addEventListener('pagehide', () => { if (session) teardown(true, true); });
  if (!stream) setState('error', 'error: this page publishes /publish/{stream}');
  else setState('idle', 'not live');

  Object.defineProperty(window, 'frontrowPublisher', {
    value: {
      state: () => ({ state, message, status: httpStatus, location: session?.location || '', stream }),
      stop,
    },
  });
})();
