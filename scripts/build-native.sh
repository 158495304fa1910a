#!/usr/bin/env bash
# Builds native llama.cpp from the same pinned source (CPU, cmake) plus our reference programs
# (tests/oracle/*.cpp), the correctness oracle for the WASM engine. Two cached stages outside the
# checkout: the llama.cpp build (keyed by source, patches, flags, compiler, CPU) and the
# reference programs (keyed by that and their sources). Prints the directory of the binaries.
# MCE_NATIVE_CPU=avx2 builds for AVX2/FMA/F16C only instead of this CPU's best (the bench's
# second native baseline on machines with AVX-512).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v cmake >/dev/null || apt_install cmake
command -v g++ >/dev/null || apt_install g++
ensure_llama_source pristine

case "${MCE_NATIVE_CPU:-native}" in
  native) CPU_ARGS=(-DGGML_NATIVE=ON) ;;
  avx2) CPU_ARGS=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON) ;;
  *) die "MCE_NATIVE_CPU must be native or avx2" ;;
esac
CMAKE_ARGS=(
  -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=OFF "${CPU_ARGS[@]}" -DGGML_OPENMP=OFF -DLLAMA_OPENSSL=OFF
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF
)
TARGETS=(llama mtmd llama-bench llama-gguf-split)

# ---- stage 1: llama.cpp (GGML_NATIVE: the key includes this CPU's flags) -------------------
LIBS_KEY="$(cd "$ROOT" && hash_inputs "$LLAMA_COMMIT" \
  "$(g++ --version | sed -n 1p)" "${CMAKE_ARGS[*]}" "${TARGETS[*]}" "$(grep -m1 '^flags' /proc/cpuinfo)")"
LIBS="$CACHE_DIR/native-libs-$LIBS_KEY"
if [ ! -f "$LIBS/.done" ]; then
  log "building native llama.cpp (key $LIBS_KEY); about 8 minutes on 2 cores"
  start=$(date +%s)
  mkdir -p "$LIBS"
  cmake -S "$LLAMA_SRC" -B "$LIBS" "${CMAKE_ARGS[@]}" > "$LIBS/configure.log" 2>&1 \
    || { tail -30 "$LIBS/configure.log" >&2; die "configure failed"; }
  cmake --build "$LIBS" -j"$(nproc)" --target "${TARGETS[@]}" > "$LIBS/build.log" 2>&1 \
    || { grep -E "error" "$LIBS/build.log" | head -30 >&2; die "compile failed"; }
  touch "$LIBS/.done"
  log "built in $(( $(date +%s) - start )) s"
fi

# ---- stage 2: reference programs -----------------------------------------------------------
KEY="$(cd "$ROOT" && hash_inputs tests/oracle/*.cpp "$LIBS_KEY")"
OUT="$CACHE_DIR/native-$KEY"
if [ ! -x "$OUT/bin/resize" ]; then
  log "compiling the reference programs (key $KEY)"
  TMP="$OUT.tmp" && rm -rf "$TMP" && mkdir -p "$TMP/bin"
  libs=$(find "$LIBS" -name '*.a' ! -name 'libllama-common*.a' ! -name 'libcommon.a' | sort)
  cxx=(g++ -O2 -std=c++17 -I"$LLAMA_SRC/include" -I"$LLAMA_SRC/ggml/include" -I"$LLAMA_SRC/tools/mtmd")
  "${cxx[@]}" "$ROOT/tests/oracle/oracle.cpp" -Wl,--start-group $libs -Wl,--end-group -lpthread -ldl \
    -o "$TMP/bin/oracle" || die "oracle link failed"
  # resize.cpp includes mtmd-image.cpp itself; the archive's copy is then not pulled in
  "${cxx[@]}" "$ROOT/tests/oracle/resize.cpp" -Wl,--start-group $libs -Wl,--end-group -lpthread -ldl \
    -o "$TMP/bin/resize" || die "resize harness link failed"
  cp "$LIBS/bin/llama-bench" "$LIBS/bin/llama-gguf-split" "$TMP/bin/"
  rm -rf "$OUT" && mv "$TMP" "$OUT"
fi
touch "$LIBS" "$OUT" # most recently used
prune_cache "native-libs-????????????????" 3
prune_cache "native-????????????????" 4
echo "$OUT/bin"
