package origin

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/frontrow-live/frontrow/packager"
)

// Delivery directives (rfc8216bis §6.2.5).
const (
	paramMSN  = "_HLS_msn"
	paramPart = "_HLS_part"
	paramSkip = "_HLS_skip"
	skipYes   = "YES" // skip segments
	skipV2    = "v2"  // skip segments and date ranges; frontrow has no date ranges
)

// errBadRequest marks a client's malformed request: 400.
var errBadRequest = errors.New("origin: bad request")

// parseRequest reads the delivery directives of a media playlist request.
// Req.Block is set whenever _HLS_msn is present, even on error, so the
// error is cached as a blocking request's. Other parameters are ignored.
func parseRequest(rawQuery string) (packager.Request, error) {
	var req packager.Request
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return req, fmt.Errorf("%w: query: %v", errBadRequest, err)
	}
	_, req.Block = q[paramMSN]
	_, req.HasPart = q[paramPart]
	if req.HasPart && !req.Block {
		return req, fmt.Errorf("%w: %s without %s", errBadRequest, paramPart, paramMSN)
	}
	if req.Block {
		if req.MSN, err = directive(q, paramMSN); err != nil {
			return req, err
		}
	}
	if req.HasPart {
		if req.Part, err = directive(q, paramPart); err != nil {
			return req, err
		}
	}
	if vs, ok := q[paramSkip]; ok {
		if len(vs) != 1 || (vs[0] != skipYes && vs[0] != skipV2) {
			return req, fmt.Errorf("%w: %s must be %s or %s", errBadRequest, paramSkip, skipYes, skipV2)
		}
		req.Skip = true
	}
	return req, nil
}

// directive parses a decimal-integer directive given exactly once.
func directive(q url.Values, name string) (int, error) {
	vs := q[name]
	if len(vs) != 1 {
		return 0, fmt.Errorf("%w: %s given %d times", errBadRequest, name, len(vs))
	}
	v, err := strconv.ParseUint(vs[0], 10, strconv.IntSize-1)
	if err != nil {
		return 0, fmt.Errorf("%w: %s: %v", errBadRequest, name, err)
	}
	return int(v), nil
}
