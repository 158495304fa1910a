/**
 * Instantiates the emscripten module (dist/wasm/minicpmv-edge.mjs) inside the engine worker.
 * Emscripten 3.1.6 takes its Node.js path on Deno, Bun and Node alike (all define `process`),
 * where it expects CommonJS globals; pthread workers start from pthread-bootstrap.cjs there.
 */

import { isServerRuntime, readBytes } from "../platform.ts";

// deno-lint-ignore no-explicit-any
export type EmModule = any;

export const WASM_BASENAME = "minicpmv-edge";

export async function instantiate(wasmDir: URL, threads: number, print: (line: string) => void): Promise<EmModule> {
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
  const wasmBinary = await readBytes(new URL(`${WASM_BASENAME}.wasm`, wasmDir));
  return await createModule({
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
}

function pathOf(url: URL): string {
  return decodeURIComponent(url.pathname);
}
