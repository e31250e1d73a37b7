# mirrorkit — build and test. `make test` is what CI runs (see .ci/run).

GO       ?= go
PKG      := github.com/mirrorkit/mirrorkit
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT   ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -s -w -X $(PKG)/internal/buildinfo.version=$(VERSION) -X $(PKG)/internal/buildinfo.commit=$(COMMIT)
# How long each fuzz target runs in `make test`; `make fuzz FUZZTIME=5m` digs deeper.
FUZZTIME ?= 5s

.PHONY: all build test check unit fuzz bench demo clean

all: build

# One static binary: no cgo, so it runs on any Linux of the same architecture.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/mirrorkit ./cmd/mirrorkit

test: check unit fuzz

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt -l reports:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/mirrorkit

# -race needs cgo (gcc) for the test binaries only; the shipped binary has none.
unit:
	$(GO) test -race -count=1 ./...

# Every fuzz target, briefly; their seed corpora also run in `unit`.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz-all

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

demo:
	$(GO) run ./cmd/mirrorkit demo

clean:
	rm -rf bin
