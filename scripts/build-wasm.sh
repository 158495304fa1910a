#!/usr/bin/env bash
# Builds llama.cpp + mtmd + engine/wasm/glue.cpp to multithreaded WASM SIMD, in two cached
# stages outside the checkout: the llama.cpp static libraries (keyed by source, patches, flags,
# toolchain) and the final link (keyed by the libraries, the glue and the link flags). Two
# builds: the plain SIMD128 one in dist/wasm/ (every runtime) and one with relaxed-SIMD 8-bit dot
# products in dist/wasm/relaxed/ (picked at load where the runtime has them, see
# engine/ts/wasm/module.ts). Same inputs give a byte-identical .wasm.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v emcc >/dev/null || apt_install emscripten
# relaxed SIMD needs clang >= 16; emscripten 3.1.6 is Debian's clang 14, so that build uses clang 19
command -v clang-19 >/dev/null && command -v wasm-ld-19 >/dev/null || apt_install clang-19 lld-19
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
  -sEXPORTED_RUNTIME_METHODS=FS,UTF8ToString
)

# Usage: build_variant DEST EXTRA_COMPILE_FLAGS [clang version suffix]
build_variant() {
  local dest=$1 compile_flags="$COMPILE_FLAGS${2:+ $2}" clang=${3:-} toolchain="$EMCC_VERSION"
  local link_flags=("${LINK_FLAGS[@]}")
  if [ -n "$clang" ]; then
    # emscripten runs clang-$EM_CLANG_ADD_VERSION, wasm-ld-$EM_LLVM_ADD_VERSION etc. from /usr/bin
    export EM_CLANG_ADD_VERSION=$clang EM_LLVM_ADD_VERSION=$clang
    toolchain="$toolchain $(clang-"$clang" --version | sed -n 1p)"
    # Debian's binaryen 108 cannot parse the final relaxed-SIMD opcodes (f32x4.relaxed_madd), so
    # this build never runs it: -O1 skips wasm-opt (each object is already clang -O3; measured
    # the same speed), WASM_BIGINT needs no i64 legalization, and emscripten's Python reader
    # takes the metadata that wasm-emscripten-finalize would
    link_flags+=(-O1 -sWASM_BIGINT=1)
    export EMCC_READ_METADATA=python
  else
    unset EM_CLANG_ADD_VERSION EM_LLVM_ADD_VERSION EMCC_READ_METADATA
  fi

  # ---- stage 1: llama.cpp static libraries -----------------------------------------------
  local libs_key libs
  libs_key="$(cd "$ROOT" && hash_inputs engine/wasm/xxhash-scalar.h engine/wasm/patches/*.patch \
    "$LLAMA_COMMIT" "$toolchain" "$compile_flags" "${CMAKE_ARGS[*]}" "source paths mapped")"
  libs="$CACHE_DIR/wasm-libs-$libs_key"
  if [ ! -f "$libs/.done" ]; then
    log "compiling llama.cpp for wasm (key $libs_key, $2); about 5 minutes on 2 cores"
    local start=$(date +%s)
    mkdir -p "$libs"
    emcmake cmake -S "$LLAMA_SRC" -B "$libs" "${CMAKE_ARGS[@]}" \
      -DCMAKE_C_FLAGS="$compile_flags $PATH_FLAGS $C_ONLY_FLAGS" -DCMAKE_CXX_FLAGS="$compile_flags $PATH_FLAGS" \
      > "$libs/configure.log" 2>&1 \
      || { tail -30 "$libs/configure.log" >&2; die "configure failed"; }
    # Without EMSCRIPTEN_SYSTEM_PROCESSOR=wasm32 ggml silently takes its generic (slow) CPU path.
    grep -q "Wasm detected" "$libs/configure.log" || die "ggml did not select its wasm CPU path"
    cmake --build "$libs" -j"$(nproc)" --target llama mtmd > "$libs/build.log" 2>&1 \
      || { grep -E "error" "$libs/build.log" | head -30 >&2; die "compile failed"; }
    touch "$libs/.done"
    log "compiled in $(( $(date +%s) - start )) s"
  fi

  # ---- stage 2: link with the glue ---------------------------------------------------------
  local key out
  key="$(cd "$ROOT" && hash_inputs engine/wasm/glue.cpp engine/wasm/common-strings.cpp "$libs_key" "${link_flags[*]}" "${COMMON_SOURCES[*]}")"
  out="$CACHE_DIR/wasm-$key"
  if [ ! -f "$out/minicpmv-edge.wasm" ]; then
    log "linking wasm (key $key); about 2 minutes"
    local start=$(date +%s) tmp="$out.tmp" common_files=() archives
    rm -rf "$tmp" && mkdir -p "$tmp"
    archives=$(find "$libs" -name '*.a' | sort)
    for f in "${COMMON_SOURCES[@]}"; do common_files+=("$LLAMA_SRC/common/$f.cpp"); done
    em++ $compile_flags $PATH_FLAGS -O3 -I"$LLAMA_SRC/include" -I"$LLAMA_SRC/ggml/include" -I"$LLAMA_SRC/tools/mtmd" \
      -I"$LLAMA_SRC/common" -I"$LLAMA_SRC/vendor" \
      "$ROOT/engine/wasm/glue.cpp" "$ROOT/engine/wasm/common-strings.cpp" \
      "${common_files[@]}" \
      -Wl,--start-group $archives -Wl,--end-group \
      "${link_flags[@]}" -o "$tmp/minicpmv-edge.mjs" > "$tmp/link.log" 2>&1 \
      || { tail -30 "$tmp/link.log" >&2; die "link failed"; }
    rm "$tmp/link.log"
    echo "$key" > "$tmp/build-key"
    rm -rf "$out" && mv "$tmp" "$out"
    log "linked in $(( $(date +%s) - start )) s: $(du -h "$out/minicpmv-edge.wasm" | cut -f1)"
  fi

  if ! cmp -s "$out/build-key" "$dest/build-key" 2>/dev/null; then
    mkdir -p "$dest" && rm -f "$dest"/minicpmv-edge.* "$dest/build-key" && cp "$out"/* "$dest/"
  fi
  # Not part of the emscripten output: copied on every run so edits need no rebuild.
  cp "$ROOT/engine/wasm/pthread-bootstrap.cjs" "$dest/"
  touch "$libs" "$out" # most recently used
}

# llama.cpp's JSON-schema -> grammar converter (common/ is not in the libraries above)
COMMON_SOURCES=(json-schema-to-grammar json-schema json trie unicode)
build_variant "$ROOT/dist/wasm" ""
build_variant "$ROOT/dist/wasm/relaxed" "-mrelaxed-simd" 19
prune_cache "wasm-libs-????????????????" 4
prune_cache "wasm-????????????????" 6
echo "$ROOT/dist/wasm"
