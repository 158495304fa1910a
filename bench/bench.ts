/**
 * `cli.ts bench [--threads 2] [--prompt 512] [--gen 128] [--reps 3] [--only llm,vision,vision-q8,chat,cache,video]
 *   [--chat-weights q8_0|f16] [--native-avx2] [--out FILE.json] [--chart FILE.svg]`
 * Speed of the WASM engine and of native llama.cpp (same pinned source, same files, same
 * threads) on the real-shape MiniCPM-V 4.6 pair, generated on demand into the build cache:
 * prefill and decode (native: llama-bench); one 448x448 tile through the vision encoder in 16x
 * and 4x with the F16 weights as shipped and with their Q8_0 rewrite (native: oracle encode);
 * model load time, time to first token for a 1024x768 image and peak RSS, each engine in a fresh
 * process (native: oracle chat); two chat turns about one image (the encode and prefix caches, WASM only); a
 * 10 s 720p video at stack_frames 1 and 3 (video.ts: time to first token and the decoder's share;
 * native: the same units encoded as images plus the same prompt length prefilled).
 * Prints a table with ratios; writes JSON and an SVG chart.
 */

import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { Engine } from "../engine/ts/engine.ts";
import { convertedPath } from "../engine/ts/vision/vision-model.ts";
import { rowCosines } from "../engine/ts/vision/similarity.ts";
import { Rng } from "../engine/ts/tiny-model/random.ts";
import { createFileSink, openFile, runtime } from "../engine/ts/platform/index.ts";
import { generatePair } from "../engine/ts/tiny-model/generate.ts";
import { MiniCPMV } from "../engine/ts/minicpmv.ts";
import { encode as encodePng } from "fast-png";
import { buildCacheDir, defaultVocabPath, projectRoot } from "../cli/paths.ts";
import { nativeChat, nativeEncodeTime, nativeSpeed } from "./native.ts";
import { wasmChat, wasmEncodeTime, wasmSpeedSession } from "./wasm.ts";
import { chart, type Row, table } from "./report.ts";
import { sh } from "./util.ts";
import { videoBench } from "./video.ts";

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

/** cpu "native": built for this CPU (GGML_NATIVE); "avx2": AVX2/FMA/F16C only */
async function nativeBin(cpu: "native" | "avx2" = "native"): Promise<string> {
  return (await sh("bash", [`${await projectRoot()}/scripts/build-native.sh`], { MCE_NATIVE_CPU: cpu })).trim();
}

function noisePng(width: number, height: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  return encodePng({
    width,
    height,
    channels: 3,
    data: Uint8Array.from({ length: width * height * 3 }, () => rng.u32() & 255),
  });
}

/** This CLI again, in a fresh process of the same runtime. */
function selfCommand(args: string[]): [string, string[]] {
  const script = process.argv[1];
  return [process.execPath, runtime === "deno" ? ["run", "-A", script, ...args] : [script, ...args]];
}

/**
 * Per-token cosine similarity (min and mean over the tile) of the bench tile's embeddings: what
 * the Q8_0 rewrite changes against the shipped F16 weights, and WASM against native per file.
 */
function visionCosines(embd: Record<string, Float32Array>, width: number) {
  const out: Record<string, { min: number; mean: number }> = {};
  for (const mode of ["16x", "4x"]) {
    const pairs = [
      ["Q8_0 vs F16 (WASM)", "wasm Q8_0", "wasm F16"],
      ["Q8_0 vs F16 (native)", "native Q8_0", "native F16"],
      ["WASM vs native (F16)", "wasm F16", "native F16"],
      ["WASM vs native (Q8_0)", "wasm Q8_0", "native Q8_0"],
    ];
    for (const [label, a, b] of pairs) {
      const c = rowCosines(embd[`${a} ${mode}`], embd[`${b} ${mode}`], width);
      out[`${mode} ${label}`] = c;
      console.error(`  cosine ${mode} ${label}: min ${c.min.toFixed(6)}, mean ${c.mean.toFixed(6)}`);
    }
  }
  return out;
}

/**
 * The same question about one 448x448 image twice: the second takes the tile from the encode cache
 * and the prompt from the prefix cache (all but the positions after the last checkpoint).
 */
