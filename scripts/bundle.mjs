// Bundles the TypeScript sources for Node.js (dist/node) and the browser (dist/browser).
// Deno and Bun run the sources directly. Usage: node scripts/bundle.mjs [extra entry.ts ...]
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const extra = process.argv.slice(2);
const common = {
  bundle: true,
  format: "esm",
  target: "es2022",
  logLevel: "warning",
  // the engine finds its worker and the wasm relative to the bundle
  define: { MCE_BUNDLE: JSON.stringify({ workerFile: "./worker.js", wasmDir: "../wasm/" }) },
};

await esbuild.build({
  ...common,
  platform: "node",
  entryPoints: { mod: "mod.ts", cli: "cli.ts", worker: "engine/ts/worker.ts", ...Object.fromEntries(extra.map((e) => [e.replace(/\.ts$/, "").replaceAll("/", "_"), e])) },
  outdir: "dist/node",
  // CommonJS-only dependencies need require() inside the ESM bundle
  banner: { js: "import { createRequire as __mceRequire } from 'node:module'; const require = __mceRequire(import.meta.url);" },
});

await esbuild.build({
  ...common,
  platform: "browser",
  entryPoints: { mod: "mod.ts", worker: "engine/ts/worker.ts" },
  outdir: "dist/browser",
  external: ["node:*"],
});

// The WebP codec fetches its wasm next to the importing module in browsers.
mkdirSync("dist/browser", { recursive: true });
copyFileSync(createRequire(import.meta.url).resolve("@jsquash/webp/codec/dec/webp_dec.wasm"), "dist/browser/webp_dec.wasm");
