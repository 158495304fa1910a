#!/usr/bin/env bash
# Builds the video decoder: an LGPL-2.1+ subset of FFmpeg (H.264, HEVC, VP8, VP9 decoders, MP4/MOV
# and Matroska/WebM demuxers, swscale) compiled to WASM with Debian's emscripten, linked with the
# thin C shim engine/video-wasm/shim.c into dist/ffmpeg/ffmpeg.{mjs,wasm}. The FFmpeg source is
# the release tarball the npm package libav.js@6.10.9 ships (sources/ffmpeg-9.0.tar.xz). Two
# cached stages outside the checkout, like build-wasm.sh: the FFmpeg static libraries (keyed by
# the tarball's hash, configure flags, toolchain) and the link with the shim (keyed by the
# libraries, the shim and the link flags). Prints the output directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

command -v emcc >/dev/null || apt_install emscripten
EMCC_VERSION="$(emcc --version | sed -n 1p)" # sed reads to the end: no SIGPIPE under pipefail
ensure_npm_deps
export NODE_PATH=/usr/share/nodejs # emscripten's JS optimizer needs Debian's acorn

FFMPEG_VERSION=9.0
TARBALL="$ROOT/node_modules/libav.js/sources/ffmpeg-$FFMPEG_VERSION.tar.xz"
[ -f "$TARBALL" ] || die "missing $TARBALL (npm install libav.js@6.10.9)"
TARBALL_SHA="$(sha256sum "$TARBALL" | cut -d' ' -f1)"

# No --enable-gpl / --enable-nonfree: everything built is LGPL-2.1+. No asm (FFmpeg has no wasm
# asm for these decoders), no threads (one decoder per worker), nothing autodetected from the host.
CONFIGURE_FLAGS=(
  --enable-cross-compile --target-os=none --arch=wasm32
  --cc=emcc --cxx=em++ --ar=emar --ranlib=emranlib --nm="emnm -g"
  --disable-asm --disable-inline-asm --disable-runtime-cpudetect --disable-pthreads --disable-w32threads
  --disable-os2threads --disable-autodetect --disable-programs --disable-doc --disable-network --disable-iconv
  --disable-debug --disable-stripping --disable-avdevice --disable-avfilter --disable-swresample
  --disable-everything
  --enable-avcodec --enable-avformat --enable-swscale
  --enable-decoder=h264,hevc,vp8,vp9
  --enable-parser=h264,hevc,vp8,vp9
  --enable-demuxer=mov,matroska
  # -msimd128: clang may vectorize the C code; every runtime we target has SIMD128 (so does the
  # llama.cpp build)
  --optflags=-O3 --extra-cflags=-msimd128
)
LINK_FLAGS=(
  -O3 -msimd128
  -sMODULARIZE=1 -sEXPORT_ES6=1 -sEXPORT_NAME=createFfmpegModule
  -sENVIRONMENT=web,worker,node
  -sALLOW_MEMORY_GROWTH=1 -sMAXIMUM_MEMORY=2GB -sINITIAL_MEMORY=32MB
  -sFILESYSTEM=0 # bytes come through the shim's read callback, never a file system
  -sEXPORTED_FUNCTIONS=_malloc,_free
  -sEXPORTED_RUNTIME_METHODS=UTF8ToString
)

# ---- stage 1: FFmpeg static libraries ------------------------------------------------------
LIBS_KEY="$(cd "$ROOT" && hash_inputs "$TARBALL_SHA" "$EMCC_VERSION" "${CONFIGURE_FLAGS[*]}")"
LIBS="$CACHE_DIR/ffmpeg-libs-$LIBS_KEY"
if [ ! -f "$LIBS/.done" ]; then
  log "compiling FFmpeg $FFMPEG_VERSION for wasm (key $LIBS_KEY); about 10 minutes on 2 cores"
  start=$(date +%s)
  rm -rf "$LIBS" && mkdir -p "$LIBS"
  tar xJf "$TARBALL" -C "$LIBS"
  src="$LIBS/ffmpeg-$FFMPEG_VERSION"
  # built in its own tree: sources are compiled by relative paths, so __FILE__ (assert messages)
  # and the recorded configuration do not depend on where the cache lives
  (cd "$src" && ./configure "${CONFIGURE_FLAGS[@]}") > "$LIBS/configure.log" 2>&1 \
    || { tail -30 "$LIBS/configure.log" >&2; tail -30 "$src/ffbuild/config.log" >&2; die "configure failed"; }
  for want in h264_decoder hevc_decoder vp8_decoder vp9_decoder mov_demuxer matroska_demuxer; do
    grep -q "^CONFIG_${want^^}=yes" "$src/ffbuild/config.mak" || die "configure did not enable $want"
  done
  make -C "$src" -j"$(nproc)" > "$LIBS/build.log" 2>&1 \
    || { grep -E "error" "$LIBS/build.log" | head -30 >&2; die "compile failed"; }
  make -C "$src" install-libs install-headers prefix="$LIBS/inst" > "$LIBS/install.log" 2>&1 \
    || { tail -30 "$LIBS/install.log" >&2; die "install failed"; }
  cp "$src/ffbuild/config.mak" "$LIBS/inst/config.mak" # what was enabled, for the record
  rm -rf "$src"
  touch "$LIBS/.done"
  log "compiled in $(( $(date +%s) - start )) s"
fi

# ---- stage 2: link with the shim -----------------------------------------------------------
KEY="$(cd "$ROOT" && hash_inputs engine/video-wasm/shim.c "$LIBS_KEY" "${LINK_FLAGS[*]}")"
OUT="$CACHE_DIR/ffmpeg-$KEY"
if [ ! -f "$OUT/ffmpeg.wasm" ]; then
  log "linking the FFmpeg wasm (key $KEY)"
  start=$(date +%s)
  TMP="$OUT.tmp" && rm -rf "$TMP" && mkdir -p "$TMP"
  emcc -O3 -msimd128 -Wall -I"$LIBS/inst/include" "$ROOT/engine/video-wasm/shim.c" \
    "$LIBS/inst/lib/libavformat.a" "$LIBS/inst/lib/libavcodec.a" "$LIBS/inst/lib/libswscale.a" \
    "$LIBS/inst/lib/libavutil.a" -lm \
    "${LINK_FLAGS[@]}" -o "$TMP/ffmpeg.mjs" > "$TMP/link.log" 2>&1 \
    || { tail -30 "$TMP/link.log" >&2; die "link failed"; }
  rm "$TMP/link.log"
  echo "$KEY" > "$TMP/build-key"
  rm -rf "$OUT" && mv "$TMP" "$OUT"
  log "linked in $(( $(date +%s) - start )) s: $(du -h "$OUT/ffmpeg.wasm" | cut -f1)"
fi

DEST="$ROOT/dist/ffmpeg"
if ! cmp -s "$OUT/build-key" "$DEST/build-key" 2>/dev/null; then
  mkdir -p "$DEST" && rm -f "$DEST"/ffmpeg.* "$DEST/build-key" && cp "$OUT"/* "$DEST/"
fi
touch "$LIBS" "$OUT" # most recently used
prune_cache "ffmpeg-libs-????????????????" 2
prune_cache "ffmpeg-????????????????" 4
echo "$DEST"
