// Builds the web chat page (web/) into dist/web: index.html, assets/ (the page's scripts, split
// into ESM chunks, and its stylesheet) and sw.js (COOP/COEP for static hosts). Prints the page's
// JavaScript size, gzip, which must stay under 150 KB (the engine is not part of it: the page
// imports it at run time). Called by scripts/bundle.mjs; docs/web.md.
//   node scripts/build-web.mjs            the page; `serve` supplies the engine under /engine/
//   node scripts/build-web.mjs --static   also copies the engine (dist/browser, dist/wasm,
//                                         dist/ffmpeg) into dist/web/engine/: a self-contained
//                                         browser-only site (npm run build:web)
//   --out DIR                             write DIR instead of dist/web
import * as esbuild from "esbuild";
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";

const outAt = process.argv.indexOf("--out");
const OUT = outAt > 0 ? process.argv[outAt + 1] : "dist/web";
const PAGE_JS_LIMIT = 150 * 1024;
const staticSite = process.argv.includes("--static");

rmSync(OUT, { recursive: true, force: true });
mkdirSync(`${OUT}/assets`, { recursive: true });

const common = { bundle: true, target: "es2022", platform: "browser", logLevel: "warning", minify: true };
await esbuild.build({
  ...common,
  format: "esm",
  splitting: true,
  entryPoints: { app: "web/app.ts", markdown: "web/markdown.ts", "engine-worker": "web/engine-worker.ts" },
  outdir: `${OUT}/assets`,
  chunkNames: "chunk-[hash]",
});
await esbuild.build({ ...common, format: "iife", entryPoints: ["web/service-worker.ts"], outfile: `${OUT}/sw.js` });
copyFileSync("web/index.html", `${OUT}/index.html`);
copyFileSync("web/style.css", `${OUT}/assets/style.css`);

const scripts = [...readdirSync(`${OUT}/assets`).filter((f) => f.endsWith(".js")).map((f) => `assets/${f}`), "sw.js"];
const gzipBytes = scripts.reduce((n, f) => n + gzipSync(readFileSync(join(OUT, f))).length, 0);
console.log(`web page: ${scripts.length} scripts, ${(gzipBytes / 1024).toFixed(1)} KB gzip (limit 150 KB)`);
if (gzipBytes > PAGE_JS_LIMIT) throw new Error(`the page's JavaScript is ${gzipBytes} bytes gzip, over 150 KB`);

if (staticSite) {
  for (const part of ["browser", "wasm", "ffmpeg"]) {
    if (!existsSync(`dist/${part}`)) throw new Error(`dist/${part} is missing: run \`npm run build\` first`);
  }
  const engineFile = (src) => !/(build-key|\.cjs|meta\.json)$/.test(src);
  for (const part of ["browser", "wasm", "ffmpeg"]) {
    cpSync(`dist/${part}`, `${OUT}/engine/${part}`, { recursive: true, filter: engineFile });
  }
  console.log(`static site: ${OUT}/ (browser-only; engine copied into ${OUT}/engine/)`);
}
