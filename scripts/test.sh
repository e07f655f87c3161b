#!/usr/bin/env bash
# test.sh runs every test of silo, as CI does: it installs what the tests
# need (scripts/deps.sh test), starts a throwaway PostgreSQL on loopback,
# then runs go vet, staticcheck and the whole suite with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
scripts/deps.sh test
# deps.sh may have fetched a newer Go than the system's.
if [ -f "$HOME/.silo-go-env" ]; then . "$HOME/.silo-go-env"; fi
go install filippo.io/age/cmd/...@v1.3.2 # the stock age tool, for the sealed-export test (internal/cli)

eval "$(scripts/pg-test.sh)"
trap 'scripts/pg-test.sh stop >/dev/null 2>&1 || true' EXIT
# Tests that need PostgreSQL, node or other real components fail rather
# than skip when CI is set.
export CI=${CI:-true}

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then echo "not gofmt-ed:"; echo "$unformatted"; exit 1; fi
echo "== web app: the embedded build matches web/src"
scripts/web-check.sh
echo "== go vet"
go vet ./...
echo "== staticcheck"
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
# The built-in engine's logits are checked against real llama.cpp.
export SILO_LLAMACPP=1
echo "== go test (allocation checks, which the race detector's sync.Pool defeats)"
go test -count=1 -run 'Allocs' ./internal/engine/kernels/
echo "== go test -race"
go test -race -timeout 40m ./... 2>&1 | tee /tmp/silo-test.log
