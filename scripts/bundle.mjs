// Bundles the TypeScript sources for Node.js (dist/node) and the browser (dist/browser).
// Deno and Bun run the sources directly. Usage: node scripts/bundle.mjs [extra entry.ts ...]
//   node scripts/bundle.mjs --browser-only DIR   only the browser bundle, into DIR, with its esbuild
//                                                metafile as DIR/meta.json (tests/bundle-browser.test.ts)
//
// The browser bundle is where the runtime is chosen: engine/ts/platform/index.ts re-exports
// server.ts (Deno, Bun, Node), and the plugin below resolves server.ts to browser.ts here, so no
// `if` decides it at run time and no node: module or HTTP server reaches the browser.
import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";

const args = process.argv.slice(2);
const browserOnly = args[0] === "--browser-only" ? args[1] : undefined;
if (args[0] === "--browser-only" && !browserOnly) throw new Error("--browser-only needs an output directory");
const extra = browserOnly ? [] : args;

const common = {
  bundle: true,
  format: "esm",
  target: "es2022",
  logLevel: "warning",
  // the engine finds its worker and the wasm relative to the bundle
  define: { MCE_BUNDLE: JSON.stringify({ workerFile: "./worker.js", wasmDir: "../wasm/" }) },
};

const SERVER_PLATFORM = resolve("engine/ts/platform/server.ts");
const BROWSER_PLATFORM = resolve("engine/ts/platform/browser.ts");
const browserPlatform = {
  name: "browser-platform",
  setup(build) {
    build.onResolve(
      { filter: /server\.ts$/ },
      ({ path, resolveDir }) => resolve(resolveDir, path) === SERVER_PLATFORM ? { path: BROWSER_PLATFORM } : undefined,
    );
  },
};

if (!browserOnly) {
  await esbuild.build({
    ...common,
    platform: "node",
    entryPoints: {
      mod: "mod.ts",
      cli: "cli.ts",
      worker: "engine/ts/worker.ts",
      "media-worker": "engine/ts/media/worker.ts", // media/connection.ts starts it
      ...Object.fromEntries(extra.map((e) => [e.replace(/\.ts$/, "").replaceAll("/", "_"), e])),
    },
    outdir: "dist/node",
    // CommonJS-only dependencies need require() inside the ESM bundle
    banner: {
      js: "import { createRequire as __mceRequire } from 'node:module'; const require = __mceRequire(import.meta.url);",
    },
  });
}

const browserDir = browserOnly ?? "dist/browser";
const browser = await esbuild.build({
  ...common,
  platform: "browser",
  entryPoints: {
    mod: "mod.ts",
    worker: "engine/ts/worker.ts",
    "media-worker": "engine/ts/media/worker.ts",
  },
  outdir: browserDir,
  plugins: [browserPlatform],
  // Dependencies probe for Node.js (`typeof process == "object" && process.versions...`); there is
  // no `process` in a browser, so the probes fold to false and the bundle uses no `process`.
  define: { ...common.define, process: "undefined" },
  metafile: !!browserOnly,
});
if (browserOnly) writeFileSync(`${browserDir}/meta.json`, JSON.stringify(browser.metafile));

// The WebP codec fetches its wasm next to the importing module in browsers.
mkdirSync(browserDir, { recursive: true });
const webpWasm = createRequire(import.meta.url).resolve("@jsquash/webp/codec/dec/webp_dec.wasm");
copyFileSync(webpWasm, `${browserDir}/webp_dec.wasm`);

// the web chat page (dist/web), served by `serve` at /
if (!browserOnly) await import("./build-web.mjs");
