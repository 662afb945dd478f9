package app

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/frontrow-live/frontrow/gateway/demo"
	"github.com/frontrow-live/frontrow/gateway/stream"
	"github.com/frontrow-live/frontrow/testdata"
)

// demoRetry is how long the demo waits before publishing again when the
// name is taken (someone else publishes "demo") or its run failed.
const demoRetry = 2 * time.Second

// runDemo publishes the looping demo stream through the same ingest path as
// WHIP until ctx is done.
func (a *App) runDemo(ctx context.Context) {
	src, err := demo.NewSource(bytes.NewReader(testdata.DemoMP4))
	if err != nil {
		a.log.Error("demo: read file", "err", err)
		return
	}
	for ctx.Err() == nil {
		pub, err := a.registry.Publish(DemoStream, stream.PublishRequest{
			Tracks: src.Tracks(), Protocol: "demo", Remote: "in-process", RequestKeyframe: src.RequestKeyframe,
		})
		if err == nil {
			err = src.Run(ctx, pub)
			pub.CloseWithReason("demo stopped")
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			a.log.Warn("demo: publish", "err", err, "retry", demoRetry)
		}
		select {
		case <-ctx.Done():
		case <-time.After(demoRetry):
		}
	}
}
