package api

import (
	"net/http"
	"net/netip"
	"strings"
)

// clientIP is the address IP rules are matched against: the TCP peer, or,
// when the peer is a trusted proxy, the rightmost X-Forwarded-For hop that is
// not a trusted proxy (hops further left are the client's own claims).
func clientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	ip, ok := parseHost(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if len(trusted) == 0 || !inAny(trusted, ip) {
		return ip, true
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHost(strings.TrimSpace(hops[i]))
		if !ok {
			break // garbage: keep the last hop a trusted proxy vouched for
		}
		ip = hop
		if !inAny(trusted, hop) {
			break
		}
	}
	return ip, true
}

// parseHost reads "ip", "ip:port" or "[ipv6]:port" without zone, IPv4-mapped
// IPv6 turned into IPv4 so one rule matches both spellings.
func parseHost(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

func inAny(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
