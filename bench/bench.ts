/**
 * `cli.ts bench [--threads 1,2] [--prompt 512] [--gen 128] [--reps 2] [--only llm,vision,vision-q8,cache] [--out FILE]`
 * Speed of the WASM engine and of native llama.cpp (same pinned source, same files, same
 * threads) on the real-shape MiniCPM-V 4.6 pair, generated on demand into the build cache:
 * prefill and decode (native: llama-bench) and one 448x448 tile through the vision encoder in
 * 16x and 4x (native: tests/oracle encode), with the F16 weights as shipped and with their Q8_0
 * rewrite; and two chat turns about one image (the encode cache). Prints a table; writes JSON.
 */

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { Engine } from "../engine/ts/engine.ts";
import { Model } from "../engine/ts/model.ts";
import { evaluate } from "../engine/ts/generate.ts";
import { convertedPath, VisionModel } from "../engine/ts/vision/vision-model.ts";
import { Rng } from "../engine/ts/tiny-model/random.ts";
import { createFileSink, openFile, runtime } from "../engine/ts/platform.ts";
import { generatePair } from "../engine/ts/tiny-model/generate.ts";
import { MiniCPMV } from "../engine/ts/minicpmv.ts";
import { encode as encodePng } from "fast-png";
import { buildCacheDir, defaultVocabPath, projectRoot } from "../cli/paths.ts";

interface Row {
  metric: string;
  threads: number;
  wasm: number;
  native: number;
  /** "tok/s" (higher is better) or "s" (lower is better) */
  unit: "tok/s" | "s";
}

/** WASM speed as a fraction of native speed, whatever the unit. */
const speedRatio = (r: Row) => (r.unit === "s" ? r.native / r.wasm : r.wasm / r.native);

