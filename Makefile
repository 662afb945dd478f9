# frontrow: the two commands a fresh machine needs are `make run` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
HLSJS    := player/static/vendor/hls.min.js
PKGS     := ./...

.PHONY: all build run test test-short lint fmt vet clean player

all: build

# The player embeds hls.js from npm (pinned in player/package-lock.json).
$(HLSJS): player/package.json player/package-lock.json
	sh player/build.sh

player: $(HLSJS)

build: $(HLSJS)
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/frontrow ./cmd/frontrow

# Starts the gateway with the default config: a demo stream, watch it at http://localhost:8080/
run: build
	./bin/frontrow serve --config configs/frontrow.yaml

test: $(HLSJS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

test-short: $(HLSJS)
	$(GO) test -short -count=1 $(PKGS)

lint: $(HLSJS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin player/node_modules player/static/vendor
