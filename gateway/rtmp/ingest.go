package rtmp

import (
	"log/slog"
	"time"

	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"

	"github.com/frontrow-live/frontrow/packager"
)

const (
	// configWait is how long, from its first coded frame, a publisher whose
	// onMetaData announced a track may take to send that track's sequence
	// header before the stream starts without it. Encoders send both
	// sequence headers before any frame; this only bounds broken ones.
	configWait = 2 * time.Second
	// warnEvery rate-limits each kind of per-frame warning a session logs.
	warnEvery = 10 * time.Second
)

// unitSink is where a publication's units go: the stream's Publisher.
type unitSink interface {
	WriteUnit(packager.Unit) error
}

// publishFunc registers the publication with the tracks the ingest found.
// It returns where the units go and the wall-clock time of the stream
// clock's zero (the stream's epoch).
type publishFunc func(packager.Tracks) (unitSink, time.Time, error)

// ingestStats counts what a session did, for its closing log line.
type ingestStats struct {
	units, dropped, reanchors int
}

// ingest turns one RTMP publisher's media messages (gortmplib's parsed
// FLV tags, legacy and enhanced RTMP) into the stream's units: it learns the
// tracks from onMetaData and the sequence headers, publishes once their
// configuration is known, puts SPS and PPS in front of every IDR, and maps
// FLV timestamps to the stream clock (timeline). Nothing here touches the
// network, so the fuzz test drives it directly. Not safe for concurrent use.
type ingest struct {
	log     *slog.Logger
	publish publishFunc

	// What onMetaData announced; meta is false when it named no codec.
	meta                 bool
	wantVideo, wantAudio bool

	video      *videoConfig // nil until its sequence header came
	audio      *audioConfig
	firstFrame time.Time // arrival of the first coded frame while unpublished

	sink               unitSink // nil until published
	hasVideo, hasAudio bool     // the published tracks
	clock              *timeline
	bframes            bool
	badCTS             bool
	ignored            [2]bool // a track that came after publishing was reported
	otherTracks        bool    // enhanced-RTMP tracks other than 0 were reported
	warned             map[string]time.Time
	stats              ingestStats
}

func newIngest(log *slog.Logger, publish publishFunc) *ingest {
	return &ingest{log: log, publish: publish, warned: map[string]time.Time{}}
}

// published reports whether the publication has started.
func (in *ingest) published() bool { return in.sink != nil }

// handle takes one message read at arrival. An error ends the session: a
// *codecRefusal for media frontrow does not route, the publish error, or
// the sink's.
func (in *ingest) handle(msg message.Message, arrival time.Time) error {
	switch m := msg.(type) {
	case *message.DataAMF0:
		return in.metadata(m.Payload)

	case *message.Video:
		if m.Codec != message.CodecH264 {
			return refuseVideo(flvCodecName(flvVideoCodecs, int(m.Codec)))
		}
		switch m.Type {
		case message.VideoTypeConfig:
			if m.AVCConfig == nil {
				return nil
			}
			return in.setVideo(newVideoConfig(m.AVCConfig), arrival)
		case message.VideoTypeAU:
			return in.videoFrame(m.DTS, m.PTSDelta, m.AU, arrival)
		}
	case *message.VideoExSequenceStart:
		if m.FourCC != message.FourCCAVC {
			return refuseVideo(fourCCName(m.FourCC))
		}
		if m.AVCConfig == nil {
			return nil
		}
		return in.setVideo(newVideoConfig(m.AVCConfig), arrival)
	case *message.VideoExCodedFrames:
		if m.FourCC != message.FourCCAVC {
			return refuseVideo(fourCCName(m.FourCC))
		}
		return in.videoFrame(m.DTS, m.PTSDelta, m.Payload, arrival)
	case *message.VideoExFramesX: // no composition offset
		if m.FourCC != message.FourCCAVC {
			return refuseVideo(fourCCName(m.FourCC))
		}
		return in.videoFrame(m.DTS, 0, m.Payload, arrival)
	case *message.VideoExMultitrack:
		return in.multitrack(m.TrackID, m.Wrapped, arrival)

	case *message.Audio:
		if m.Codec != message.CodecMPEG4Audio {
			return refuseAudio(flvCodecName(flvAudioCodecs, int(m.Codec)))
		}
		if m.AACType == message.AudioAACTypeConfig {
			if m.AACConfig == nil {
				return nil
			}
			cfg, err := newAACConfig(m.AACConfig)
			if err != nil {
				in.warn(arrival, "rtmp: AAC sequence header unusable; ignored", "err", err)
				return nil
			}
			return in.setAudio(cfg, arrival)
		}
		return in.audioFrame(codecAAC, m.DTS, m.AU, arrival)
	case *message.AudioExSequenceStart:
		var cfg *audioConfig
		var err error
		switch {
		case m.FourCC == message.FourCCMP4A && m.AACConfig != nil:
			cfg, err = newAACConfig(m.AACConfig)
		case m.FourCC == message.FourCCOpus && m.OpusConfig != nil:
			cfg, err = newOpusConfig(m.OpusConfig)
		case m.FourCC == message.FourCCMP4A || m.FourCC == message.FourCCOpus:
			return nil
		default:
			return refuseAudio(fourCCName(m.FourCC))
		}
		if err != nil {
			return err
		}
		return in.setAudio(cfg, arrival)
	case *message.AudioExCodedFrames:
		switch m.FourCC {
		case message.FourCCMP4A:
			return in.audioFrame(codecAAC, m.DTS, m.Payload, arrival)
		case message.FourCCOpus:
			return in.audioFrame(codecOpus, m.DTS, m.Payload, arrival)
		}
		return refuseAudio(fourCCName(m.FourCC))
	case *message.AudioExMultitrack:
		return in.multitrack(m.TrackID, m.Wrapped, arrival)
	}
	// Sequence ends, multichannel configs, video metadata, control
	// messages: nothing the units need.
	return nil
}

