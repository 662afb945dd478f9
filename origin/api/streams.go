package api

// StreamLister tells the API what the gateway knows of its streams; the
// lead implements it over the stream registry (and the packager/viewer
// counters).
type StreamLister interface {
	// Streams lists the streams the gateway has now (live or in their grace
	// period), in any order.
	Streams() []StreamStatus
	// Stream is one stream by name; ok is false for one the gateway does not have.
	Stream(name string) (status StreamStatus, ok bool)
}

// Publisher protocols in StreamStatus.Publisher.
const (
	PublisherWHIP = "whip"
	PublisherRTMP = "rtmp"
)

// StreamStatus is what GET /api/v1/streams reports of one stream.
type StreamStatus struct {
	Name string `json:"name"`
	// Live is true while a publisher is connected.
	Live bool `json:"live"`
	// Publisher is the ingest protocol (PublisherWHIP, PublisherRTMP), "" when none.
	Publisher string       `json:"publisher,omitempty"`
	Video     *VideoStatus `json:"video,omitempty"`
	Audio     AudioStatus  `json:"audio"`
	Viewers   ViewerCounts `json:"viewers"`
}

// VideoStatus is the stream's video track.
type VideoStatus struct {
	// Codec is the RFC 6381 codec string, like "avc1.42e01f".
	Codec  string `json:"codec"`
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	// BFrames is true when the publisher sends B-frames (browsers stutter on them).
	BFrames bool `json:"bframes"`
}

// AudioStatus is the audio codec each tier carries ("" when none): Opus on
// WebRTC, AAC on LL-HLS, transcoded where the ingest differs.
type AudioStatus struct {
	WebRTC string `json:"webRtc,omitempty"` // like "opus"
	HLS    string `json:"hls,omitempty"`    // like "mp4a.40.2"
}

// ViewerCounts are viewers per tier. HLS behind a CDN is what the origin can
// see (e.g. active playlist pollers), not the audience.
type ViewerCounts struct {
	WebRTC int `json:"webRtc"`
	HLS    int `json:"hls"`
}

// streamView is a stream as the API shows it, with its distribution ids.
type streamView struct {
	StreamStatus
	Distributions []string `json:"distributions"`
}
