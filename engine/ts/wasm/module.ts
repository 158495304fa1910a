/**
 * Instantiates the emscripten module (dist/wasm/minicpmv-edge.mjs) inside the engine worker.
 * Emscripten 3.1.6 takes its Node.js path on Deno, Bun and Node alike (all define `process`),
 * where it expects CommonJS globals; pthread workers start from pthread-bootstrap.cjs there.
 */

import { InvalidRequestError } from "../errors.ts";
import { isServerRuntime, readBytes, relaxedSimdSupported } from "../platform.ts";

// deno-lint-ignore no-explicit-any
export type EmModule = any;

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
): Promise<{ module: EmModule; simd: SimdLevel }> {
  const { dir: wasmDir, simd, wasm: wasmBinary } = await pickBuild(root, want);
  const mainScript = new URL(`${WASM_BASENAME}.mjs`, wasmDir);
  if (isServerRuntime) {
    const { createRequire } = await import("node:module");
    const { fileURLToPath } = await import("node:url");
    const g = globalThis as Record<string, unknown>;
    g.require ??= createRequire(mainScript);
    g.__dirname ??= fileURLToPath(new URL(".", wasmDir));
    g.global ??= globalThis;
  }
  const { default: createModule } = await import(mainScript.href);
  const module = await createModule({
    wasmBinary,
    mainScriptUrlOrBlob: mainScript.href,
    // ggml's persistent pool holds threads-1 workers; a vision encode may start as many again.
    mcePoolSize: Math.max(2, 2 * threads),
    locateFile: (path: string) => {
      if (path.endsWith(".worker.js") && isServerRuntime) return pathOf(new URL("pthread-bootstrap.cjs", wasmDir));
      return isServerRuntime ? pathOf(new URL(path, wasmDir)) : new URL(path, wasmDir).href;
    },
    print,
    printErr: print,
  });
  return { module, simd };
}

function pathOf(url: URL): string {
  return decodeURIComponent(url.pathname);
}
