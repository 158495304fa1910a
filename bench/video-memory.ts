/**
 * Peak memory of a long high-resolution video question: a 10-minute 1080p H.264 clip (written
 * once with Debian's ffmpeg into the build cache) asked about with the tiny test pair, so the
 * model's own memory is small and what is measured is decoding, unit building and tiling. Prints
 * the process's peak RSS before and after the question, the growth, and the size of one decoded
 * frame for comparison (frames are handed out one at a time and dropped once their unit is
 * tiled). Usage: deno run -A bench/video-memory.ts TINY_LLM TINY_MMPROJ [--stack-frames N]
 */

import { statSync } from "node:fs";
import { parseArgs } from "node:util";
import { Engine } from "../engine/ts/engine.ts";
import { MiniCPMV } from "../engine/ts/minicpmv.ts";
import { peakRssBytes } from "./util.ts";
import { benchMediaClip } from "./video.ts";

const { positionals, values } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: { "stack-frames": { type: "string", default: "1" } },
});
const [llm, mmproj] = positionals;
if (!llm || !mmproj) throw new Error("usage: bench/video-memory.ts TINY_LLM TINY_MMPROJ [--stack-frames N]");

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
try {
  // warm: a 2 s clip of the same size first, so the decoder, its workers and the frame buffers of
  // one 1080p unit exist before measuring
  await (await ask(await clipOf(2))).generation.result;
  const before = peakRssBytes();
  const t0 = performance.now();
  const run = await ask(clip);
  await run.generation.result;
  const after = peakRssBytes();
  const [plan] = run.videoPlans;
  const frameBytes = plan.meta.width * plan.meta.height * 3;
  const fileBytes = statSync(clip).size;
  console.log("| clip | file | units | frames decoded | seconds | peak RSS before | after | growth | one RGB frame |");
  console.log("|---|---|---|---|---|---|---|---|---|");
  console.log(
    `| 600 s 1920x1080 30 fps, stack_frames ${plan.stackFrames} | ${mb(fileBytes)} MB | ${plan.units.length} | ` +
      `${run.media.framesDecoded} | ` +
      `${((performance.now() - t0) / 1000).toFixed(1)} | ${mb(before)} MB | ${mb(after)} MB | ${
        mb(after - before)
      } MB | ` +
      `${mb(frameBytes)} MB |`,
  );
} finally {
  mm.close();
  engine.terminate();
}
