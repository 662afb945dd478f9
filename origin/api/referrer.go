package api

import (
	"net"
	"net/http"
	"net/url"
	"strings"
)

// pageHost is the host of the page a request comes from: Origin when the
// browser sent one (fetch, CORS), else Referer. "null" origins (sandboxed
// frames, file:) name no page.
func pageHost(r *http.Request) (string, bool) {
	for _, h := range []string{"Origin", "Referer"} {
		v := r.Header.Get(h)
		if v == "" || v == "null" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" {
			continue
		}
		return normalizeHost(u.Hostname()), true
	}
	return "", false
}

// requestHost is the host the request was sent to, without port.
func requestHost(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return normalizeHost(strings.Trim(host, "[]"))
}

func normalizeHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// matchReferrer: "example.com" matches that host only; "*.example.com"
// matches its subdomains at any depth but not example.com itself.
func matchReferrer(patterns []string, host string) bool {
	for _, p := range patterns {
		if suffix, ok := strings.CutPrefix(p, "*"); ok {
			if strings.HasSuffix(host, suffix) && len(host) > len(suffix) {
				return true
			}
		} else if host == p {
			return true
		}
	}
	return false
}
