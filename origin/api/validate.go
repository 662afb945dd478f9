package api

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on a distribution's fields: generous for real use, small enough
// that one distribution stays well inside the 64 KiB body limit.
const (
	maxTextLen   = 256     // bytes in name, webRtc.src.name, webRtc.src.accountId
	maxURLLen    = 2048    // bytes in webRtc.src.apiUrl
	maxListLen   = 256     // entries in each security list
	maxPriority  = 1000000 // keeps priorities exact as JavaScript numbers
	maxStreamLen = 64      // as the ingest allows
	maxHostLen   = 253     // RFC 1035 section 2.3.4, without the trailing dot
	maxLabelLen  = 63      // RFC 1035 section 2.3.4
	wildcardHead = "*."
)

// FieldError is a client's mistake in one field; the API answers 400 with
// it as {"error": Message, "field": Field}.
type FieldError struct {
	// Field is the JSON path, like "webRtc.priority" or "security.allowedIPs[2]".
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Message }

// fieldErrorf builds a FieldError whose message starts with the field's path.
func fieldErrorf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: field + " " + fmt.Sprintf(format, args...)}
}

// ValidStreamName reports whether name can name a stream, so a distribution
// never points at an impossible one. It mirrors gateway/stream.ValidName
// (origin must not import gateway): 1-64 characters of A-Z a-z 0-9 _ - .,
// never "." or "..".
func ValidStreamName(name string) bool {
	if len(name) == 0 || len(name) > maxStreamLen || name == "." || name == ".." {
		return false
	}
	for _, c := range []byte(name) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// Validate checks every field rule and normalizes what has one spelling
// (referrer hosts are lower-cased); it returns the first *FieldError.
func Validate(d *Distribution) error {
	if err := validateText("name", d.Name, true); err != nil {
		return err
	}
	if !ValidStreamName(d.Stream) {
		return fieldErrorf("stream", "must be 1-64 characters of A-Z a-z 0-9 _ - . (not . or ..)")
	}
	if err := validateSecurity(&d.Security); err != nil {
		return err
	}
	if d.WebRTC != nil {
		if err := validatePriority("webRtc.priority", d.WebRTC.Priority); err != nil {
			return err
		}
		if src := d.WebRTC.Src; src != nil {
			if err := validateSource(src); err != nil {
				return err
			}
		}
	}
	return validatePriority("hls.priority", d.HLS.Priority)
}

func validatePriority(field string, p int) error {
	switch {
	case p < 0:
		return fieldErrorf(field, "must be 0 or higher")
	case p > maxPriority:
		return fieldErrorf(field, "must be at most %d", maxPriority)
	}
	return nil
}

func validateText(field, s string, required bool) error {
	switch {
	case required && strings.TrimSpace(s) == "":
		return fieldErrorf(field, "is required")
	case len(s) > maxTextLen:
		return fieldErrorf(field, "must be at most %d bytes", maxTextLen)
	case !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fieldErrorf(field, "must be printable UTF-8 text")
	}
	return nil
}

func validateSource(src *WebRTCSource) error {
	if err := validateText("webRtc.src.name", src.Name, false); err != nil {
		return err
	}
	if err := validateText("webRtc.src.accountId", src.AccountID, false); err != nil {
		return err
	}
	const field = "webRtc.src.apiUrl"
	if src.APIURL == "" {
		return fieldErrorf(field, "is required when webRtc.src is given")
	}
	if len(src.APIURL) > maxURLLen {
		return fieldErrorf(field, "must be at most %d bytes", maxURLLen)
	}
	u, err := url.Parse(src.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return fieldErrorf(field, "must be an absolute http or https URL, like https://cdn.example.com/whep/stream")
	}
	if u.User != nil {
		// The player receives this URL, so credentials in it would be public.
		return fieldErrorf(field, "must not contain credentials (user:password@)")
	}
	if u.Fragment != "" || strings.Contains(src.APIURL, "#") {
		return fieldErrorf(field, "must not contain a fragment (#...)")
	}
	return nil
}

func validateSecurity(s *Security) error {
	if err := validateList("security.allowedIPs", s.AllowedIPs, validPrefix); err != nil {
		return err
	}
	if err := validateList("security.blockedIPs", s.BlockedIPs, validPrefix); err != nil {
		return err
	}
	for i, r := range s.AllowedReferrers {
		s.AllowedReferrers[i] = strings.ToLower(r)
	}
	return validateList("security.allowedReferrers", s.AllowedReferrers, validReferrer)
}

func validateList(field string, list []string, check func(string) string) error {
	if len(list) > maxListLen {
		return fieldErrorf(field, "must have at most %d entries", maxListLen)
	}
	for i, v := range list {
		if msg := check(v); msg != "" {
			return fieldErrorf(fmt.Sprintf("%s[%d]", field, i), "%s", msg)
		}
	}
	return nil
}

// validPrefix accepts a CIDR prefix or a single address (a /32 or /128).
func validPrefix(s string) string {
	if _, err := parsePrefix(s); err != nil {
		return "must be an IP address or CIDR prefix, like 203.0.113.0/24 or 2001:db8::/32"
	}
	return ""
}

// parsePrefix reads a CIDR prefix or a bare address; zones are refused
// because a client's address is matched without one.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parse prefix %q: %w", s, err)
		}
		return netip.PrefixFrom(p.Addr().Unmap(), unmappedBits(p)).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parse address %q: %w", s, err)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("address %q: zones are not allowed", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unmappedBits turns ::ffff:a.b.c.d/n (n >= 96) into the IPv4 prefix length,
// so IPv4-mapped rules match IPv4 clients.
func unmappedBits(p netip.Prefix) int {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return p.Bits() - 96
	}
	return p.Bits()
}

// validReferrer accepts a host name ("example.com", "localhost", an IP
// literal) or a subdomain wildcard ("*.example.com"); no scheme, port or path.
func validReferrer(s string) string {
	const msg = "must be a host name like example.com or *.example.com (no scheme, port or path)"
	host := strings.TrimPrefix(s, wildcardHead)
	if _, err := netip.ParseAddr(s); err == nil {
		return "" // an IP literal, as URL.Hostname gives it (no brackets)
	}
	if host == "" || len(host) > maxHostLen {
		return msg
	}
	for label := range strings.SplitSeq(host, ".") {
		if !validLabel(label) {
			return msg
		}
	}
	return ""
}

// validLabel is an RFC 1123 section 2.1 host label (letters, digits, hyphens,
// not starting or ending with a hyphen); underscores are allowed as browsers do.
func validLabel(l string) bool {
	if l == "" || len(l) > maxLabelLen || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for _, c := range []byte(l) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
