/**
 * Peak memory and load time of the WASM engine on the real-shape MiniCPM-V 4.6 pair (true
 * dimensions; ~/.cache/minicpmv-edge/build/real-shape-v1, see bench.ts), against the GGUF bytes
 * and native llama.cpp (tests/oracle `load`, mmap off and on) on the same files.
 *
 *   deno run -A bench/memory.ts [--runtimes deno,bun,node] [--llm F --mmproj F] [--out FILE]
 *
 * Each measurement runs in a fresh process: engine start, MiniCPMV.load (model + mmproj +
 * 4096-token context), then a first chat turn with one 448x448 image (one tile, 8 tokens).
 * Peak resident memory is the process's VmHWM (Linux), which covers the engine's threads.
 * Prints a table; the budget of issue #5 is 1.25 x GGUF bytes + 300 MB.
 */

import { readFileSync, statSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { encode as encodePng } from "fast-png";
import { Engine } from "../engine/ts/engine.ts";
import { MiniCPMV } from "../engine/ts/minicpmv.ts";
import { Rng } from "../engine/ts/tiny-model/random.ts";
import { runtime } from "../engine/ts/platform/index.ts";
import { buildCacheDir, projectRoot } from "../cli/paths.ts";
import { sh } from "./util.ts";

const MB = 1e6;

function procStatus(): { hwm: number; rss: number } {
  const s = readFileSync("/proc/self/status", "utf8");
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) * 1024;
  return { hwm: kb("VmHWM"), rss: kb("VmRSS") };
}

async function child(llm: string, mmproj: string) {
  const t0 = performance.now();
  const engine = await Engine.create({ threads: 2, logLevel: "error" });
  const tEngine = performance.now();
  const afterEngine = procStatus();
  const mm = await MiniCPMV.load(engine, { model: llm, mmproj, contextSize: 4096 });
  const tLoad = performance.now();
  const afterLoad = procStatus();
  const rng = new Rng(7);
  const rgb = new Uint8Array(448 * 448 * 3).map(() => Math.floor(rng.float() * 256));
  const png = encodePng({ width: 448, height: 448, data: rgb, channels: 3 });
  const run = await mm.chat([{
    role: "user",
    content: [{ type: "image", image: png }, { type: "text", text: "What is this?" }],
  }], {
    maxSliceNums: 1,
    maxTokens: 8,
    temperature: 0,
  });
  await run.generation.result;
  const tFirst = performance.now();
  const end = procStatus();
  const heap = await engine.call("memoryBytes");
  engine.terminate();
  console.log(JSON.stringify({
    runtime,
    engine_s: (tEngine - t0) / 1000,
    load_s: (tLoad - tEngine) / 1000,
    first_s: (tFirst - tLoad) / 1000,
    rss_engine: afterEngine.rss,
    hwm_load: afterLoad.hwm,
    hwm: end.hwm,
    wasm_heap: heap,
  }));
}

async function main() {
  const { values: v } = parseArgs({
    args: (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? process.argv.slice(2),
    options: {
      child: { type: "boolean", default: false },
      llm: { type: "string" },
      mmproj: { type: "string" },
      runtimes: { type: "string", default: "deno,bun,node" },
      "native-bin": { type: "string" },
      reps: { type: "string", default: "1" },
      out: { type: "string" },
    },
  });
  const dir = `${buildCacheDir()}/real-shape-v1`;
  const llm = v.llm ?? `${dir}/real-shape-llm.gguf`;
  const mmproj = v.mmproj ?? `${dir}/real-shape-mmproj-16x.gguf`;
  if (v.child) return await child(llm, mmproj);

  const root = await projectRoot();
  const bytes = statSync(llm).size + statSync(mmproj).size;
  const budget = 1.25 * bytes + 300 * MB;
  const rows: Record<string, number | string>[] = [];
  for (let rep = 0; rep < Number(v.reps); rep++) {
    for (const rt of v.runtimes!.split(",")) {
      const cmd: [string, string[]] = rt === "deno"
        ? [`${root}/node_modules/.bin/deno`, ["run", "-A", `${root}/bench/memory.ts`]]
        : rt === "bun"
        ? [`${root}/node_modules/.bin/bun`, [`${root}/bench/memory.ts`]]
        : ["node", [`${root}/dist/node/bench_memory.js`]];
      const r = JSON.parse(await sh(cmd[0], [...cmd[1], "--child", "--llm", llm, "--mmproj", mmproj]));
      console.error(`${rt}: ${JSON.stringify(r)}`);
      rows.push({
        what: `wasm (${rt})`,
        load_s: r.load_s,
        s_per_gb: r.load_s / (bytes / 1e9),
        first_s: r.first_s,
        peak_mb: r.hwm / MB,
        ratio: r.hwm / bytes,
        heap_mb: r.wasm_heap / MB,
        load_peak_mb: r.hwm_load / MB,
      });
    }
    if (v["native-bin"]) {
      for (const mmap of [0, 1]) {
        const r = JSON.parse(
          await sh(`${v["native-bin"]}/oracle`, ["load", "--model", llm, "--mmproj", mmproj, "--mmap", String(mmap)]),
        );
        console.error(`native mmap ${mmap}: ${JSON.stringify(r)}`);
        const load = (r.model_ms + r.mmproj_ms + r.context_ms) / 1000;
        rows.push({
          what: `native (mmap ${mmap ? "on" : "off"})`,
          load_s: load,
          s_per_gb: load / (bytes / 1e9),
          first_s: r.decode_ms / 1000,
          peak_mb: r.peak_rss_kb * 1024 / MB,
          ratio: r.peak_rss_kb * 1024 / bytes,
          heap_mb: "",
          load_peak_mb: "",
        });
      }
    }
  }
  const fmt = (x: number | string) => (typeof x === "number" ? x.toFixed(x < 10 ? 2 : 0) : x);
  console.log(
    `GGUF bytes: ${(bytes / MB).toFixed(0)} MB (${llm}, ${mmproj}); budget 1.25 x + 300 MB = ${
      (budget / MB).toFixed(0)
    } MB`,
  );
  const cols = ["what", "load_s", "s_per_gb", "first_s", "load_peak_mb", "peak_mb", "ratio", "heap_mb"];
  console.log(`| ${cols.join(" | ")} |\n|${cols.map(() => "---").join("|")}|`);
  for (const r of rows) console.log(`| ${cols.map((c) => fmt(r[c])).join(" | ")} |`);
  if (v.out) writeFileSync(v.out, JSON.stringify({ bytes, budget, rows }, null, 2));
}

await main();
process.exit(0);
