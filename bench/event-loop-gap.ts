/**
 * Does an image upload stall other requests? Starts `serve` (the Node bundle) on the tiny pair,
 * streams one long text chat and records the longest gap between its SSE chunks and the slowest
 * `/health` answer, first alone, then while another client sends a 4000x3000 noise PNG, as a data
 * URL (as the issue measured: the base64 decoding of the body counts too) and as a file under
 * --media-dir (read asynchronously: only decoding and tiling are left). Then,
 * in this process, the media worker pool (engine/ts/media/client.ts) with 1 and 2 workers tiling
 * two such images at once: wall time and the longest stall of this thread's event loop.
 * Prints tables; asserts nothing (issue #17, point 4).
 *   deno run -A bench/event-loop-gap.ts [--before DIR] [--tokens N] [--width W --height H]
 * --before DIR: also run DIR's `dist/node/cli.js` (e.g. a worktree of the previous commit) for comparison.
 * Models: $MCE_TEST_MODELS (tiny-llm.gguf, tiny-mmproj-16x.gguf; `npm test` writes them).
 */

import { Buffer } from "node:buffer";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { encode as encodePng } from "fast-png";
import { projectRoot } from "../cli/paths.ts";
import { MediaDecoder } from "../engine/ts/media/client.ts";
import { Rng } from "../engine/ts/tiny-model/random.ts";
import { serverUrl } from "./util.ts";

const { values: v } = parseArgs({
  options: {
    before: { type: "string" },
    tokens: { type: "string", default: "1500" },
    width: { type: "string", default: "4000" },
    height: { type: "string", default: "3000" },
  },
});
// deno-lint-ignore no-process-global
const modelsDir = process.env.MCE_TEST_MODELS;
if (!modelsDir) throw new Error("set MCE_TEST_MODELS to the tiny test models' directory (see tests/helpers.ts)");

/** An RGB PNG of random pixels (incompressible: the worst case for the decoder per pixel). */
function noisePng(width: number, height: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i += 4) {
    const r = rng.u32();
    data[i] = r;
    data[i + 1] = r >>> 8;
    data[i + 2] = r >>> 16;
    if (i + 3 < data.length) data[i + 3] = r >>> 24;
  }
  return encodePng({ width, height, data, channels: 3 });
}

const width = Number(v.width), height = Number(v.height);
const png = noisePng(width, height, 1);
const dataUrl = `data:image/png;base64,${Buffer.from(png).toString("base64")}`;
console.log(`image: ${width}x${height} noise PNG, ${(png.length / 1e6).toFixed(1)} MB`);
const mediaDir = mkdtempSync(`${tmpdir()}/mce-gap-`);
writeFileSync(`${mediaDir}/noise.png`, png);

interface Server {
  url: string;
  stop(): void;
}

async function startServer(root: string): Promise<Server> {
  const p = spawn("node", [
    `${root}/dist/node/cli.js`,
    "serve",
    "--port",
    "0",
    "--model",
    `${modelsDir}/tiny-llm.gguf`,
    "--mmproj",
    `${modelsDir}/tiny-mmproj-16x.gguf`,
    "--model-name",
    "tiny",
    "--threads",
    "2",
    "--ctx-size",
    "8192",
    "--max-image-mb",
    "100",
    "--max-body-mb",
    "200",
    "--media-dir",
    mediaDir,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  const url = await serverUrl(p);
  return { url, stop: () => void p.kill("SIGTERM") };
}

/** Streams a long greedy text chat; resolves to the longest gap between chunks after the first (ms). */
async function streamGap(url: string, tokens: number, onStarted: () => void): Promise<number> {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "tiny",
      messages: [{ role: "user", content: "Tell me a long story." }],
      stream: true,
      max_tokens: tokens,
      temperature: 0,
      ignore_eos: true,
    }),
  });
  if (!res.ok || !res.body) throw new Error(`stream: HTTP ${res.status} ${await res.text()}`);
  const reader = res.body.getReader();
  let last: number | undefined;
  let maxGap = 0;
  let chunks = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    const now = performance.now();
    if (last !== undefined) maxGap = Math.max(maxGap, now - last);
    last = now;
    if (++chunks === 20) onStarted();
    void value;
  }
  return maxGap;
}

