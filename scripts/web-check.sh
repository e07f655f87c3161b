#!/usr/bin/env bash
# web-check.sh rebuilds the web app from web/ (type check, then vite build)
# into a temporary directory and fails if it differs from the committed
# web/dist that `go build` embeds. After changing web/src, run
# `cd web && npm run build` and commit web/dist with the sources.
set -euo pipefail
cd "$(dirname "$0")/../web"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
npx tsc --noEmit
npx vite build --logLevel error --outDir "$tmp/dist" --emptyOutDir
if ! diff -r "$tmp/dist" dist; then
	echo "web-check: web/dist does not match web/src: run 'cd web && npm run build' and commit web/dist" >&2
	exit 1
fi
echo "web-check: web/dist matches the sources"
