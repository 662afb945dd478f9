# frontrow: the two commands a fresh machine needs are `make run` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
HLSJS    := player/static/vendor/hls.min.js
PKGS     := ./...

.PHONY: all build run test test-short fuzz-smoke bench lint fmt vet clean player

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

# The race-enabled suite, then the LL-HLS latency measurement alone and
# without the race detector (it skips itself under -race). Tests that skip
# for a missing real client (ffmpeg, Chromium, node; CI=true fails them
# instead) note it in SKIPPED_CLIENTS_LOG, and the last line prints them and
# the command that installs them.
test: export SKIPPED_CLIENTS_LOG := $(CURDIR)/bin/test-skipped-clients.txt
test: $(HLSJS)
	@mkdir -p bin && rm -f "$$SKIPPED_CLIENTS_LOG"
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(GO) test -count=1 -timeout 5m -run '^(TestPlayerLLHLSLatency|TestPublisherRamp)$$' ./e2e
	$(GO) test -count=1 -timeout 5m -run '^TestAllocs' $$(grep -rl --include='*_test.go' --exclude-dir=node_modules 'testing.AllocsPerRun' . | xargs -n1 dirname | sort -u)
	@sh scripts/report-skipped-clients.sh "$$SKIPPED_CLIENTS_LOG"

# The load benchmark (WebRTC fan-out, LL-HLS origin, per-stream costs):
# prints the tables and writes them into BENCHMARKS.md. BENCH_FLAGS adds
# flags, e.g. BENCH_FLAGS='-steps 50,200 -hold 5s'.
BENCH_FLAGS ?=
bench: build
	$(GO) build -trimpath -o bin/frontrow-bench ./cmd/frontrow-bench
	./bin/frontrow-bench -gateway bin/frontrow $(BENCH_FLAGS)

# Every fuzz target, briefly (CI): go test -fuzz takes one target at a time.
FUZZTIME ?= 4s
fuzz-smoke:
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for f in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do \
	  for fn in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$f | cut -d' ' -f2); do \
	    echo "fuzz $$fn ./$$(dirname $$f) for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) ./$$(dirname $$f) >$$log 2>&1 || { cat $$log; exit 1; }; \
	  done; \
	done

test-short: $(HLSJS)
	$(GO) test -short -count=1 $(PKGS)

lint: $(HLSJS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin player/node_modules player/static/vendor
