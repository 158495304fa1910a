#!/usr/bin/env bash
# Builds native llama.cpp from the same pinned source (CPU, cmake) plus our oracle program,
# the correctness reference for the WASM engine. Cached outside the checkout under a key
# over every input; prints the directory holding the binaries.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v cmake >/dev/null || apt_install cmake
command -v g++ >/dev/null || apt_install g++
ensure_llama_source

CMAKE_ARGS=(
  -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=ON -DGGML_OPENMP=OFF -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF
)
TARGETS=(llama mtmd llama-bench llama-gguf-split)
# The key covers what determines the output: sources, patches, flags, toolchain, machine (GGML_NATIVE).
KEY="$(cd "$ROOT" && hash_inputs tests/oracle/oracle.cpp engine/wasm/patches/*.patch "$LLAMA_COMMIT" \
  "$(g++ --version | head -1)" "${CMAKE_ARGS[*]}" "${TARGETS[*]}" "$(grep -m1 '^flags' /proc/cpuinfo)")"
OUT="$CACHE_DIR/native-$KEY"

if [ ! -x "$OUT/bin/oracle" ]; then
  log "building native llama.cpp (key $KEY); a cold build takes several minutes on 2 cores"
  start=$(date +%s)
  BUILD="$CACHE_DIR/native-build-$KEY"
  rm -rf "$BUILD" && mkdir -p "$BUILD"
  cmake -S "$LLAMA_SRC" -B "$BUILD" "${CMAKE_ARGS[@]}" > "$BUILD/configure.log" 2>&1 \
    || { tail -30 "$BUILD/configure.log" >&2; die "configure failed"; }
  cmake --build "$BUILD" -j"$(nproc)" --target "${TARGETS[@]}" > "$BUILD/build.log" 2>&1 \
    || { grep -E "error" "$BUILD/build.log" | head -30 >&2; die "compile failed"; }
  libs=$(find "$BUILD" -name '*.a' ! -name 'libcommon.a' | sort)
  mkdir -p "$BUILD/out/bin"
  g++ -O2 -std=c++17 -I"$LLAMA_SRC/include" -I"$LLAMA_SRC/ggml/include" -I"$LLAMA_SRC/tools/mtmd" \
    "$ROOT/tests/oracle/oracle.cpp" -Wl,--start-group $libs -Wl,--end-group -lpthread -ldl \
    -o "$BUILD/out/bin/oracle" || die "oracle link failed"
  cp "$BUILD/bin/llama-bench" "$BUILD/bin/llama-gguf-split" "$BUILD/out/bin/"
  rm -rf "$OUT" && mv "$BUILD/out" "$OUT" && rm -rf "$BUILD"
  log "built in $(( $(date +%s) - start )) s"
fi
echo "$OUT/bin"