function sh(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

/** The real-shape pair in the build cache; written (about a minute) when missing. */
export async function realShapeModels(): Promise<{ llm: string; mmproj: string }> {
  const dir = `${buildCacheDir()}/real-shape-v1`;
  const llm = `${dir}/real-shape-llm.gguf`;
  const mmproj = `${dir}/real-shape-mmproj-16x.gguf`;
  if (!existsSync(`${dir}/.done`)) {
    mkdirSync(dir, { recursive: true });
    console.error(`writing the real-shape pair to ${dir} ...`);
    const vocab = await openFile(await defaultVocabPath());
    await generatePair({ outDir: dir, realShape: true, vocab: vocab!, createSink: createFileSink });
    writeFileSync(`${dir}/.done`, "");
  }
  return { llm, mmproj };
}

async function nativeBin(): Promise<string> {
  return (await sh("bash", [`${await projectRoot()}/scripts/build-native.sh`])).trim();
}

async function nativeSpeed(bin: string, model: string, threads: number, prompt: number, gen: number, reps: number) {
  const out = await sh(`${bin}/llama-bench`, ["-m", model, "-t", String(threads), "-p", String(prompt), "-n", String(gen),
    "-r", String(reps), "-o", "json", "--no-warmup"]);
  const rows = JSON.parse(out) as { n_prompt: number; n_gen: number; avg_ts: number }[];
  return {
    prefill: rows.find((r) => r.n_prompt > 0)!.avg_ts,
    decode: rows.find((r) => r.n_gen > 0)!.avg_ts,
  };
}

async function wasmSpeed(model: string, threads: number, prompt: number, gen: number, reps: number) {
  const engine = await Engine.create({ threads, logLevel: "error" });
  try {
    const m = await Model.load(engine, model);
    const ctx = await m.createContext({ contextSize: prompt + gen + 16, batchSize: prompt });
    const tokens = Int32Array.from({ length: prompt }, (_, i) => 1000 + ((i * 7919) % 90000));
    const decodeRun = async () => {
      await evaluate(ctx, tokens.subarray(0, 1));
      const t0 = performance.now();
      for (let i = 0; i < gen; i++) {
        await engine.call("step", ctx.handle, m.handle, {
          tokens: Int32Array.of(tokens[i % prompt]), pos: Int32Array.of(i + 1), seqIds: Int32Array.of(0),
          outputs: [0], samplers: [0], wantLogits: [false],
        });
      }
      return gen / ((performance.now() - t0) / 1000);
    };
    const prefillRun = async () => {
      const t0 = performance.now();
      await evaluate(ctx, tokens);
      return prompt / ((performance.now() - t0) / 1000);
    };
    await prefillRun(); // warm-up: V8 tiers up the wasm during the first calls
    await decodeRun();
    let prefill = 0;
    let decode = 0;
    for (let r = 0; r < reps; r++) {
      prefill += await prefillRun();
      decode += await decodeRun();
    }
    return { prefill: prefill / reps, decode: decode / reps };
  } finally {
    engine.terminate();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function benchTile(size: number) {
  const rng = new Rng(7);
  return { width: size, height: size, data: Float32Array.from({ length: size * size * 3 }, () => rng.float() * 2 - 1) };
}

/** Seconds per tile, median of `reps` after one warm-up encode. */
async function nativeEncodeTime(bin: string, mmproj: string, threads: number, merge: number, reps: number) {
  const dir = mkdtempSync(`${tmpdir()}/mce-bench-`);
  try {
    const tile = benchTile(448);
    writeFileSync(`${dir}/tile.f32`, new Uint8Array(tile.data.buffer));
    const out = await sh(`${bin}/oracle`, ["encode", "--mmproj", mmproj, "--tile", `${dir}/tile.f32`, "--width", "448",
      "--height", "448", "--merge", String(merge), "--threads", String(threads), "--repeat", String(reps + 1),
      "--out", `${dir}/embd.f32`]);
    return median((JSON.parse(out).ms as number[]).slice(1)) / 1000;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function wasmEncodeTime(mmproj: string, threads: number, reps: number) {
  const engine = await Engine.create({ threads, logLevel: "error" });
  try {
    const v = await VisionModel.load(engine, mmproj);
    const tile = benchTile(448);
    const result: Record<string, number> = {};
    await v.encodeTile(tile, "16x"); // warm-up: V8 tiers the wasm up during the first encode
    for (const mode of ["16x", "4x"] as const) {
      const times: number[] = [];
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        await v.encodeTile(tile, mode);
        times.push((performance.now() - t0) / 1000);
      }
      result[mode] = median(times);
    }
    return result;
  } finally {
    engine.terminate();
  }
}

/** Two chat turns about one 448x448 image: the second takes the tile from the encode cache. */
async function cacheTurns(llm: string, mmproj: string, threads: number) {
  const engine = await Engine.create({ threads, logLevel: "error" });
  try {
    const mm = await MiniCPMV.load(engine, { model: llm, mmproj, contextSize: 1024 });
    const rng = new Rng(3);
    const image = encodePng({ width: 448, height: 448, channels: 3, data: Uint8Array.from({ length: 448 * 448 * 3 }, () => rng.u32() & 255) });
    const turns = [];
    for (let t = 0; t < 2; t++) {
      const t0 = performance.now();
      const run = await mm.chat([{ role: "user", content: [{ type: "image", image }, { type: "text", text: "Describe it." }] }],
        { temperature: 0, maxTokens: 1 });
      const r = await run.generation.result;
      turns.push({ encodeS: run.images.encodeMs / 1000, ttftS: (performance.now() - t0) / 1000, prefillS: r.timings.promptMs / 1000,
        tilesEncoded: run.images.tilesEncoded, tilesCached: run.images.tilesCached });
    }
    return turns;
  } finally {
    engine.terminate();
  }
}

export async function runBench(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      threads: { type: "string", default: "1,2" },
      prompt: { type: "string", default: "512" },
      gen: { type: "string", default: "128" },
      reps: { type: "string", default: "2" },
      only: { type: "string" },
      out: { type: "string" },
    },
  });
  const want = (part: string) => !v.only || v.only.split(",").includes(part);
  const threads = v.threads!.split(",").map(Number);
  const [prompt, gen, reps] = [Number(v.prompt), Number(v.gen), Number(v.reps)];
  const { llm, mmproj } = await realShapeModels();
  const bin = await nativeBin();
  const rows: Row[] = [];
  for (const t of threads) {
    if (want("llm")) {
      const native = await nativeSpeed(bin, llm, t, prompt, gen, reps);
      const wasm = await wasmSpeed(llm, t, prompt, gen, reps);
      rows.push({ metric: `prefill ${prompt}`, unit: "tok/s", threads: t, wasm: wasm.prefill, native: native.prefill });
      rows.push({ metric: `decode ${gen}`, unit: "tok/s", threads: t, wasm: wasm.decode, native: native.decode });
    }
    for (const [part, weights] of [["vision", "F16"], ["vision-q8", "Q8_0"]] as const) {
      if (!want(part)) continue;
      // both engines read the same file: the mmproj as shipped, or its Q8_0 rewrite
      const file = weights === "F16" ? mmproj : await convertedPath(mmproj);
      const wasm = await wasmEncodeTime(file, t, reps);
      for (const [mode, merge] of [["16x", 4], ["4x", 2]] as const) {
        const native = await nativeEncodeTime(bin, file, t, merge, reps);
        rows.push({ metric: `vision encode 448x448 ${mode}, ${weights} weights`, unit: "s", threads: t, wasm: wasm[mode], native });
      }
    }
  }
  const extra: Record<string, unknown> = {};
  if (want("cache")) {
    const t = threads[threads.length - 1];
    const turns = await cacheTurns(llm, mmproj, t);
    extra.cacheTurns = { threads: t, turns };
    console.log(`encode cache, ${t} threads, one 448x448 image (16x), two turns:`);
    for (const [i, x] of turns.entries()) {
      console.log(`  turn ${i + 1}: image prep+encode ${x.encodeS.toFixed(2)} s, prefill ${x.prefillS.toFixed(2)} s, ` +
        `time to first token ${x.ttftS.toFixed(2)} s (tiles encoded ${x.tilesEncoded}, cached ${x.tilesCached})`);
    }
  }
  const head = `| metric | unit | threads | WASM (${runtime}) | native | WASM speed / native |`;
  const lines = rows.map((r) =>
    `| ${r.metric} | ${r.unit} | ${r.threads} | ${r.wasm.toFixed(2)} | ${r.native.toFixed(2)} | ${speedRatio(r).toFixed(3)}x |`
  );
  console.log([head, "|---|---|---|---|---|---|", ...lines].join("\n"));
  const result = { date: new Date().toISOString(), runtime, models: { llm, mmproj }, rows, ...extra };
  if (v.out) writeFileSync(v.out, JSON.stringify(result, null, 2));
  return 0;
}
