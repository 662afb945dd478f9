package rtc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// The fmtp parameters (kbit/s) by which libwebrtc (Chromium, Safari, Edge)
// takes a send codec's start and ceiling from the remote description;
// other senders ignore them. Without them a browser starts at 300 kbit/s
// and its encoder picks the resolution for that: a 720p camera starts at a
// quarter of its width and takes 15 s to reach it, congestion feedback or
// not. The ceiling matters as much: without one, libwebrtc derives it from
// the resolution it starts at (2 Mbit/s at 960x540) and never gets to
// 1280 within that.
const (
	googStartBitrate = "x-google-start-bitrate"
	googMaxBitrate   = "x-google-max-bitrate"
)

// WithPublishBitrate returns a publisher's answer whose video codecs tell a
// browser to start sending at kbps and to go no higher: full quality from
// the first second; transport-wide congestion feedback lowers it within a
// second or two where the path carries less. kbps <= 0 leaves the answer
// as it is.
func WithPublishBitrate(answer []byte, kbps int) ([]byte, error) {
	if kbps <= 0 {
		return answer, nil
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(answer); err != nil {
		return nil, fmt.Errorf("publish bitrate: parse answer: %w", err)
	}
	n := strconv.Itoa(kbps)
	param := ";" + googStartBitrate + "=" + n + ";" + googMaxBitrate + "=" + n
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media != "video" {
			continue
		}
		for i, a := range m.Attributes {
			if a.Key == "fmtp" && !strings.Contains(a.Value, "apt=") { // not RTX
				m.Attributes[i].Value += param
			}
		}
	}
	out, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("publish bitrate: write answer: %w", err)
	}
	return out, nil
}
