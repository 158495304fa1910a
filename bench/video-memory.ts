/**
 * Peak memory of a long high-resolution video question: a 10-minute 1080p H.264 clip (written
 * once with Debian's ffmpeg into the build cache) asked about with the tiny test pair, so the
 * model's own memory is small and what is measured is loading, decoding, unit building and
 * tiling. Prints the process's peak RSS before and after the question and its growth against what
 * the question has to keep (issue #13: the file once, plus the RGB frames of the units in flight),
 * and where the memory went: this thread's heap, the media workers' heaps, the FFmpeg wasm memory
 * and the engine's wasm memory. Usage:
 *   deno run -A bench/video-memory.ts TINY_LLM TINY_MMPROJ [--stack-frames N] [--out FILE]
 * (bench/results/video-memory.json is its --out).
 */

import { statSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Engine } from "../engine/ts/engine.ts";
import type { MediaWorkerStats } from "../engine/ts/media/client.ts";
import { MiniCPMV } from "../engine/ts/minicpmv.ts";
import { peakRssBytes } from "./util.ts";
import { benchMediaClip } from "./video.ts";

const { positionals, values } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { "stack-frames": { type: "string", default: "1" }, out: { type: "string" } },
});
const [llm, mmproj] = positionals;
if (!llm || !mmproj) {
  throw new Error("usage: bench/video-memory.ts TINY_LLM TINY_MMPROJ [--stack-frames N] [--out FILE]");
}

/** A 1080p 30 fps test pattern of `seconds`, x264 at a low rate (the input bytes are held in memory too). */
const clipOf = (seconds: number) =>
  benchMediaClip(`clip-1920x1080-30fps-${seconds}s.mp4`, `testsrc2=size=1920x1080:rate=30:duration=${seconds}`, [
    "-c:v",
    "libx264",
    "-preset",
    "veryfast",
    "-crf",
    "40",
    "-g",
    "30",
    "-pix_fmt",
    "yuv420p",
  ]);
const clip = await clipOf(600);
const ask = (video: string) =>
  mm.chat([{ role: "user", content: [{ type: "video", video }, { type: "text", text: "What happens?" }] }], {
    temperature: 0,
    maxTokens: 1,
    stackFrames: Number(values["stack-frames"]),
    maxNumFrames: 48, // 48 units of 66 tokens fill the tiny model's 4096-token context
  });

const mb = (b: number) => (b / 2 ** 20).toFixed(0);
const engine = await Engine.create({ threads: 2, logLevel: "error" });
const mm = await MiniCPMV.load(engine, { model: llm, mmproj, contextSize: 4096 });
/** the media workers of `mm` (private: read here for their memory only) */
const media = () => mm["media"]!;
/** the media workers' stats summed (they are threads of this process: their memory is in its RSS) */
const mediaStats = async (resetPeak = false) => {
  const all = await media().stats(resetPeak);
  const sum = (k: keyof MediaWorkerStats) => all.reduce((a, s) => a + s[k], 0);
  return {
    ffmpeg: sum("ffmpegMemoryBytes"),
    heap: sum("heapBytes"),
    heapPeak: sum("heapPeakBytes"),
    opened: sum("videosOpened"),
  };
};
/** this thread's JS heap + external memory (ArrayBuffers, shared ones included) */
const mainHeap = () => {
  const u = process.memoryUsage();
  return u.heapUsed + u.external;
};
try {
  // warm: a 2 s clip of the same size first, so the decoder, its workers and the frame buffers of
  // one 1080p unit exist before measuring
  await (await ask(await clipOf(2))).generation.result;
  const [before, engineBefore, mediaBefore, mainBefore] = [
    peakRssBytes(),
    await engine.call("memoryBytes"),
    await mediaStats(true), // the heap peak of the question alone
    mainHeap(),
  ];
  let mainPeak = mainBefore;
  const sampler = setInterval(() => mainPeak = Math.max(mainPeak, mainHeap()), 5);
  const t0 = performance.now();
  const run = await ask(clip);
  await run.generation.result;
  clearInterval(sampler);
  const seconds = (performance.now() - t0) / 1000;
  const after = peakRssBytes();
  const [engineAfter, mediaAfter] = [await engine.call("memoryBytes"), await mediaStats()];
  const [plan] = run.videoPlans;
  const frameBytes = plan.meta.width * plan.meta.height * 3;
  const fileBytes = statSync(clip).size;
  // What the question has to hold: the file once, and the frames of the units in flight as RGB:
  // the unit the encoder works on and the one the media worker builds meanwhile (video/encode.ts).
  const unitsInFlight = 2;
  const unitFrames = Math.max(...plan.units.map((u) => u.frames.length));
  const kept = fileBytes + unitsInFlight * unitFrames * frameBytes;
  const growth = after - before;
  const result = {
    date: new Date().toISOString(),
    runtime: "deno",
    clip: `600 s 1920x1080 30 fps H.264, stack_frames ${plan.stackFrames}, max_num_frames 48`,
    fileBytes,
    units: plan.units.length,
    framesDecoded: run.media.framesDecoded,
    videosOpened: mediaAfter.opened - mediaBefore.opened,
    seconds,
    peakRssBeforeBytes: before,
    peakRssAfterBytes: after,
    peakRssGrowthBytes: growth,
    keptBytes: kept,
    kept: `the file once + ${unitsInFlight} units in flight x ${unitFrames} RGB frame(s) of ${frameBytes} bytes`,
    breakdown: {
      mainHeapPeakGrowthBytes: mainPeak - mainBefore,
      mediaWorkersHeapPeakGrowthBytes: mediaAfter.heapPeak - mediaBefore.heap,
      ffmpegWasmGrowthBytes: mediaAfter.ffmpeg - mediaBefore.ffmpeg,
      ffmpegWasmBytes: mediaAfter.ffmpeg,
      engineWasmGrowthBytes: engineAfter - engineBefore,
    },
  };
  console.log(
    "| clip | file | units | frames decoded | videos opened | seconds | peak RSS before | after | growth | kept (bound) | growth / kept |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|---|");
  console.log(
    `| 600 s 1920x1080 30 fps, stack_frames ${plan.stackFrames} | ${mb(fileBytes)} MB | ${plan.units.length} | ` +
      `${run.media.framesDecoded} | ${result.videosOpened} | ${seconds.toFixed(1)} | ${mb(before)} MB | ` +
      `${mb(after)} MB | ${mb(growth)} MB | ${mb(kept)} MB | ${(growth / kept).toFixed(2)} |`,
  );
  console.log(`\nkept = ${result.kept}\n`);
  console.log(
    "| main thread heap+external peak growth | media workers' heap+external peak growth | ffmpeg wasm growth (size) | engine wasm growth |",
  );
  console.log("|---|---|---|---|");
  const b = result.breakdown;
  console.log(
    `| ${mb(b.mainHeapPeakGrowthBytes)} MB | ${mb(b.mediaWorkersHeapPeakGrowthBytes)} MB | ` +
      `${mb(b.ffmpegWasmGrowthBytes)} MB (${mb(b.ffmpegWasmBytes)} MB) | ${mb(b.engineWasmGrowthBytes)} MB |`,
  );
  if (values.out) writeFileSync(values.out, JSON.stringify(result, null, 2) + "\n");
} finally {
  mm.close();
  engine.terminate();
}