/** Polls /health until `done`; the slowest answer (ms). */
async function healthLatency(url: string, done: () => boolean): Promise<number> {
  let worst = 0;
  while (!done()) {
    const t0 = performance.now();
    await (await fetch(`${url}/health`)).text();
    worst = Math.max(worst, performance.now() - t0);
    await new Promise((r) => setTimeout(r, 20));
  }
  return worst;
}

async function upload(url: string, image: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "tiny",
      messages: [{
        role: "user",
        content: [{ type: "image_url", image_url: { url: image } }, { type: "text", text: "What is this?" }],
      }],
      max_tokens: 1,
      temperature: 0,
    }),
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`upload: HTTP ${res.status} ${body}`);
  return performance.now() - t0;
}

interface Row {
  build: string;
  scenario: string;
  gapMs: number;
  healthMs: number;
  uploadMs?: number;
}

async function measure(build: string, root: string): Promise<Row[]> {
  const server = await startServer(root);
  const rows: Row[] = [];
  try {
    const scenarios = { "stream alone": undefined, "+ PNG as data URL": dataUrl, "+ PNG as file": "noise.png" };
    for (const [scenario, image] of Object.entries(scenarios)) {
      let finished = false;
      let uploading: Promise<number> | undefined;
      const health = healthLatency(server.url, () => finished);
      const gap = await streamGap(server.url, Number(v.tokens), () => {
        if (image) uploading = upload(server.url, image);
      }).finally(() => (finished = true));
      const uploadMs = await uploading;
      if (image && uploadMs === undefined) throw new Error("the stream ended before the upload started");
      rows.push({ build, scenario, gapMs: gap, healthMs: await health, uploadMs });
    }
  } finally {
    server.stop();
  }
  return rows;
}

/** Tiles `count` images at once on a pool of `workers`; wall time and the longest event-loop stall here. */
async function poolRun(workers: number, count: number): Promise<{ wallMs: number; stallMs: number }> {
  const media = MediaDecoder.create({ workers });
  try {
    await media.tileImage(noisePng(64, 64, 2)); // start the workers outside the timing
    if (workers > 1) await Promise.all(Array.from({ length: workers }, () => media.tileImage(noisePng(64, 64, 2))));
    let stall = 0;
    let tick = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      stall = Math.max(stall, now - tick - 10);
      tick = now;
    }, 10);
    const t0 = performance.now();
    await Promise.all(Array.from({ length: count }, () => media.tileImage(png, { maxPixels: 100e6 })));
    const wallMs = performance.now() - t0;
    clearInterval(timer);
    return { wallMs, stallMs: stall };
  } finally {
    media.terminate();
  }
}

const rows: Row[] = [];
// deno-lint-ignore no-process-global
process.on("exit", () => rmSync(mediaDir, { recursive: true, force: true }));
if (v.before) rows.push(...await measure("before", v.before));
rows.push(...await measure("after", await projectRoot()));

const f = (x: number | undefined) => (x === undefined ? "-" : x.toFixed(0));
console.log("\nserve (tiny pair, --threads 2): longest gap between SSE chunks of a running stream, slowest /health");
console.log("| build  | scenario            | longest gap (ms) | slowest /health (ms) | upload answered (ms) |");
console.log("| ------ | ------------------- | ---------------: | -------------------: | -------------------: |");
for (const r of rows) {
  console.log(
    `| ${r.build.padEnd(6)} | ${r.scenario.padEnd(19)} | ${f(r.gapMs).padStart(16)} | ${f(r.healthMs).padStart(20)} | ${
      f(r.uploadMs).padStart(20)
    } |`,
  );
}

console.log(`\nmedia worker pool, ${width}x${height} PNGs tiled at once (16x, 9 slices), in this process`);
console.log("| workers | images | wall (ms) | longest event-loop stall (ms) |");
console.log("| ------: | -----: | --------: | ----------------------------: |");
for (const workers of [1, 2]) {
  for (const count of [1, 2]) {
    const r = await poolRun(workers, count);
    console.log(`| ${workers} | ${count} | ${f(r.wallMs)} | ${f(r.stallMs)} |`);
  }
}
