// The front page: the streams /streams.json lists, each linked to its
// player (/play/{distribution}, or /watch/{stream} without one) and to the
// side-by-side page. Refreshed every few seconds; every fetch has a deadline.
'use strict';
(() => {
  const REFRESH_MS = 5000; // how often the list is fetched again
  const FETCH_TIMEOUT_MS = 4000; // one fetch of the list, at most

  const list = document.getElementById('streams');
  const status = document.getElementById('streams-status');

  function link(text, href, cls) {
    const a = document.createElement('a');
    a.textContent = text;
    a.href = href;
    if (cls) a.className = cls;
    return a;
  }

  function render(streams) {
    list.replaceChildren(...streams.map((s) => {
      const li = document.createElement('li');
      const play = s.distribution
        ? `/play/${encodeURIComponent(s.distribution)}`
        : `/watch/${encodeURIComponent(s.name)}`;
      li.append(link(s.name, play, 'stream-name'));
      const badge = document.createElement('span');
      badge.className = s.live ? 'badge live' : 'badge off';
      badge.textContent = s.live ? 'live' : 'reconnecting';
      li.append(badge, link('compare tiers', `/compare?stream=${encodeURIComponent(s.name)}`, 'secondary'));
      return li;
    }));
    status.textContent = streams.length ? '' : 'No live streams right now. Publish one over WHIP or RTMP; it appears here.';
  }

  async function refresh() {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), FETCH_TIMEOUT_MS);
    try {
      const res = await fetch('/streams.json', { signal: ctrl.signal, cache: 'no-store' });
      if (!res.ok) throw new Error(`status ${res.status}`);
      render(await res.json());
    } catch (err) {
      status.textContent = `Could not load the stream list (${err.name === 'AbortError' ? 'timed out' : err.message}); retrying in ${REFRESH_MS / 1000} s.`;
    } finally {
      clearTimeout(timer);
      setTimeout(refresh, REFRESH_MS);
    }
  }
  refresh();
})();
