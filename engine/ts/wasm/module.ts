/**
 * Instantiates the emscripten module (dist/wasm/minicpmv-edge.mjs) inside the engine worker:
 * picks the build, then lets the platform prepare emscripten's host (on servers its Node.js
 * path, see platform/server.ts) and say where its files are.
 */

import { InvalidRequestError } from "../errors.ts";
import { prepareEmscripten, readBytes, relaxedSimdSupported } from "../platform/index.ts";
import type { EmscriptenModule } from "./exports.ts";

export const WASM_BASENAME = "minicpmv-edge";

/** "relaxed": the build in `relaxed/` with relaxed-SIMD 8-bit dot products; "simd128": the plain one. */
export type SimdLevel = "relaxed" | "simd128";

/** The relaxed build where the runtime supports it (and it was built), else the plain build. */
async function pickBuild(wasmDir: URL, want: SimdLevel | "auto") {
  if (want !== "simd128" && await relaxedSimdSupported()) {
    const dir = new URL("relaxed/", wasmDir);
    const wasm = await readBytes(new URL(`${WASM_BASENAME}.wasm`, dir)).catch(() => undefined);
    if (wasm) return { dir, simd: "relaxed" as const, wasm };
  }
  if (want === "relaxed") throw new InvalidRequestError("no relaxed-SIMD build for this runtime", "simd");
  return { dir: wasmDir, simd: "simd128" as const, wasm: await readBytes(new URL(`${WASM_BASENAME}.wasm`, wasmDir)) };
}

export async function instantiate(
  root: URL,
  want: SimdLevel | "auto",
  threads: number,
  print: (line: string) => void,
): Promise<{ module: EmscriptenModule; simd: SimdLevel }> {
  const { dir: wasmDir, simd, wasm: wasmBinary } = await pickBuild(root, want);
  const mainScript = new URL(`${WASM_BASENAME}.mjs`, wasmDir);
  const locateFile = await prepareEmscripten(wasmDir, mainScript);
  const { default: createModule } = await import(mainScript.href);
  const module = await createModule({
    wasmBinary,
    mainScriptUrlOrBlob: mainScript.href,
    // ggml's persistent pool holds threads-1 workers; a vision encode may start as many again.
    mcePoolSize: Math.max(2, 2 * threads),
    locateFile,
    print,
    printErr: print,
  });
  return { module, simd };
}
