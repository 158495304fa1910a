/* Force-included into C sources of the wasm build: with __wasm_simd128__ vendored xxhash
   includes <arm_neon.h> (emscripten's SIMDe shim), which Debian's emscripten does not ship. */
#define XXH_HAS_INCLUDE(x) 0
