#!/usr/bin/env bash
# The main job: the OpenAI/Ollama-compatible server. Bootstraps what it needs (npm deps,
# emscripten, the wasm build, the bundles), then runs `serve` on Node.js. Without arguments it
# serves the official MiniCPM-V 4.6 pair (downloaded into the model cache on first use);
# arguments are passed to `serve` (e.g. --model FILE --mmproj FILE), or name another command
# (`npm start -- bench`).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_npm_deps
bash scripts/build-wasm.sh >/dev/null
bash scripts/build-ffmpeg.sh >/dev/null
node scripts/bundle.mjs
case "${1:-}" in
  ""|-*) set -- serve "$@" ;;
esac
if [ "${1:-}" = "tiny" ]; then # the tiny test pair: a quick look without downloading anything
  models="$(bash scripts/test-models.sh)"
  shift
  set -- serve --model "$models/tiny-llm.gguf" --mmproj "$models/tiny-mmproj-16x.gguf" "$@"
fi
exec node dist/node/cli.js "$@"
