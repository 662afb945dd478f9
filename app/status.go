package app

import (
	"slices"
	"strings"

	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/origin/api"
	"github.com/frontrow-live/frontrow/packager"
)

// streamLister shows the registry's streams to the distribution API.
type streamLister struct {
	registry *stream.Registry
}

// Streams lists every stream, live or in its grace period, by name.
func (l streamLister) Streams() []api.StreamStatus {
	all := l.registry.Streams()
	out := make([]api.StreamStatus, 0, len(all))
	for _, s := range all {
		out = append(out, status(s))
	}
	slices.SortFunc(out, func(a, b api.StreamStatus) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Stream describes one stream.
func (l streamLister) Stream(name string) (api.StreamStatus, bool) {
	s, ok := l.registry.Get(name)
	if !ok {
		return api.StreamStatus{}, false
	}
	return status(s), true
}

func status(s *stream.Stream) api.StreamStatus {
	st := s.Status()
	out := api.StreamStatus{
		Name: s.Name(), Live: st.Live, Publisher: st.Protocol,
		Viewers: api.ViewerCounts{WebRTC: st.Viewers},
	}
	var d packager.Description
	if m, ok := s.Sink().(*packager.Muxer); ok {
		d = m.Describe()
		out.Viewers.HLS = m.Stats().Waiting // blocked playlist pollers: what the origin can see
	}
	if st.Video {
		out.Video = &api.VideoStatus{Codec: d.VideoCodec, Width: d.Width, Height: d.Height, BFrames: st.BFrames}
	}
	if st.WebRTCAudio {
		out.Audio.WebRTC = packager.CodecOpus // the only audio WebRTC carries; AAC is transcoded to it
	}
	out.Audio.HLS = d.AudioCodec
	return out
}
