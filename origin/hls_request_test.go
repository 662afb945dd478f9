package origin

import (
	"errors"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/frontrow-live/frontrow/packager"
)

func TestParseRequest(t *testing.T) {
	cases := []struct {
		query string
		want  packager.Request
		bad   bool
	}{
		{query: "", want: packager.Request{}},
		{query: "_HLS_msn=7", want: packager.Request{Block: true, MSN: 7}},
		{query: "_HLS_msn=7&_HLS_part=2", want: packager.Request{Block: true, MSN: 7, HasPart: true, Part: 2}},
		{query: "_HLS_msn=7&_HLS_part=2&_HLS_skip=YES", want: packager.Request{Block: true, MSN: 7, HasPart: true, Part: 2, Skip: true}},
		{query: "_HLS_skip=v2", want: packager.Request{Skip: true}},
		{query: "_HLS_msn=007&cdn=x", want: packager.Request{Block: true, MSN: 7}},
		{query: "_HLS_part=2", bad: true},
		{query: "_HLS_msn=", bad: true},
		{query: "_HLS_msn=-3", bad: true},
		{query: "_HLS_msn=3&_HLS_part=-1", bad: true},
		{query: "_HLS_msn=1e3", bad: true},
		{query: "_HLS_msn=0x10", bad: true},
		{query: "_HLS_msn=9223372036854775808", bad: true},
		{query: "_HLS_msn=1&_HLS_msn=1", bad: true},
		{query: "_HLS_skip=yes", bad: true},
		{query: "_HLS_skip=YES&_HLS_skip=YES", bad: true},
		{query: "_HLS_msn=%", bad: true},
		{query: "a=1;b=2", bad: true},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			got, err := parseRequest(tc.query)
			if tc.bad {
				if !errors.Is(err, errBadRequest) {
					t.Fatalf("err = %v, want errBadRequest", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// FuzzParseRequest: any query either parses into a consistent request that
// survives a round trip, or is a bad request; it never panics.
func FuzzParseRequest(f *testing.F) {
	for _, seed := range []string{
		"", "_HLS_msn=3", "_HLS_msn=3&_HLS_part=1", "_HLS_part=1", "_HLS_skip=YES", "_HLS_skip=v2&_HLS_msn=12",
		"_HLS_msn=-1", "_HLS_msn=99999999999999999999", "_HLS_msn=%zz", "_HLS_msn=1&_HLS_msn=2", "x=1&_HLS_part=&_HLS_msn=0",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, query string) {
		req, err := parseRequest(query)
		if err != nil {
			if !errors.Is(err, errBadRequest) {
				t.Fatalf("error %v is not a bad request", err)
			}
			return
		}
		if req.MSN < 0 || req.Part < 0 || (req.HasPart && !req.Block) || (!req.Block && req.MSN != 0) || (!req.HasPart && req.Part != 0) {
			t.Fatalf("inconsistent request %+v from %q", req, query)
		}
		q := url.Values{}
		if req.Block {
			q.Set(paramMSN, strconv.Itoa(req.MSN))
		}
		if req.HasPart {
			q.Set(paramPart, strconv.Itoa(req.Part))
		}
		if req.Skip {
			q.Set(paramSkip, skipYes)
		}
		again, err := parseRequest(q.Encode())
		if err != nil || again != req {
			t.Fatalf("round trip of %+v: %+v, %v", req, again, err)
		}
	})
}

// TestCacheControl pins the table for a 4 s target duration too.
func TestCacheControl(t *testing.T) {
	const td = 4 * time.Second
	cases := []struct {
		kind responseKind
		ok   bool
		want string
	}{
		{kindBlockingPlaylist, true, "max-age=24"},
		{kindBlockingPlaylist, false, "max-age=16"},
		{kindPlaylist, true, "max-age=2"},
		{kindPlaylist, false, "max-age=4"},
		{kindMultivariant, true, "max-age=2"},
		{kindMedia, true, "max-age=3600, immutable"},
		{kindMedia, false, "no-store"},
		{kindUnknownStream, false, "max-age=1"},
	}
	for _, tc := range cases {
		if got := cacheControl(tc.kind, tc.ok, td); got != tc.want {
			t.Errorf("kind %d ok %t: %q, want %q", tc.kind, tc.ok, got, tc.want)
		}
	}
	if got := cacheControl(kindPlaylist, true, time.Second); got != "max-age=1" {
		t.Errorf("half of a 1 s target rounds up to 1 s, got %q", got)
	}
}
