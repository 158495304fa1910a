#!/usr/bin/env bash
# Writes the tiny test models (single file, 3-shard split set, 16x and 4x mmproj, the K-quant
# tiny-q4k pair) into the build cache, keyed by the generator's sources, with the test media
# (test-1.jpeg, test-3.mp4) of the pinned llama.cpp source beside them; prints the directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
ensure_llama_source
KEY="$(cd "$ROOT" && hash_inputs engine/ts/tiny-model/*.ts engine/ts/gguf/*.ts)"
OUT="$CACHE_DIR/test-models-$KEY"
if [ ! -f "$OUT/.done" ]; then
  log "writing tiny test models to $OUT"
  rm -rf "$OUT" && mkdir -p "$OUT/split" "$OUT/4x"
  vocab="$LLAMA_SRC/models/ggml-vocab-qwen35.gguf"
  cli=(npx bun "$ROOT/cli.ts" tiny-model --vocab "$vocab")
  "${cli[@]}" --out "$OUT" >&2
  "${cli[@]}" --out "$OUT/split" --shards 3 >&2
  "${cli[@]}" --out "$OUT/4x" --mode 4x >&2
  "${cli[@]}" --out "$OUT" --quantized >&2 # tiny-q4k-*: Q4_K/Q6_K/Q8_0 matrices, for kernel parity
  touch "$OUT/.done"
fi
# real test media from the pinned llama.cpp source
[ -f "$OUT/test-1.jpeg" ] || cp "$LLAMA_SRC/tools/mtmd/test-1.jpeg" "$LLAMA_SRC/tools/mtmd/test-3.mp4" "$OUT/"
touch "$OUT"
prune_cache "test-models-????????????????" 2
echo "$OUT"
