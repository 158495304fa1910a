/**
 * `cli.ts bench [--threads 1,2] [--prompt 512] [--gen 128] [--reps 2] [--out FILE]`
 * Prefill and decode speed of the WASM engine and of native llama.cpp (llama-bench, same
 * pinned source, same file, same threads) on the real-shape MiniCPM-V 4.6 language model,
 * generated on demand into the build cache. Prints a table with WASM/native ratios and
 * writes the numbers as JSON.
 */

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Engine } from "../engine/ts/engine.ts";
import { Model } from "../engine/ts/model.ts";
import { createFileSink, openFile, runtime } from "../engine/ts/platform.ts";
import { generatePair } from "../engine/ts/tiny-model/generate.ts";
import { buildCacheDir, defaultVocabPath } from "../cli/paths.ts";

interface Row {
  metric: string;
  threads: number;
  wasm: number;
  native: number;
}

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
  const root = new URL("..", import.meta.url).pathname;
  return (await sh("bash", [`${root}scripts/build-native.sh`])).trim();
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
      await ctx.evaluate(tokens.subarray(0, 1));
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
      await ctx.evaluate(tokens);
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

export async function runBench(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      threads: { type: "string", default: "1,2" },
      prompt: { type: "string", default: "512" },
      gen: { type: "string", default: "128" },
      reps: { type: "string", default: "2" },
      out: { type: "string" },
    },
  });
  const threads = v.threads!.split(",").map(Number);
  const [prompt, gen, reps] = [Number(v.prompt), Number(v.gen), Number(v.reps)];
  const { llm } = await realShapeModels();
  const bin = await nativeBin();
  const rows: Row[] = [];
  for (const t of threads) {
    const native = await nativeSpeed(bin, llm, t, prompt, gen, reps);
    const wasm = await wasmSpeed(llm, t, prompt, gen, reps);
    rows.push({ metric: `prefill ${prompt} (tok/s)`, threads: t, wasm: wasm.prefill, native: native.prefill });
    rows.push({ metric: `decode ${gen} (tok/s)`, threads: t, wasm: wasm.decode, native: native.decode });
  }
  const head = `| metric | threads | WASM (${runtime}) | native | WASM/native |`;
  const lines = rows.map((r) =>
    `| ${r.metric} | ${r.threads} | ${r.wasm.toFixed(2)} | ${r.native.toFixed(2)} | ${(r.wasm / r.native).toFixed(2)}x |`
  );
  console.log([head, "|---|---|---|---|---|", ...lines].join("\n"));
  const result = { date: new Date().toISOString(), runtime, model: llm, rows };
  if (v.out) writeFileSync(v.out, JSON.stringify(result, null, 2));
  return 0;
}
