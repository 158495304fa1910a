#!/usr/bin/env bash
# Builds llama.cpp + mtmd + engine/wasm/glue.cpp to multithreaded WASM SIMD.
# The result is cached outside the checkout under a key over every input and is
# copied to dist/wasm/. Same inputs give a byte-identical .wasm.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v emcc >/dev/null || apt_install emscripten
EMCC_VERSION="$(emcc --version | head -1)"
ensure_llama_source

# Flags are part of the cache key: change them here and the next build is fresh.
COMPILE_FLAGS="-pthread -msimd128 -fexceptions"
C_ONLY_FLAGS="-include $ROOT/engine/wasm/xxhash-scalar.h"
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

CMAKE_ARGS=(
  -DCMAKE_BUILD_TYPE=Release -DEMSCRIPTEN_SYSTEM_PROCESSOR=wasm32 -DBUILD_SHARED_LIBS=OFF -DLLAMA_WASM_MEM64=OFF
  -DLLAMA_BUILD_COMMON=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_HTML=OFF -DLLAMA_BUILD_MTMD=ON
  -DLLAMA_OPENSSL=OFF -DGGML_NATIVE=OFF -DGGML_OPENMP=OFF -DGGML_WEBGPU=OFF
)

# The key covers what determines the output: sources, patches, flags, toolchain.
KEY="$(cd "$ROOT" && hash_inputs engine/wasm/glue.cpp engine/wasm/xxhash-scalar.h engine/wasm/patches/*.patch \
  "$LLAMA_COMMIT" "$EMCC_VERSION" "$COMPILE_FLAGS" "${CMAKE_ARGS[*]}" "${LINK_FLAGS[*]}")"
OUT="$CACHE_DIR/wasm-$KEY"
DEST="$ROOT/dist/wasm"

if [ ! -f "$OUT/minicpmv-edge.wasm" ]; then
  log "building wasm (key $KEY); a cold build takes about 6 minutes on 2 cores"
  start=$(date +%s)
  BUILD="$CACHE_DIR/wasm-build-$KEY"
  rm -rf "$BUILD" && mkdir -p "$BUILD"
  export NODE_PATH=/usr/share/nodejs # emscripten's JS optimizer needs Debian's acorn
  emcmake cmake -S "$LLAMA_SRC" -B "$BUILD" "${CMAKE_ARGS[@]}" \
    -DCMAKE_C_FLAGS="$COMPILE_FLAGS $C_ONLY_FLAGS" -DCMAKE_CXX_FLAGS="$COMPILE_FLAGS" > "$BUILD/configure.log" 2>&1 \
    || { tail -30 "$BUILD/configure.log" >&2; die "configure failed"; }
  # Without EMSCRIPTEN_SYSTEM_PROCESSOR=wasm32 ggml silently takes its generic (slow) CPU path.
  grep -q "Wasm detected" "$BUILD/configure.log" || die "ggml did not select its wasm CPU path"
  cmake --build "$BUILD" -j"$(nproc)" --target llama mtmd > "$BUILD/build.log" 2>&1 \
    || { grep -E "error|Error" "$BUILD/build.log" | head -30 >&2; die "compile failed"; }
  libs=$(find "$BUILD" -name '*.a' | sort)
  mkdir -p "$BUILD/out"
  em++ $COMPILE_FLAGS -O3 -I"$LLAMA_SRC/include" -I"$LLAMA_SRC/ggml/include" -I"$LLAMA_SRC/tools/mtmd" \
    "$ROOT/engine/wasm/glue.cpp" -Wl,--start-group $libs -Wl,--end-group \
    "${LINK_FLAGS[@]}" -o "$BUILD/out/minicpmv-edge.mjs" > "$BUILD/link.log" 2>&1 \
    || { tail -30 "$BUILD/link.log" >&2; die "link failed"; }
  rm -rf "$OUT" && mv "$BUILD/out" "$OUT"
  echo "$KEY" > "$OUT/build-key"
  rm -rf "$BUILD"
  log "built in $(( $(date +%s) - start )) s: $(du -h "$OUT/minicpmv-edge.wasm" | cut -f1)"
fi

if ! cmp -s "$OUT/build-key" "$DEST/build-key" 2>/dev/null; then
  rm -rf "$DEST" && mkdir -p "$DEST" && cp "$OUT"/* "$DEST/"
fi
# Not part of the emscripten output: copied on every run so edits need no rebuild.
cp "$ROOT/engine/wasm/pthread-bootstrap.cjs" "$DEST/"
echo "$DEST"
