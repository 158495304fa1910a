#!/usr/bin/env bash
# Builds llama.cpp + mtmd + engine/wasm/glue.cpp to multithreaded WASM SIMD, in two cached
# stages outside the checkout: the llama.cpp static libraries (keyed by source, patches, flags,
# toolchain) and the final link (keyed by the libraries, the glue and the link flags). The
# result is copied to dist/wasm/. Same inputs give a byte-identical .wasm.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v emcc >/dev/null || apt_install emscripten
EMCC_VERSION="$(emcc --version | sed -n 1p)" # sed reads to the end: no SIGPIPE under pipefail
ensure_llama_source
export NODE_PATH=/usr/share/nodejs # emscripten's JS optimizer needs Debian's acorn

COMPILE_FLAGS="-pthread -msimd128 -fexceptions"
# __FILE__ (in GGML_ASSERT) must not depend on where the source lives: reproducible output
PATH_FLAGS="-fmacro-prefix-map=$LLAMA_SRC/=llama.cpp/ -fmacro-prefix-map=$ROOT/=minicpmv-edge/"
# vendored xxhash would include <arm_neon.h> (emscripten's SIMDe shim), which Debian lacks
C_ONLY_FLAGS="-include $ROOT/engine/wasm/xxhash-scalar.h"
CMAKE_ARGS=(
  -DCMAKE_BUILD_TYPE=Release -DEMSCRIPTEN_SYSTEM_PROCESSOR=wasm32 -DBUILD_SHARED_LIBS=OFF -DLLAMA_WASM_MEM64=OFF
  -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_HTML=OFF -DLLAMA_BUILD_MTMD=ON
  -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DGGML_WEBGPU=OFF
)
LINK_FLAGS=(
  -O3 -pthread -msimd128 -fexceptions
  -sMODULARIZE=1 -sEXPORT_ES6=1 -sEXPORT_NAME=createMceModule
  -sENVIRONMENT=web,worker,node
  -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=4GB -sINITIAL_MEMORY=64MB
  -sMALLOC=emmalloc           # dlmalloc refuses single allocations >= 2 GiB
  -sTOTAL_STACK=8MB -sDEFAULT_PTHREAD_STACK_SIZE=2MB
  -sPTHREAD_POOL_SIZE=Module.mcePoolSize  # set by the TS loader from the thread count
  -sFORCE_FILESYSTEM=1
  -sEXPORTED_FUNCTIONS=_malloc,_free
  -sEXPORTED_RUNTIME_METHODS=FS,UTF8ToString,stringToUTF8,lengthBytesUTF8
)

# ---- stage 1: llama.cpp static libraries -------------------------------------------------
LIBS_KEY="$(cd "$ROOT" && hash_inputs engine/wasm/xxhash-scalar.h engine/wasm/patches/*.patch \
  "$LLAMA_COMMIT" "$EMCC_VERSION" "$COMPILE_FLAGS" "${CMAKE_ARGS[*]}" "source paths mapped")"
LIBS="$CACHE_DIR/wasm-libs-$LIBS_KEY"
if [ ! -f "$LIBS/.done" ]; then
  log "compiling llama.cpp for wasm (key $LIBS_KEY); about 5 minutes on 2 cores"
  start=$(date +%s)
  mkdir -p "$LIBS"
  emcmake cmake -S "$LLAMA_SRC" -B "$LIBS" "${CMAKE_ARGS[@]}" \
    -DCMAKE_C_FLAGS="$COMPILE_FLAGS $PATH_FLAGS $C_ONLY_FLAGS" -DCMAKE_CXX_FLAGS="$COMPILE_FLAGS $PATH_FLAGS" \
    > "$LIBS/configure.log" 2>&1 \
    || { tail -30 "$LIBS/configure.log" >&2; die "configure failed"; }
  # Without EMSCRIPTEN_SYSTEM_PROCESSOR=wasm32 ggml silently takes its generic (slow) CPU path.
  grep -q "Wasm detected" "$LIBS/configure.log" || die "ggml did not select its wasm CPU path"
  cmake --build "$LIBS" -j"$(nproc)" --target llama mtmd > "$LIBS/build.log" 2>&1 \
    || { grep -E "error" "$LIBS/build.log" | head -30 >&2; die "compile failed"; }
  touch "$LIBS/.done"
  log "compiled in $(( $(date +%s) - start )) s"
fi

# ---- stage 2: link with the glue -----------------------------------------------------------
# llama.cpp's JSON-schema -> grammar converter (common/ is not in the libraries above)
COMMON_SOURCES=(json-schema-to-grammar json-schema json trie unicode)
KEY="$(cd "$ROOT" && hash_inputs engine/wasm/glue.cpp engine/wasm/common-strings.cpp "$LIBS_KEY" "${LINK_FLAGS[*]}" "${COMMON_SOURCES[*]}")"
OUT="$CACHE_DIR/wasm-$KEY"
DEST="$ROOT/dist/wasm"
if [ ! -f "$OUT/minicpmv-edge.wasm" ]; then
  log "linking wasm (key $KEY); about 2 minutes"
  start=$(date +%s)
  TMP="$OUT.tmp" && rm -rf "$TMP" && mkdir -p "$TMP"
  libs=$(find "$LIBS" -name '*.a' | sort)
  common_files=()
  for f in "${COMMON_SOURCES[@]}"; do common_files+=("$LLAMA_SRC/common/$f.cpp"); done
  em++ $COMPILE_FLAGS $PATH_FLAGS -O3 -I"$LLAMA_SRC/include" -I"$LLAMA_SRC/ggml/include" -I"$LLAMA_SRC/tools/mtmd" \
    -I"$LLAMA_SRC/common" -I"$LLAMA_SRC/vendor" \
    "$ROOT/engine/wasm/glue.cpp" "$ROOT/engine/wasm/common-strings.cpp" \
    "${common_files[@]}" \
    -Wl,--start-group $libs -Wl,--end-group \
    "${LINK_FLAGS[@]}" -o "$TMP/minicpmv-edge.mjs" > "$TMP/link.log" 2>&1 \
    || { tail -30 "$TMP/link.log" >&2; die "link failed"; }
  rm "$TMP/link.log"
  echo "$KEY" > "$TMP/build-key"
  rm -rf "$OUT" && mv "$TMP" "$OUT"
  log "linked in $(( $(date +%s) - start )) s: $(du -h "$OUT/minicpmv-edge.wasm" | cut -f1)"
fi

if ! cmp -s "$OUT/build-key" "$DEST/build-key" 2>/dev/null; then
  rm -rf "$DEST" && mkdir -p "$DEST" && cp "$OUT"/* "$DEST/"
fi
touch "$LIBS" "$OUT" # most recently used
prune_cache "wasm-libs-????????????????" 2
prune_cache "wasm-????????????????" 3
# Not part of the emscripten output: copied on every run so edits need no rebuild.
cp "$ROOT/engine/wasm/pthread-bootstrap.cjs" "$DEST/"
echo "$DEST"
