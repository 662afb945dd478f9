package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

func TestExternalWHEPURL(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  WebRTCSource
		want string
	}{
		{"query", WebRTCSource{Name: "live 1", AccountID: "acc", APIURL: "https://cdn.example.com/whep"},
			"https://cdn.example.com/whep?accountId=acc&name=live+1"},
		{"query kept", WebRTCSource{Name: "n", AccountID: "acc", APIURL: "https://cdn.example.com/whep?name=mine&x=1"},
			"https://cdn.example.com/whep?accountId=acc&name=mine&x=1"},
		{"no name nor account", WebRTCSource{APIURL: "https://cdn.example.com/whep/s"}, "https://cdn.example.com/whep/s"},
		{"placeholders", WebRTCSource{Name: "live/1", AccountID: "a b", APIURL: "https://cdn.example.com/whep/{accountId}/{name}?x=1"},
			"https://cdn.example.com/whep/a%20b/live%2F1?x=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ExternalWHEPURL(tc.src); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestPlayerConfig(t *testing.T) {
	ice := []webrtc.ICEServer{
		{URLs: []string{"stun:stun.example.com:3478"}},
		{URLs: []string{"turn:turn.example.com:3478"}, Username: "u", Credential: "p"},
	}
	iceJSON := []PlayerICEServer{
		{URLs: []string{"stun:stun.example.com:3478"}},
		{URLs: []string{"turn:turn.example.com:3478"}, Username: "u", Credential: "p"},
	}
	const id = "AAAAAAAAAAAAAAAAAAAAAA"
	base := Distribution{ID: id, Name: "main", Stream: "live", HLS: HLS{Priority: 1}}
	with := func(f func(*Distribution)) Distribution { d := base.Clone(); f(&d); return d }
	whep := PlayerSource{Type: SourceWebRTC, URL: "/whep/live?distribution=" + id}
	hls := PlayerSource{Type: SourceHLS, URL: "/hls/live/index.m3u8?distribution=" + id, Priority: 1}
	tests := []struct {
		name    string
		d       Distribution
		o       PlayerOptions
		sources []PlayerSource
		ice     []PlayerICEServer
	}{
		{"HLS only", base, PlayerOptions{ICEServers: ice}, []PlayerSource{hls}, []PlayerICEServer{}},
		{"WebRTC first", with(func(d *Distribution) { d.WebRTC = &WebRTC{Priority: 0} }), PlayerOptions{ICEServers: ice},
			[]PlayerSource{whep, hls}, iceJSON},
		{"HLS preferred", with(func(d *Distribution) { d.WebRTC = &WebRTC{Priority: 2} }), PlayerOptions{},
			[]PlayerSource{hls, {Type: SourceWebRTC, URL: whep.URL, Priority: 2}}, []PlayerICEServer{}},
		{"tie: WebRTC first", with(func(d *Distribution) { d.WebRTC = &WebRTC{Priority: 1} }), PlayerOptions{},
			[]PlayerSource{{Type: SourceWebRTC, URL: whep.URL, Priority: 1}, hls}, []PlayerICEServer{}},
		{"external WHEP, CDN base", with(func(d *Distribution) {
			d.WebRTC = &WebRTC{Src: &WebRTCSource{Name: "n", AccountID: "acc", APIURL: "https://rt.example.com/whep/x"}}
		}), PlayerOptions{HLSBase: "https://cdn.example.com/hls/", ICEServers: ice},
			[]PlayerSource{
				{Type: SourceWebRTC, URL: "https://rt.example.com/whep/x?accountId=acc&name=n", External: true, Name: "n", AccountID: "acc"},
				{Type: SourceHLS, URL: "https://cdn.example.com/hls/live/index.m3u8?distribution=" + id, Priority: 1},
			}, []PlayerICEServer{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := PlayerConfig(tc.d, tc.o)
			if !reflect.DeepEqual(got.Sources, tc.sources) {
				t.Errorf("sources:\n got %+v\nwant %+v", got.Sources, tc.sources)
			}
			if !reflect.DeepEqual(got.ICEServers, tc.ice) {
				t.Errorf("ice servers: %+v", got.ICEServers)
			}
			if got.ConnectTimeoutMs != 4000 || got.TargetLatencyMs != 600 || got.TokenParam != "token" ||
				got.DistributionParam != "distribution" || got.Distribution != id || got.Stream != "live" {
				t.Errorf("config %+v", got)
			}
		})
	}
	got := PlayerConfig(with(func(d *Distribution) { d.Security.TokenRequired = true }),
		PlayerOptions{WHEPBase: "https://gw.example.com/whep/", TargetLatency: time.Second, ConnectTimeout: 2500 * time.Millisecond})
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"distribution":"` + id + `","name":"main","stream":"live","sources":[{"type":"hls","url":"/hls/live/index.m3u8?distribution=` + id +
		`","priority":1}],"iceServers":[],"targetLatencyMs":1000,"connectTimeoutMs":2500,"tokenRequired":true,"tokenParam":"token","distributionParam":"distribution"}`
	if string(b) != want {
		t.Errorf("JSON:\n got %s\nwant %s", b, want)
	}
}
