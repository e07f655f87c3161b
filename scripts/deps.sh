#!/usr/bin/env bash
# deps.sh installs what building and testing silo needs on a fresh Debian
# machine, and nothing that is already there. Run as root (or with sudo).
#
#   scripts/deps.sh run    # Go toolchain only: enough to build and run silo
#   scripts/deps.sh test   # plus PostgreSQL, Node.js, Chromium, swtpm and npm packages for the tests
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
	[ -x /usr/bin/chromium ] || need_apt+=(chromium)
	command -v swtpm >/dev/null || need_apt+=(swtpm) # a software TPM for the attestation tests
fi
if [ ${#need_apt[@]} -gt 0 ]; then
	SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
	log "installing Debian packages: ${need_apt[*]}"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
# Debian's Go (1.19 on bookworm) is older than go.mod asks and too old to
# switch toolchains itself, so fetch the Go toolchain go.mod names from the
# Go module proxy (golang.org/toolchain) into ~/.local/go and use that.
want=$(sed -n 's/^go \([0-9.]*\)$/\1/p' go.mod)
have=$(go env GOVERSION 2>/dev/null | sed 's/^go//')
if [ "$(printf '%s\n%s\n' "$want" "$have" | sort -V | head -1)" != "$want" ]; then
	dest="$HOME/.local/go$want"
	if [ ! -x "$dest/bin/go" ]; then
		log "fetching Go $want from the module proxy (have ${have:-none})"
		tmp=$(mktemp -d)
		arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
		(cd "$tmp" && GOPATH="$tmp/gopath" GOMODCACHE="$tmp/gopath/pkg/mod" GOFLAGS=-modcacherw go mod init bootstrap >/dev/null 2>&1 &&
			GOPATH="$tmp/gopath" GOMODCACHE="$tmp/gopath/pkg/mod" GOFLAGS=-modcacherw go mod download golang.org/toolchain@v0.0.1-go$want.linux-$arch)
		rm -rf "$dest" && mkdir -p "$(dirname "$dest")"
		cp -r "$tmp/gopath/pkg/mod/golang.org/toolchain@v0.0.1-go$want.linux-$arch" "$dest"
		chmod -R u+w "$dest" && chmod +x "$dest"/bin/* "$dest"/pkg/tool/*/*
		chmod -R u+w "$tmp" && rm -rf "$tmp"
	fi
	export GOROOT="$dest" PATH="$dest/bin:$PATH"
	# The callers (run.sh, test.sh) source this to use the same Go.
	echo "export GOROOT=$dest PATH=$dest/bin:\$PATH" > "$HOME/.silo-go-env"
else
	rm -f "$HOME/.silo-go-env"
fi
export GOTOOLCHAIN=local
go version >&2
log "downloading the Go modules the build and tests use"
go list -deps -test ./... >/dev/null
if [ "$what" = test ]; then
	log "installing npm packages for the SDK tests"
	(cd tests/js && npm ci --no-audit --no-fund --loglevel=error)
	log "installing npm packages for the web app's build check and its browser tests (playwright-core)"
	(cd web && npm ci --no-audit --no-fund --loglevel=error)
	(cd tests/web && npm ci --no-audit --no-fund --loglevel=error)
	log "installing llama.cpp's prebuilt CPU build (npm node-llama-cpp) for the logits cross-check"
	# Its lockfile cannot list the other platforms' optional binaries that
	# npm ci insists on; package.json pins the versions instead.
	(cd internal/engine/llama/testdata/llamacpp &&
		npm install --no-audit --no-fund --omit=optional --no-package-lock --loglevel=error)
fi
