#!/usr/bin/env bash
# deps.sh installs what building and testing silo needs on a fresh Debian
# machine, and nothing that is already there. Run as root (or with sudo).
#
#   scripts/deps.sh run    # Go toolchain only: enough to build and run silo
#   scripts/deps.sh test   # plus PostgreSQL, Node.js and npm packages for the tests
set -euo pipefail
what=${1:-run}
log() { echo "deps: $*" >&2; }

export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
need_apt=()
command -v go >/dev/null || need_apt+=(golang-go)
command -v git >/dev/null || need_apt+=(git)
if [ "$what" = test ]; then
	command -v node >/dev/null || need_apt+=(nodejs)
	command -v npm >/dev/null || need_apt+=(npm)
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need_apt+=(postgresql)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
	SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
	log "installing Debian packages: ${need_apt[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Debian's Go may be older than go.mod asks; the go command then fetches
# the toolchain go.mod names from the module proxy (GOTOOLCHAIN=auto).
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
go version >&2
log "downloading the Go modules the build and tests use"
go list -deps -test ./... >/dev/null
if [ "$what" = test ]; then
	log "installing npm packages for the SDK tests"
	(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
	log "installing llama.cpp's prebuilt CPU build (npm node-llama-cpp) for the logits cross-check"
	# Its lockfile cannot list the other platforms' optional binaries that
	# npm ci insists on; package.json pins the versions instead.
	(cd internal/engine/llama/testdata/llamacpp &&
		npm install --no-audit --no-fund --omit=optional --no-package-lock --loglevel=error)
fi
