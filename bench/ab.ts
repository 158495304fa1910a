/**
 * Compares WASM builds of the engine on the real-shape pair, interleaved round by round so that
 * load from other processes on the machine hits every build alike (kernel and flag work).
 * `node dist/node/bench_ab.js --dirs DIR_A,DIR_B [--threads 2] [--rounds 3] [--parts llm,vision] [--mmproj FILE]`
 * (bundle with `node scripts/bundle.mjs bench/ab.ts`). Each DIR holds minicpmv-edge.{mjs,wasm}.
 */

import { parseArgs } from "node:util";
import { Engine } from "../engine/ts/engine.ts";
import { VisionModel } from "../engine/ts/vision/vision-model.ts";
import { realShapeModels } from "./bench.ts";
import { benchTile, median } from "./util.ts";
import { llmSpeedRound } from "./wasm.ts";

const { values: v } = parseArgs({
  options: {
    dirs: { type: "string" },
    threads: { type: "string", default: "2" },
    rounds: { type: "string", default: "3" },
    prompt: { type: "string", default: "512" },
    gen: { type: "string", default: "64" },
    parts: { type: "string", default: "llm" },
    mmproj: { type: "string" },
    mode: { type: "string", default: "16x" },
  },
});
const dirs = v.dirs!.split(",").map((d) => new URL(d.endsWith("/") ? d : d + "/", `file://${process.cwd()}/`));
const threads = Number(v.threads);
const [prompt, gen] = [Number(v.prompt), Number(v.gen)];
const parts = v.parts!.split(",");
const models = await realShapeModels();
const mmproj = v.mmproj ?? models.mmproj;

interface Setup {
  engine: Engine;
  llm?: { run(): Promise<{ prefill: number; decode: number }> };
  vision?: VisionModel;
}

async function setup(dir: URL): Promise<Setup> {
  const engine = await Engine.create({ threads, wasmDir: dir, logLevel: "error" });
  const s: Setup = { engine };
  if (parts.includes("llm")) s.llm = { run: await llmSpeedRound(engine, models.llm, prompt, gen) };
  if (parts.includes("vision")) s.vision = await VisionModel.load(engine, mmproj, { weights: "as-is" });
  return s;
}

const tile = benchTile(448);
const mode = v.mode as "16x" | "4x";

const setups: Setup[] = [];
for (const d of dirs) setups.push(await setup(d));
// warm-up: V8 tiers the wasm up during the first calls
for (const s of setups) {
  await s.llm?.run();
  if (s.vision) await s.vision.encodeTile(tile, mode);
}
const results: Record<string, number[]>[] = dirs.map(() => ({}));
const push = (i: number, k: string, x: number) => (results[i][k] ??= []).push(x);
for (let r = 0; r < Number(v.rounds); r++) {
  for (const [i, s] of setups.entries()) {
    if (s.llm) {
      const x = await s.llm.run();
      push(i, "prefill tok/s", x.prefill);
      push(i, "decode tok/s", x.decode);
    }
    if (s.vision) {
      const t0 = performance.now();
      await s.vision.encodeTile(tile, mode);
      push(i, `vision ${mode} s`, (performance.now() - t0) / 1000);
    }
    console.error(
      `round ${r + 1}, ${dirs[i].pathname}: ${
        JSON.stringify(
          Object.fromEntries(Object.entries(results[i]).map(([k, xs]) => [k, +xs[xs.length - 1].toFixed(2)])),
        )
      }`,
    );
  }
}
for (const [i, d] of dirs.entries()) {
  const line = Object.entries(results[i]).map(([k, xs]) =>
    `${k} ${median(xs).toFixed(2)} [${xs.map((x) => x.toFixed(2)).join(" ")}]`
  );
  console.log(`${d.pathname}: ${line.join("; ")}`);
}
for (const s of setups) s.engine.terminate();
process.exit(0); // idle pool workers would keep the process alive