async function cacheTurns(llm: string, mmproj: string, threads: number) {
  const engine = await Engine.create({ threads, logLevel: "error" });
  try {
    const mm = await MiniCPMV.load(engine, { model: llm, mmproj, contextSize: 1024 });
    const image = noisePng(448, 448, 3);
    const turns = [];
    for (let t = 0; t < 2; t++) {
      const t0 = performance.now();
      const run = await mm.chat([{
        role: "user",
        content: [{ type: "image", image }, { type: "text", text: "Describe it." }],
      }], { temperature: 0, maxTokens: 1 });
      const r = await run.generation.result;
      turns.push({
        encodeS: run.media.encodeMs / 1000,
        ttftS: (performance.now() - t0) / 1000,
        prefillS: r.timings.promptMs / 1000,
        tilesEncoded: run.media.tilesEncoded,
        tilesCached: run.media.tilesCached,
        cachedTokens: r.usage.cachedTokens ?? 0,
      });
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
      threads: { type: "string", default: "2" },
      prompt: { type: "string", default: "512" },
      gen: { type: "string", default: "128" },
      reps: { type: "string", default: "3" },
      only: { type: "string" },
      "chat-weights": { type: "string", default: "q8_0" },
      // also compare with native llama.cpp built for AVX2 only (the machine class)
      "native-avx2": { type: "boolean", default: false },
      out: { type: "string" },
      chart: { type: "string" },
      "child-chat": { type: "string" }, // internal: the WASM chat scenario in a fresh process
    },
  });
  if (v["child-chat"]) {
    const c = JSON.parse(v["child-chat"]);
    console.log(JSON.stringify(await wasmChat(c.llm, c.mmproj, c.image, c.threads)));
    return 0;
  }
  const want = (part: string) => !v.only || v.only.split(",").includes(part);
  const threads = v.threads!.split(",").map(Number);
  const [prompt, gen, reps] = [Number(v.prompt), Number(v.gen), Number(v.reps)];
  const { llm, mmproj } = await realShapeModels();
  const probe = await Engine.create({ threads: 1, logLevel: "error" });
  const simd = probe.simd; // the build every WASM row below runs (simd: "auto")
  probe.terminate();
  const bin = await nativeBin();
  const binAvx2 = v["native-avx2"] ? await nativeBin("avx2") : undefined;
  const rows: Row[] = [];
  const extra: Record<string, unknown> = {};
  const add = (r: Row) => {
    rows.push(r);
    console.error(
      `  ${r.metric}, ${r.threads} threads: WASM ${r.wasm.toFixed(2)} ${r.unit}, native ${
        r.native.toFixed(2)
      } ${r.unit}`,
    );
  };
  for (const t of threads) {
    if (want("llm")) {
      // rounds alternate between the engines; the best round of each counts (other processes
      // on a shared machine only ever slow a round down)
      const session = await wasmSpeedSession(llm, t, prompt, gen);
      const best = {
        wasm: { prefill: 0, decode: 0 },
        native: { prefill: 0, decode: 0 },
        avx2: { prefill: 0, decode: 0 },
      };
      try {
        for (let r = 0; r < reps; r++) {
          const sides = [["native", () => nativeSpeed(bin, llm, t, prompt, gen)], [
            "wasm",
            () => session.round(),
          ]] as const;
          for (
            const [side, measure] of binAvx2
              ? [...sides, ["avx2", () => nativeSpeed(binAvx2, llm, t, prompt, gen)] as const]
              : sides
          ) {
            const x = await measure();
            best[side].prefill = Math.max(best[side].prefill, x.prefill);
            best[side].decode = Math.max(best[side].decode, x.decode);
          }
        }
      } finally {
        session.close();
      }
      const avx2 = (x: number) => (binAvx2 ? { nativeAvx2: x } : {});
      add({
        metric: `prefill ${prompt}`,
        unit: "tok/s",
        threads: t,
        wasm: best.wasm.prefill,
        native: best.native.prefill,
        ...avx2(best.avx2.prefill),
      });
      add({
        metric: `decode ${gen}`,
        unit: "tok/s",
        threads: t,
        wasm: best.wasm.decode,
        native: best.native.decode,
        ...avx2(best.avx2.decode),
      });
    }
    const embd: Record<string, Float32Array> = {}; // "wasm F16 16x" etc.
    for (const [part, weights] of [["vision", "F16"], ["vision-q8", "Q8_0"]] as const) {
      if (!want(part)) continue;
      // both engines read the same file: the mmproj as shipped, or its Q8_0 rewrite
      const file = weights === "F16" ? mmproj : await convertedPath(mmproj);
      const wasm = await wasmEncodeTime(file, t, reps);
      for (const [mode, merge] of [["16x", 4], ["4x", 2]] as const) {
        const native = await nativeEncodeTime(bin, file, t, merge, reps);
        const avx2 = binAvx2 ? { nativeAvx2: (await nativeEncodeTime(binAvx2, file, t, merge, reps)).s } : {};
        add({
          metric: `vision encode 448 tile ${mode}, ${weights}`,
          unit: "s",
          threads: t,
          wasm: wasm[mode].s,
          native: native.s,
          ...avx2,
        });
        embd[`wasm ${weights} ${mode}`] = wasm[mode].embd;
        embd[`native ${weights} ${mode}`] = native.embd;
      }
    }
    if (want("vision") && want("vision-q8")) extra.visionCosine = visionCosines(embd, 1024);
    if (want("chat")) {
      const weights = v["chat-weights"] === "f16" ? "F16" : "Q8_0";
      const file = weights === "F16" ? mmproj : await convertedPath(mmproj);
      const dir = mkdtempSync(`${tmpdir()}/mce-bench-`);
      try {
        const image = `${dir}/image-1024x768.png`;
        writeFileSync(image, noisePng(1024, 768, 5));
        const native = await nativeChat(bin, llm, file, image, t);
        const [cmd, cargs] = selfCommand([
          "bench",
          "--child-chat",
          JSON.stringify({ llm, mmproj: file, image, threads: t }),
        ]);
        const wasm = JSON.parse((await sh(cmd, cargs)).trim().split("\n").pop()!) as typeof native;
        extra.chat = { threads: t, weights, image: "1024x768 PNG (noise), 16x, default slicing", wasm, native };
        add({
          metric: `time to first token, 1024x768 image, ${weights}`,
          unit: "s",
          threads: t,
          wasm: wasm.ttftS,
          native: native.ttftS,
        });
        add({
          metric: "model load (LLM + mmproj + context)",
          unit: "s",
          threads: t,
          wasm: wasm.loadS,
          native: native.loadS,
        });
        add({
          metric: "peak RSS (load + one image prompt)",
          unit: "MB",
          threads: t,
          wasm: wasm.peakRssMB,
          native: native.peakRssMB,
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  if (want("video")) {
    const t = threads[threads.length - 1];
    const runs = await videoBench(bin, llm, await convertedPath(mmproj), t);
    extra.video = { threads: t, clip: "10 s 1280x720 30 fps H.264 High, 16x, Q8_0 vision weights", runs };
    for (const r of runs) {
      add({
        metric: `time to first token, 10 s 720p video, stack_frames ${r.stackFrames}`,
        unit: "s",
        threads: t,
        wasm: r.ttftS,
        native: r.nativeTtftS,
      });
      console.log(
        `video, stack_frames ${r.stackFrames}: ${r.units} units, ${r.frames} frames, ${r.videoTokens} video tokens; ` +
          `waiting for the decoder ${r.decodeWaitS.toFixed(2)} s = ${(100 * r.decodeWaitS / r.ttftS).toFixed(1)}% ` +
          `of TTFT (decoder alone ${r.decoderAloneS.toFixed(2)} s); media ${r.mediaS.toFixed(1)} s; native encode ` +
          `${r.nativeEncodeS.toFixed(1)} s + prefill ${r.nativePrefillS.toFixed(1)} s; second question (cached) ` +
          `${r.secondTtftS.toFixed(1)} s`,
      );
    }
  }
  if (want("cache")) {
    const t = threads[threads.length - 1];
    const turns = await cacheTurns(llm, mmproj, t);
    extra.cacheTurns = { threads: t, turns };
    console.log(`encode and prefix caches, ${t} threads, one 448x448 image (16x, Q8_0 vision weights), two turns:`);
    for (const [i, x] of turns.entries()) {
      console.log(
        `  turn ${i + 1}: image prep+encode ${x.encodeS.toFixed(2)} s, prefill ${x.prefillS.toFixed(2)} s, ` +
          `time to first token ${x.ttftS.toFixed(2)} s (tiles encoded ${x.tilesEncoded}, cached ${x.tilesCached}; ` +
          `prompt tokens cached ${x.cachedTokens})`,
      );
    }
  }
  console.log(table(rows, `${runtime}, ${simd}`));
  const date = new Date().toISOString();
  const result = { date, runtime, simd, models: { llm, mmproj }, rows, ...extra };
  if (v.out) writeFileSync(v.out, JSON.stringify(result, null, 2) + "\n");
  if (v.chart && rows.length) {
    writeFileSync(
      v.chart,
      chart(
        rows,
        `minicpmv-edge: WASM (${runtime}, ${simd}) vs native llama.cpp, real-shape MiniCPM-V 4.6, ${date.slice(0, 10)}`,
      ),
    );
  }
  return 0;
}
