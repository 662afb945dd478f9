// The side-by-side page (/compare?stream=NAME): one stream in two of the
// viewers' players (/watch/{stream}, play.js), one held to WebRTC and one to
// LL-HLS (?tier=), so the tiers compare as viewers get them: the same
// latency from capture, recovery and stats.
'use strict';
(() => {
  const stream = new URLSearchParams(location.search).get('stream') || 'demo';
  document.getElementById('stream-name').textContent = stream;
  for (const tier of ['webrtc', 'hls']) {
    const url = new URL(`/watch/${encodeURIComponent(stream)}`, location.href);
    url.searchParams.set('tier', tier);
    document.getElementById(`${tier}-player`).src = url.href;
  }
})();
