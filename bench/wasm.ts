/** The WASM side of the benchmark: the engine as the library runs it. */

import { Engine } from "../engine/ts/engine.ts";
import { Model } from "../engine/ts/model.ts";
import { evaluate } from "../engine/ts/generate.ts";
import { VisionModel } from "../engine/ts/vision/vision-model.ts";
import { MiniCPMV } from "../engine/ts/minicpmv.ts";
import { benchTile, median, peakRssBytes } from "./util.ts";

/** Prefill `prompt` tokens, then decode `gen` tokens one by one: tokens/s of each. */
export async function llmSpeedRound(engine: Engine, model: string, prompt: number, gen: number) {
  const m = await Model.load(engine, model);
  const ctx = await m.createContext({ contextSize: prompt + gen + 16, batchSize: prompt });
  const tokens = Int32Array.from({ length: prompt }, (_, i) => 1000 + ((i * 7919) % 90000));
  return async () => {
    let t0 = performance.now();
    await evaluate(ctx, tokens);
    const prefill = prompt / ((performance.now() - t0) / 1000);
    await evaluate(ctx, tokens.subarray(0, 1));
    t0 = performance.now();
    for (let i = 0; i < gen; i++) {
      await engine.call("step", ctx.handle, m.handle, {
        tokens: Int32Array.of(tokens[i % prompt]),
        pos: Int32Array.of(i + 1),
        seqIds: Int32Array.of(0),
        outputs: [0],
        samplers: [0],
        wantLogits: [false],
      });
    }
    return { prefill, decode: gen / ((performance.now() - t0) / 1000) };
  };
}

/**
 * A loaded model for prefill/decode rounds. The engine stays loaded between rounds so that the
 * caller can interleave them with native rounds (machine load then hits both alike).
 */
export async function wasmSpeedSession(model: string, threads: number, prompt: number, gen: number) {
  const engine = await Engine.create({ threads, logLevel: "error" });
  const round = await llmSpeedRound(engine, model, prompt, gen);
  await round(); // warm-up: V8 tiers up the wasm during the first calls
  return { round, close: () => engine.terminate() };
}

/** Seconds per 448x448 tile in 16x and 4x (median of `reps` after one warm-up encode), and the embeddings. */
export async function wasmEncodeTime(mmproj: string, threads: number, reps: number) {
  const engine = await Engine.create({ threads, logLevel: "error" });
  try {
    const v = await VisionModel.load(engine, mmproj, { weights: "as-is" }); // the file given is the one measured
    const tile = benchTile(448);
    const result: Record<string, { s: number; embd: Float32Array }> = {};
    await v.encodeTile(tile, "16x"); // warm-up: V8 tiers the wasm up during the first encode
    for (const mode of ["16x", "4x"] as const) {
      const times: number[] = [];
      let embd: Float32Array = new Float32Array();
      for (let r = 0; r < reps; r++) {
        const t0 = performance.now();
        embd = await v.encodeTile(tile, mode);
        times.push((performance.now() - t0) / 1000);
      }
      result[mode] = { s: median(times), embd };
    }
    return result;
  } finally {
    engine.terminate();
  }
}

/**
 * Load time (language model + mmproj + context), time to first token for one image prompt
 * (decode, slice, encode, prefill, sample; the first request after load) and the peak RSS.
 * Run in a fresh process (`bench --child-chat`), so the RSS is this scenario's alone.
 */
export async function wasmChat(llm: string, mmproj: string, image: string, threads: number) {
  const t0 = performance.now();
  const engine = await Engine.create({ threads, logLevel: "error" });
  try {
    const mm = await MiniCPMV.load(engine, { model: llm, mmproj, contextSize: 4096, visionWeights: "as-is" });
    const loadS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const run = await mm.chat([{
      role: "user",
      content: [{ type: "image", image }, { type: "text", text: "Describe it." }],
    }], { temperature: 0, maxTokens: 1 });
    const r = await run.generation.result;
    const ttftS = (performance.now() - t1) / 1000;
    return { loadS, ttftS, peakRssMB: peakRssBytes() / 2 ** 20, promptTokens: r.usage.promptTokens };
  } finally {
    engine.terminate();
  }
}
