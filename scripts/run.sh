#!/usr/bin/env bash
# run.sh installs what silo needs, builds it, and starts a server on
# https://127.0.0.1:8443 with a model to talk to.
#
# Until the signed model catalog lands, the default model is a small
# generated one (deterministic random weights over a real 32k vocabulary):
# it proves the whole path works but talks nonsense. Put a real GGUF in
# the models directory (or give its path in SILO_MODEL) to chat for real.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$HOME/go/bin:$PATH"
scripts/deps.sh run
CGO_ENABLED=0 go build -trimpath -o bin/silo ./cmd/silo

data=${SILO_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/silo}
models=$data/models
mkdir -p "$models"
if [ -n "${SILO_MODEL:-}" ]; then
	cp -n "$SILO_MODEL" "$models/"
fi
if ! ls "$models"/*.gguf >/dev/null 2>&1; then
	echo "run: no model in $models; generating the demo model (random weights: it talks nonsense)" >&2
	echo "run: hint: copy a real GGUF (e.g. a Qwen2.5 or Llama 3.2 instruct Q8_0/Q4_0) into $models" >&2
	bin/silo dev gen-model --type Q8_0 --hidden 256 --layers 4 --heads 8 --kv-heads 4 --name silo-demo "$models/silo-demo.gguf"
fi
exec bin/silo serve --data-dir "$data" "$@"