// multitrack handles an enhanced-RTMP multitrack message: track 0 is the
// stream's; other tracks (alternative renditions, commentary) are ignored.
func (in *ingest) multitrack(id uint8, wrapped message.Message, arrival time.Time) error {
	switch wrapped.(type) {
	case *message.VideoExMultitrack, *message.AudioExMultitrack, nil:
		return nil
	}
	if id != 0 {
		if !in.otherTracks {
			in.otherTracks = true
			in.log.Warn("rtmp: enhanced-RTMP multitrack: only track 0 is used, the others are ignored", "track", id)
		}
		return nil
	}
	return in.handle(wrapped, arrival)
}

// metadata reads onMetaData (sent as "@setDataFrame", "onMetaData", {...}):
// the codecs it names are refused at once if frontrow cannot route them, and
// tell which sequence headers to wait for.
func (in *ingest) metadata(payload amf0.Data) error {
	if in.published() {
		return nil
	}
	var obj amf0.Object
	found := false
	for i, v := range payload {
		if s, ok := v.(string); ok && s == "onMetaData" && i+1 < len(payload) {
			obj, found = objectOrArray(payload[i+1])
		}
	}
	if !found {
		return nil
	}
	if v, ok := obj.Get("videocodecid"); ok {
		if name, ok := metadataCodec(v, flvVideoCodecs); ok {
			if !videoSupported(name) {
				return refuseVideo(name)
			}
			in.meta, in.wantVideo = true, true
		}
	}
	if v, ok := obj.Get("audiocodecid"); ok {
		if name, ok := metadataCodec(v, flvAudioCodecs); ok {
			if !audioSupported(name) {
				return refuseAudio(name)
			}
			in.meta, in.wantAudio = true, true
		}
	}
	return nil
}

func objectOrArray(v any) (amf0.Object, bool) {
	switch o := v.(type) {
	case amf0.Object:
		return o, true
	case amf0.ECMAArray:
		return amf0.Object(o), true
	}
	return nil, false
}

// ready reports whether the publication can start: every announced track
// has its configuration; without announcements, both tracks have one or the
// media has begun (frame). An announced track that never gets configured is
// given up configWait after the first frame.
func (in *ingest) ready(frame bool, arrival time.Time) bool {
	if in.video == nil && in.audio == nil {
		return false
	}
	if in.meta {
		if (!in.wantVideo || in.video != nil) && (!in.wantAudio || in.audio != nil) {
			return true
		}
		return frame && arrival.Sub(in.firstFrame) >= configWait
	}
	return in.video != nil && in.audio != nil || frame
}

// begin starts the publication when a coded frame arrives, if it can; it
// reports whether the publication is on.
func (in *ingest) begin(arrival time.Time) (bool, error) {
	if in.published() {
		return true, nil
	}
	if in.firstFrame.IsZero() {
		in.firstFrame = arrival
	}
	if !in.ready(true, arrival) {
		return false, nil
	}
	return true, in.start()
}

// start publishes the configured tracks.
func (in *ingest) start() error {
	var tracks packager.Tracks
	if in.video != nil {
		tracks.Video = &packager.VideoInfo{}
	}
	if in.audio != nil {
		a := in.audio.info
		tracks.Audio = &a
	}
	sink, epoch, err := in.publish(tracks)
	if err != nil {
		return err
	}
	in.sink, in.clock = sink, newTimeline(epoch)
	in.hasVideo, in.hasAudio = in.video != nil, in.audio != nil
	audio := "none"
	if in.audio != nil {
		audio = in.audio.String()
	}
	video := "none"
	if in.video != nil {
		video = codecH264
	}
	if in.meta && in.wantVideo && in.video == nil || in.meta && in.wantAudio && in.audio == nil {
		in.log.Warn("rtmp: a track onMetaData announced sent no sequence header in time; publishing without it",
			"video", video, "audio", audio)
	}
	// The stream's "publish" line says what each tier gets (the audio
	// bridge transcodes AAC for WebRTC and Opus for HLS).
	in.log.Info("rtmp: publishing", "video", video, "audio", audio)
	return nil
}

// mapTime puts a unit's DTS on the stream clock; ok is false when the unit
// must be dropped.
func (in *ingest) mapTime(kind packager.Kind, src time.Duration, arrival time.Time) (time.Duration, bool) {
	out, ev := in.clock.Map(kind, src, arrival)
	switch {
	case ev.dropped():
		in.stats.dropped++
		return 0, false
	case ev != timelineOK:
		in.stats.reanchors++
		in.warn(arrival, "rtmp: encoder timestamps jumped; taken as a discontinuity, the stream clock continues",
			"track", kind.String(), "reason", ev.String(), "source_ts", src)
	}
	return out, true
}

func (in *ingest) write(u packager.Unit) error {
	if err := in.sink.WriteUnit(u); err != nil {
		return err
	}
	in.stats.units++
	return nil
}

// ignoreTrack reports, once, a track whose configuration came only after
// the publication started without it.
func (in *ingest) ignoreTrack(kind packager.Kind) {
	if in.ignored[kind&1] {
		return
	}
	in.ignored[kind&1] = true
	in.log.Warn("rtmp: track began after publishing started without it; ignored until the encoder reconnects",
		"track", kind.String())
}

// warn logs msg at most once per warnEvery (per message text).
func (in *ingest) warn(now time.Time, msg string, args ...any) {
	last, ok := in.warned[msg]
	if ok && now.Sub(last) < warnEvery {
		return
	}
	in.warned[msg] = now
	in.log.Warn(msg, args...)
}
