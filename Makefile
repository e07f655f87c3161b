# silo: the two commands of the README, and a few for developers.
.PHONY: run test build

GO ?= go
export PATH := /usr/local/go/bin:$(HOME)/go/bin:$(PATH)

# Install what silo needs, build it, and start a server with a default model.
run:
	scripts/run.sh

# Install what the tests need and run every test (what CI runs).
test:
	scripts/test.sh

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/silo ./cmd/silo
