# Shared by the build scripts: where things are cached and how the pinned llama.cpp is fetched.
# Source this file; it defines functions and variables only.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${MINICPMV_EDGE_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/minicpmv-edge/build}"
LLAMA_BUNDLE="$ROOT/node_modules/node-llama-cpp/llama/gitRelease.bundle"
# The llama.cpp snapshot inside node-llama-cpp@3.22.1. A different bundle is refused.
LLAMA_COMMIT="de3ff815ea7d559ee917f063901b8986f038abc6"
PATCHES_DIR="$ROOT/engine/wasm/patches"

log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Node dependencies (deno, bun, esbuild, node-llama-cpp as the llama.cpp source).
ensure_npm_deps() {
  if [ ! -f "$ROOT/node_modules/.package-lock.json" ] || [ "$ROOT/package-lock.json" -nt "$ROOT/node_modules/.package-lock.json" ]; then
    log "installing npm dependencies"
    # Not `npm ci`: its lock check fails on platform packages node-llama-cpp@3.22.1 lists but never
    # published (linux-riscv64, win-*); `npm install` follows the lock for everything that exists.
    # --ignore-scripts: node-llama-cpp's postinstall would fetch binaries we do not use; the
    # runtimes we need get their install step explicitly.
    (cd "$ROOT" && npm install --ignore-scripts --no-audit --no-fund >&2 && npm rebuild bun esbuild >&2)
  fi
}

# Sets LLAMA_SRC: the pinned source with our patch series applied, keyed by the patches; with
# "pristine", without them (the native build: the patches are for the wasm build, so native
# llama.cpp stays upstream's, an independent oracle that no patch edit rebuilds).
ensure_llama_source() {
  ensure_npm_deps
  local patches=("$PATCHES_DIR"/*.patch)
  [ "${1:-}" = pristine ] && patches=()
  LLAMA_SRC="$CACHE_DIR/llama.cpp-${LLAMA_COMMIT:0:10}-$(cd "$ROOT" && hash_inputs "${patches[@]/#$ROOT\//}")"
  [ -f "$LLAMA_BUNDLE" ] || die "missing $LLAMA_BUNDLE (npm install node-llama-cpp@3.22.1)"
  if [ ! -f "$LLAMA_SRC/.mce-ok" ]; then
    log "extracting llama.cpp $LLAMA_COMMIT from the node-llama-cpp bundle"
    rm -rf "$LLAMA_SRC" && mkdir -p "$CACHE_DIR"
    git clone -q "$LLAMA_BUNDLE" "$LLAMA_SRC" 2>/dev/null
    local head; head="$(git -C "$LLAMA_SRC" rev-parse HEAD)"
    [ "$head" = "$LLAMA_COMMIT" ] || die "bundle holds llama.cpp $head, expected $LLAMA_COMMIT"
    local p
    for p in "${patches[@]}"; do
      [ -e "$p" ] || continue
      git -C "$LLAMA_SRC" apply "$p" || die "patch $(basename "$p") does not apply"
    done
    touch "$LLAMA_SRC/.mce-ok"
  fi
}

apt_install() {
  log "installing Debian packages: $*"
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
  else
    sudo apt-get update -qq >&2 && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
  fi
}

# A short sha256 over the given files (names as given, so pass paths relative to ROOT) and strings.
hash_inputs() {
  { for f in "$@"; do echo "$f"; if [ -f "$f" ]; then cat "$f"; fi; done; } | sha256sum | cut -c1-16
}

# Keeps the $2 most recently used cache entries matching the glob $1 (builds for older inputs).
prune_cache() {
  # shellcheck disable=SC2086
  ls -dt "$CACHE_DIR"/$1 2>/dev/null | tail -n +$(( $2 + 1 )) | xargs -r rm -rf
}
