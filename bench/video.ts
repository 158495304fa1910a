/**
 * The video rows of `bench`: a 10 s 1280x720 30 fps H.264 clip asked about at 16x with
 * stack_frames 1 and 3. WASM: time to first token through MiniCPMV.chat (decode, build units,
 * encode, prefill, first token), the time spent waiting for the decoder within it, the encode
 * time, and the decoder alone. Native: llama.cpp encoding the same units as images (the same
 * preprocessed tiles, timed per distinct tile shape with our oracle) plus llama-bench prefilling
 * a prompt of the same length; native has no video decoder, so its TTFT counts no decoding.
 */

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { Engine } from "../engine/ts/engine.ts";
import { MiniCPMV } from "../engine/ts/minicpmv.ts";
import { unitImage } from "../engine/ts/video/composite.ts";
import { MediaDecoder } from "../engine/ts/media/client.ts";
import type { VideoPlan } from "../engine/ts/video/plan.ts";
import { imageTiles } from "../engine/ts/vision/preprocess.ts";
import type { RgbImage } from "../engine/ts/vision/resize.ts";
import { buildCacheDir } from "../cli/paths.ts";
import { nativeEncodeTime, nativeSpeed } from "./native.ts";
import { sh } from "./util.ts";

/** A test-pattern clip (lavfi `source`, encoded with `encode`), written once with Debian's ffmpeg. */
export async function benchMediaClip(name: string, source: string, encode: string[]): Promise<string> {
  const dir = `${buildCacheDir()}/bench-media`;
  const file = `${dir}/${name}`;
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  console.error(`writing ${file} ...`);
  await sh("ffmpeg", ["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", source, ...encode, `${file}.tmp.mp4`])
    .catch((e) => {
      throw new Error(`writing bench clips needs Debian's ffmpeg (apt-get install ffmpeg): ${e.message}`);
    });
  await sh("mv", [`${file}.tmp.mp4`, file]);
  return file;
}

/** The bench clip: a moving test pattern, 10 s 1280x720 30 fps, x264 High, 2 s GOP. */
export function benchClip(): Promise<string> {
  return benchMediaClip("clip-1280x720-30fps-10s.mp4", "testsrc2=size=1280x720:rate=30:duration=10", [
    "-c:v",
    "libx264",
    "-profile:v",
    "high",
    "-pix_fmt",
    "yuv420p",
    "-g",
    "60",
  ]);
}

export interface VideoBenchRun {
  stackFrames: number;
  units: number;
  frames: number;
  videoTokens: number;
  promptTokens: number;
  /** WASM, seconds */
  ttftS: number;
  decodeWaitS: number;
  mediaS: number;
  decoderAloneS: number;
  /** WASM, a second question about the same video (its units from the encode cache) */
  secondTtftS: number;
  /** native, seconds */
  nativeEncodeS: number;
  nativePrefillS: number;
  nativeTtftS: number;
}

/** Native encode time of every unit's tiles: the same tiles, timed once per distinct shape. */
async function nativeUnitsSeconds(
  bin: string,
  mmproj: string,
  plan: VideoPlan,
  frames: Map<number, RgbImage>,
  mean: number[],
  std: number[],
  threads: number,
): Promise<number> {
  const perShape = new Map<string, number>();
  let total = 0;
  for (const unit of plan.units) {
    for (const tile of imageTiles(unitImage(unit, frames), unit.image, mean, std)) {
      const shape = `${tile.width}x${tile.height}`;
      if (!perShape.has(shape)) {
        perShape.set(shape, (await nativeEncodeTime(bin, mmproj, threads, 4, 1, tile)).s); // one warm-up, one timed
      }
      total += perShape.get(shape)!;
    }
  }
  return total;
}

/** WASM and native on the bench clip; `mmproj` is the file both engines read (Q8_0 rewrite). */
export async function videoBench(
  bin: string,
  llm: string,
  mmproj: string,
  threads: number,
): Promise<VideoBenchRun[]> {
  const clip = await benchClip();
  const bytes = new Uint8Array(readFileSync(clip));
  const out: VideoBenchRun[] = [];
  for (const stackFrames of [1, 3]) {
    const engine = await Engine.create({ threads, logLevel: "error" });
    // a fresh model per run: every first question encodes all of its units
    const mm = await MiniCPMV.load(engine, { model: llm, mmproj, contextSize: 4096 });
    try {
      const ask = () =>
        mm.chat([{
          role: "user",
          content: [{ type: "video", video: bytes }, { type: "text", text: "What happens in the video?" }],
        }], { temperature: 0, maxTokens: 1, stackFrames });
      const t0 = performance.now();
      const run = await ask();
      const r = await run.generation.result;
      const ttftS = (performance.now() - t0) / 1000;
      const [plan] = run.videoPlans;
      const t2 = performance.now();
      await (await ask()).generation.result;
      const secondTtftS = (performance.now() - t2) / 1000;

      // the decoder alone, and the decoded frames for the native side's tiles
      const decoder = MediaDecoder.create();
      const frames = new Map<number, RgbImage>();
      const t1 = performance.now();
      for await (const f of decoder.decodeFrames(bytes, plan.decodeFrames)) {
        frames.set(f.index, { width: f.width, height: f.height, data: f.rgb });
      }
      const decoderAloneS = (performance.now() - t1) / 1000;
      decoder.terminate();

      const { imageMean, imageStd } = mm.vision!.info;
      const nativeEncodeS = await nativeUnitsSeconds(bin, mmproj, plan, frames, imageMean, imageStd, threads);
      const prefill = await nativeSpeed(bin, llm, threads, r.usage.promptTokens, 1);
      const nativePrefillS = r.usage.promptTokens / prefill.prefill;
      out.push({
        stackFrames,
        units: plan.units.length,
        frames: plan.decodeFrames.length,
        videoTokens: plan.videoTokens,
        promptTokens: r.usage.promptTokens,
        ttftS,
        secondTtftS,
        decodeWaitS: run.media.decodeMs / 1000,
        mediaS: run.media.encodeMs / 1000,
        decoderAloneS,
        nativeEncodeS,
        nativePrefillS,
        nativeTtftS: nativeEncodeS + nativePrefillS,
      });
      console.error(
        `  video stack_frames ${stackFrames}: TTFT ${ttftS.toFixed(1)} s (waiting for the decoder ` +
          `${(run.media.decodeMs / 1000).toFixed(2)} s; decoder alone ${decoderAloneS.toFixed(2)} s), native ` +
          `${(nativeEncodeS + nativePrefillS).toFixed(1)} s (encode ${nativeEncodeS.toFixed(1)} + prefill ` +
          `${nativePrefillS.toFixed(1)}); second question ${secondTtftS.toFixed(1)} s`,
      );
    } finally {
      mm.close();
      engine.terminate();
    }
  }
  return out;
}
