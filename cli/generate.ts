/**
 * `generate --model REF [--mmproj REF] [--offline] [--image FILE]... [--video FILE]... [--prompt TEXT] [--raw]
 *  [--downsample-mode 16x|4x] [--max-slice-nums N] [--no-image-id] [--max-num-frames N] [--stack-frames N]
 *  [--vision-weights q8_0|as-is] [--think]
 *  [--temp T] [--seed S] [--max-tokens N] [--threads N] [--simd auto|relaxed|simd128] [--ctx-size N] [--stop S]... [--json]`
 * Without --raw the prompt (after the images and videos) is one user message rendered with the
 * model's chat template; --raw sends the prompt text as-is (no media). Slicing options left unset
 * take each medium's default (images 9 slices with ids, videos 1 slice without).
 */

import { parseArgs } from "node:util";
import { Engine, type EngineOptions } from "../engine/ts/engine.ts";
import { InvalidRequestError } from "../engine/ts/errors.ts";
import { generate, type Generation } from "../engine/ts/generate.ts";
import { type ContentPart, MiniCPMV } from "../engine/ts/minicpmv.ts";
import type { VideoPlan } from "../engine/ts/video/plan.ts";
import type { DownsampleMode, ImagePlan } from "../engine/ts/vision/plan.ts";
import { terminalProgress } from "./progress.ts";

export async function run(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      model: { type: "string", short: "m" },
      mmproj: { type: "string" },
      image: { type: "string", multiple: true },
      video: { type: "string", multiple: true },
      prompt: { type: "string", short: "p", default: "Hello" },
      raw: { type: "boolean", default: false },
      "downsample-mode": { type: "string", default: "16x" },
      "max-slice-nums": { type: "string" },
      "no-image-id": { type: "boolean", default: false },
      "max-num-frames": { type: "string" },
      "stack-frames": { type: "string" },
      "vision-weights": { type: "string", default: "q8_0" },
      think: { type: "boolean", default: false },
      temp: { type: "string", default: "0.8" },
      seed: { type: "string" },
      "max-tokens": { type: "string", short: "n", default: "256" },
      threads: { type: "string", short: "t" },
      "ctx-size": { type: "string", short: "c", default: "4096" },
      stop: { type: "string", multiple: true },
      json: { type: "boolean", default: false },
      simd: { type: "string", default: "auto" },
      verbose: { type: "boolean", default: false },
      offline: { type: "boolean", default: false },
    },
  });
  if (!v.model) throw new InvalidRequestError("--model FILE is required", "model");
  const num = (s: string | undefined, name: string) => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isFinite(n)) throw new InvalidRequestError(`--${name} must be a number`, name);
    return n;
  };
  const images = v.image ?? [];
  const videos = v.video ?? [];
  for (const [flag, files] of [["image", images], ["video", videos]] as const) {
    if (files.length && !v.mmproj) throw new InvalidRequestError(`--${flag} needs --mmproj FILE`, "mmproj");
    if (files.length && v.raw) throw new InvalidRequestError(`--${flag} cannot be used with --raw`, "raw");
  }

  const engine = await Engine.create({
    threads: num(v.threads, "threads"),
    simd: v.simd as EngineOptions["simd"],
    logLevel: v.verbose ? "info" : "error",
  });
  let loaded: MiniCPMV | undefined;
  try {
    const visionWeights = v["vision-weights"];
    if (visionWeights !== "as-is" && visionWeights !== "q8_0") {
      throw new InvalidRequestError("--vision-weights must be as-is or q8_0", "vision-weights");
    }
    const progress = terminalProgress();
    const mm = loaded = await MiniCPMV.load(engine, {
      model: v.model,
      mmproj: v.mmproj ?? false,
      visionWeights,
      contextSize: num(v["ctx-size"], "ctx-size"),
      offline: v.offline,
      onProgress: progress,
    }).finally(() => progress.finish());
    const sampling = {
      temperature: num(v.temp, "temp"),
      seed: num(v.seed, "seed"),
      maxTokens: num(v["max-tokens"], "max-tokens"),
      stop: v.stop,
    };
    let gen: Generation;
    let plans: ImagePlan[] = [];
    let videoPlans: VideoPlan[] = [];
    let imageTokens = 0;
    let videoTokens = 0;
    if (v.raw) {
      gen = generate(mm.context, await mm.model.tokenize(v.prompt!), sampling);
    } else {
      const content: ContentPart[] = [
        ...images.map((image) => ({ type: "image" as const, image })),
        ...videos.map((video) => ({ type: "video" as const, video })),
        { type: "text", text: v.prompt! },
      ];
      const run = await mm.chat([{ role: "user", content }], {
        ...sampling,
        enableThinking: v.think,
        downsampleMode: v["downsample-mode"] as DownsampleMode,
        maxSliceNums: num(v["max-slice-nums"], "max-slice-nums"),
        useImageId: v["no-image-id"] ? false : undefined,
        maxNumFrames: num(v["max-num-frames"], "max-num-frames"),
        stackFrames: num(v["stack-frames"], "stack-frames"),
      });
      gen = run.generation;
      plans = run.plans;
      videoPlans = run.videoPlans;
      imageTokens = run.media.imageTokens;
      videoTokens = run.media.videoTokens;
    }
    if (!v.json) {
      for await (const piece of gen) await write(piece.text);
      await write("\n");
    }
    const r = await gen.result;
    if (v.json) {
      console.log(JSON.stringify({
        text: r.text,
        tokens: r.tokens,
        finish_reason: r.finishReason,
        usage: {
          prompt_tokens: r.usage.promptTokens,
          completion_tokens: r.usage.completionTokens,
          total_tokens: r.usage.totalTokens,
          image_tokens: imageTokens,
          video_tokens: videoTokens,
        },
        images: plans,
        videos: videoPlans.map(({ meta, decodeFrames, units, videoTokens, markupTokens }) => ({
          meta,
          frames: decodeFrames,
          units: units.map((u) => ({ kind: u.kind, frames: u.frames, size: u.size, tokens: u.image.imageTokens })),
          video_tokens: videoTokens,
          markup_tokens: markupTokens,
        })),
        timings: { prompt_ms: +r.timings.promptMs.toFixed(1), generate_ms: +r.timings.generateMs.toFixed(1) },
        simd: engine.simd,
      }));
    }
  } finally {
    loaded?.close();
    engine.terminate();
  }
  return 0;
}

const encoder = new TextEncoder();
function write(s: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(encoder.encode(s), () => resolve()));
}
