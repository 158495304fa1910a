#!/usr/bin/env bash
# The main job. Bootstraps what it needs (npm deps, emscripten, the wasm build, the bundles,
# the tiny test models) and runs the CLI on Node.js. Until the HTTP server lands it generates
# with the tiny model; arguments replace the default ones.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_npm_deps
bash scripts/build-wasm.sh >/dev/null
node scripts/bundle.mjs
models="$(bash scripts/test-models.sh)"
if [ $# -eq 0 ]; then
  set -- generate --model "$models/tiny-llm.gguf" --prompt "Describe a sunset in one sentence." --max-tokens 32
fi
exec node dist/node/cli.js "$@"
