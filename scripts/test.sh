#!/usr/bin/env bash
# The full test suite. On a fresh machine with Node.js it installs what it needs (npm deps,
# emscripten, chromium), builds (wasm, native reference, bundles; cached outside the checkout),
# makes the test models, runs every test and ends with "N passed, N failed".
# Arguments are passed to `deno test` (e.g. a single test file).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_npm_deps
command -v chromium >/dev/null || apt_install chromium
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_install nginx # tests/load-balancer.test.ts
bash scripts/build-wasm.sh >/dev/null
bash scripts/build-ffmpeg.sh >/dev/null
MCE_NATIVE_BIN="$(bash scripts/build-native.sh)"
node scripts/bundle.mjs
export MCE_NATIVE_BIN
MCE_TEST_MODELS="$(bash scripts/test-models.sh)"
export MCE_TEST_MODELS
MCE_TEST_MEDIA="$(bash scripts/test-media.sh)"
export MCE_TEST_MEDIA

out="$(mktemp)"
set +e
NO_COLOR=1 npx deno test -A --no-check "${@:-tests/}" 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
set -e
# deno's summary: "ok | 12 passed (3 steps) | 0 failed (9s)" or "FAILED | 11 passed | 1 failed"
summary="$(sed 's/\x1b\[[0-9;]*m//g' "$out" | grep -E '^(ok|FAILED) \| [0-9]+ passed' | tail -1 || true)"
rm -f "$out"
passed="$(sed -E 's/.*\| ([0-9]+) passed.*/\1/' <<<"$summary")"
failed="$(sed -E 's/.*\| ([0-9]+) failed.*/\1/' <<<"$summary")"
echo "${passed:-0} passed, ${failed:-1} failed"
exit "$status"
