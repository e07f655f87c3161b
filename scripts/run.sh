#!/usr/bin/env bash
# run.sh installs what silo needs, builds it, and starts a server on
# https://127.0.0.1:8443 with a model to talk to.
#
# With no model yet, it pulls the signed catalog's default model (a small
# instruct GGUF from Hugging Face, checked against the catalog's digest or
# pinned on first use in the transparency log). Offline, it says in one line
# how to import a GGUF and falls back to a small generated demo model
# (deterministic random weights: it proves the whole path works but talks
# nonsense). SILO_MODEL=FILE copies a GGUF of your own in instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
scripts/deps.sh run
# deps.sh may have fetched a newer Go than the system's.
if [ -f "$HOME/.silo-go-env" ]; then . "$HOME/.silo-go-env"; fi
CGO_ENABLED=0 go build -trimpath -o bin/silo ./cmd/silo

data=${SILO_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/silo}
models=$data/models
mkdir -p "$models"
if [ -n "${SILO_MODEL:-}" ]; then
	cp -n "$SILO_MODEL" "$models/"
fi
if ! ls "$models"/*.gguf >/dev/null 2>&1; then
	echo "run: no model in $models; pulling the catalog's default model" >&2
	errf=$(mktemp)
	# stderr (progress, errors) is shown as it comes and kept to tell why a pull failed.
	if ! { bin/silo models pull --default --data-dir "$data" --connect-timeout 10s 2>&1 1>&3 | tee "$errf" >&2; } 3>&1; then
		offline=$(grep -c "cannot reach the download server" "$errf" || true)
		rm -f "$errf"
		if [ "$offline" = 0 ]; then
			echo "run: the default model was refused (see above); not starting" >&2
			exit 1
		fi
		echo "run: offline: import a GGUF with 'bin/silo models import FILE.gguf' (or SILO_MODEL=FILE make run); starting with the generated demo model meanwhile (random weights: it talks nonsense)" >&2
		bin/silo dev gen-model --type Q8_0 --hidden 256 --layers 4 --heads 8 --kv-heads 4 --name silo-demo "$models/silo-demo.gguf"
	fi
	rm -f "$errf"
fi
exec bin/silo serve --data-dir "$data" "$@"
