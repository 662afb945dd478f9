package packager

import (
	"strconv"
	"strings"
)

// URI layout (all relative to the multivariant playlist, so origin can mount
// a stream anywhere):
//
//	index.m3u8                    multivariant playlist
//	{rendition}.m3u8              media playlist (video.m3u8, audio.m3u8)
//	{rendition}_{id}_init{g}.mp4  init segment, generation g (a codec change makes a new one)
//	{rendition}_{id}_{msn}.mp4    segment
//	{rendition}_{id}_{msn}.{n}.mp4 part n of segment msn
//
// {id} is the muxer's ID: media URIs never repeat across muxers of one
// stream, so CDNs may cache them as immutable.
const (
	// MultivariantName is the multivariant playlist's file name.
	MultivariantName = "index.m3u8"
	playlistExt      = ".m3u8"
	mediaExt         = ".mp4"
	initTag          = "init"
)

// Rendition names: the two tracks' media playlists.
const (
	RenditionVideo = "video"
	RenditionAudio = "audio"
)

// PlaylistName is the media playlist file of a rendition.
func PlaylistName(rendition string) string { return rendition + playlistExt }

func initName(rendition, id string, gen int) string {
	return rendition + "_" + id + "_" + initTag + strconv.Itoa(gen) + mediaExt
}

func segmentName(rendition, id string, msn int) string {
	return rendition + "_" + id + "_" + strconv.Itoa(msn) + mediaExt
}

func partName(rendition, id string, msn, part int) string {
	return rendition + "_" + id + "_" + strconv.Itoa(msn) + "." + strconv.Itoa(part) + mediaExt
}

type fileKind uint8

const (
	fileInit fileKind = iota + 1
	fileSegment
	filePart
)

// mediaName is a parsed media file name.
type mediaName struct {
	kind      fileKind
	rendition string
	id        string
	gen       int // init
	msn, part int // segment, part
}

// parseMediaName parses what initName, segmentName and partName make; ok is
// false for anything else.
func parseMediaName(name string) (mediaName, bool) {
	rest, ok := strings.CutSuffix(name, mediaExt)
	if !ok {
		return mediaName{}, false
	}
	rendition, rest, ok := strings.Cut(rest, "_")
	if !ok {
		return mediaName{}, false
	}
	id, rest, ok := strings.Cut(rest, "_")
	if !ok {
		return mediaName{}, false
	}
	n := mediaName{rendition: rendition, id: id}
	if g, ok := strings.CutPrefix(rest, initTag); ok {
		n.kind = fileInit
		n.gen, ok = parseIndex(g)
		return n, ok
	}
	msn, part, hasPart := strings.Cut(rest, ".")
	if n.msn, ok = parseIndex(msn); !ok {
		return mediaName{}, false
	}
	if !hasPart {
		n.kind = fileSegment
		return n, true
	}
	n.kind = filePart
	n.part, ok = parseIndex(part)
	return n, ok
}

// parseIndex accepts the decimal digits strconv.Itoa makes for a non-negative int.
func parseIndex(s string) (int, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.Atoi(s)
	return v, err == nil
}

// MediaKind names what a media file name made by the muxer is: "init",
// "segment" or "part"; "" for anything else. Origin's metrics classify
// requests with it.
func MediaKind(name string) string {
	n, ok := parseMediaName(name)
	if !ok {
		return ""
	}
	switch n.kind {
	case fileInit:
		return "init"
	case fileSegment:
		return "segment"
	case filePart:
		return "part"
	}
	return ""
}
