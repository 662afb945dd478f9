// Package api is frontrow's distribution API: the store of distributions
// (how a stream is offered to viewers), the admin HTTP API under /api/v1/,
// viewer tokens, the security checks both tiers run on viewers' requests,
// and the configuration the web player reads.
//
// # Admin API
//
// URLs, under Prefix ("/api/v1/"), all JSON, all with
// Authorization: Bearer <auth.admin_token>:
//
//	GET    /api/v1/streams                              streams the gateway has, and those with distributions
//	GET    /api/v1/streams/{stream}                     one stream, with its distribution ids
//	POST   /api/v1/streams/{stream}/distributions       create (201 + Location)
//	GET    /api/v1/streams/{stream}/distributions       list a stream's distributions
//	GET    /api/v1/distributions/{id}                   read
//	PATCH  /api/v1/distributions/{id}                   JSON merge patch (RFC 7396)
//	DELETE /api/v1/distributions/{id}                   delete (204)
//	POST   /api/v1/distributions/{id}/tokens            mint a viewer token: {"ttlSeconds": n} -> {token, expiresAt}
//
// Status codes: a missing admin token is 401 (with WWW-Authenticate: Bearer,
// RFC 6750 section 3), a wrong one 403; no admin token configured makes every
// request 503. Client mistakes are 400 ({"error", "field"}), 404, 405, 413
// or 415, never 500; 500 means the store could not be written.
//
// # Viewer requests
//
// Store.Guard wraps the WHEP and HLS handlers and runs Store.Authorize on
// each viewer request (a WHEP session's PATCH and DELETE as well as its
// POST); the distribution comes from ?distribution=ID (or from
// the viewer token, which names it), the token from Authorization: Bearer or
// ?token=. Playlists name parts and segments by relative URIs, which drop the
// query, so the player adds both parameters to every HLS request:
//
//	const add = (url) => { const u = new URL(url, location.href);
//	  u.searchParams.set("distribution", id); if (token) u.searchParams.set("token", token); return u.href; };
//	new Hls({ lowLatencyMode: true,
//	  xhrSetup: (xhr, url) => xhr.open("GET", add(url), true),
//	  fetchSetup: (ctx, init) => new Request(add(ctx.url), init) });
//
// A CDN's cache key must leave out distribution and token (and keep
// _HLS_msn, _HLS_part, _HLS_skip), so every viewer's request for a part is
// one cached object. The CDN then serves cached objects without asking the
// origin: only cache misses are checked here, so a tier that must be closed
// to the public needs the CDN to check the token itself (the format is in
// token.go: HMAC-SHA256, verifiable at an edge with the shared key) or no
// CDN. Refusals are never cached (Cache-Control: no-store).
package api
