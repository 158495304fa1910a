/**
 * Video understanding end to end through the real engine with the tiny pair: identical tokens
 * on Deno, Bun, Node and Chromium; prompt tokens = plan + text; each unit's embeddings equal the
 * same frame asked about as an image (frames extracted independently by Debian's ffmpeg); the
 * encode cache on a second question; logits against native llama.cpp on the same embeddings;
 * bad videos refused with typed errors while the engine keeps serving.
 */

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { after, before, test } from "node:test";
import { Engine, InvalidRequestError, VideoDecodeError } from "../mod.ts";
import { evaluate } from "../engine/ts/generate.ts";
import { type ContentPart, type Message, MiniCPMV } from "../engine/ts/minicpmv.ts";
import { browserRun, maxRelativeError, models, runCli, type RuntimeName, testMedia } from "./helpers.ts";
import { nativeEvaluate } from "./parity-runs.ts";

const QUESTION = "What happens in the video?";
let engine: Engine;
let mm: MiniCPMV;

before(async () => {
  engine = await Engine.create({ threads: 2, logLevel: "error" });
  mm = await MiniCPMV.load(engine, { model: models().llm, mmproj: models().mmproj16x, contextSize: 4096 });
});
after(() => {
  mm.close();
  engine.terminate();
});

const ask = (parts: ContentPart[], text = QUESTION): Message[] => [
  { role: "user", content: [...parts, { type: "text", text }] },
];
const video = (file: string): ContentPart => ({ type: "video", video: readFileSync(file) });

test("a video question: identical greedy tokens on Deno, Bun, Node and Chromium", async () => {
  const file = testMedia("h264-high.mp4");
  const args = [
    "generate",
    "--model",
    models().llm,
    "--mmproj",
    models().mmproj16x,
    "--video",
    file,
    "--stack-frames",
    "3",
    "--prompt",
    QUESTION,
    "--temp",
    "0",
    "--max-tokens",
    "8",
    "--threads",
    "2",
    "--json",
  ];
  const outs = await Promise.all((["deno", "bun", "node"] as RuntimeName[]).map(async (rt) => {
    const r = await runCli(rt, args);
    assert.equal(r.code, 0, `${rt}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }));
  // 6 s at 30 fps, 320x240: frames 0, 30, ..., 150 and composites of 2 sub-frames (1/3, 2/3 s)
  const v = outs[0].videos[0];
  assert.deepEqual(v.frames.slice(0, 6), [0, 10, 20, 30, 40, 49]);
  assert.equal(v.units.length, 12);
  assert.deepEqual(v.units[1], { kind: "composite", frames: [10, 20], size: { width: 320, height: 486 }, tokens: 60 });
  assert.equal(outs[0].usage.video_tokens, 6 * 63 + 6 * 60);
  for (const o of outs.slice(1)) {
    assert.deepEqual(o.tokens, outs[0].tokens);
    assert.deepEqual(o.usage, outs[0].usage);
  }
  const page = await browserRun<{ tokens: number[]; videoTokens: number; promptTokens: number }>(
    [models().llm, QUESTION, "8", models().mmproj16x, "-", file, "3"],
  );
  assert.deepEqual(page.tokens, outs[0].tokens);
  assert.equal(page.videoTokens, outs[0].usage.video_tokens);
  assert.equal(page.promptTokens, outs[0].usage.prompt_tokens);
});

test("prompt tokens are the plan's video tokens and markup plus the text", async () => {
  const text = await mm.chat(ask([]), { temperature: 0, maxTokens: 1 });
  await text.generation.result;
  for (const stackFrames of [1, 2, 3, 5]) {
    const run = await mm.chat(ask([video(testMedia("h264-baseline.mp4"))]), {
      temperature: 0,
      maxTokens: 1,
      stackFrames,
    });
    await run.generation.result;
    const [plan] = run.videoPlans;
    assert.equal(run.media.videoTokens, plan.videoTokens);
    assert.equal(
      run.promptTokens - text.promptTokens,
      plan.videoTokens + plan.markupTokens,
      `stack_frames ${stackFrames}`,
    );
    assert.equal(run.prompt.embeddings!.reduce((n, e) => n + e.data.length / mm.model.info.nEmbd, 0), plan.videoTokens);
  }
  // use_image_id adds <image_id>0</image_id> once per video
  const withId = await mm.chat(ask([video(testMedia("h264-baseline.mp4"))]), { maxTokens: 1, useImageId: true });
  const without = await mm.chat(ask([video(testMedia("h264-baseline.mp4"))]), { maxTokens: 1 });
  await Promise.all([withId.generation.result, without.generation.result]);
  const idTokens = (await mm.model.tokenize("<image_id>0</image_id>")).length;
  assert.equal(withId.promptTokens - without.promptTokens, idTokens);
});

test("each unit is encoded like the same frame given as an image (frames picked and decoded by ffmpeg)", async () => {
  const file = testMedia("test-3.mp4");
  const run = await mm.chat(ask([video(file)]), { temperature: 0, maxTokens: 1, maxNumFrames: 4 });
  await run.generation.result;
  const [plan] = run.videoPlans;
  assert.ok(plan.units.length >= 3 && plan.units.every((u) => u.kind === "frame" && !u.image.grid));
  const dir = mkdtempSync(`${tmpdir()}/mce-frames-`);
  try {
    const asImage = [];
    for (const [k, unit] of plan.units.entries()) {
      const png = `${dir}/${k}.png`;
      // the conversion our decoder uses (nearest chroma, accurate rounding): the same RGB bytes
      execFileSync("ffmpeg", [
        "-nostdin",
        "-v",
        "error",
        "-i",
        file,
        "-vf",
        `select=eq(n\\,${unit.frames[0]})`,
        "-sws_flags",
        "neighbor+accurate_rnd+full_chroma_int",
        "-vsync",
        "0",
        "-frames:v",
        "1",
        png,
      ]);
      const image = await mm.chat(ask([{ type: "image", image: png }]), {
        maxTokens: 1,
        maxSliceNums: 1,
        useImageId: false,
      });
      await image.generation.result;
      assert.equal(image.plans[0].imageTokens, unit.image.imageTokens);
      asImage.push(image.prompt.embeddings![0].data);
    }
    // same pixels, same tiles: the same embeddings; another frame of the clip is far away
    for (const [k, unit] of plan.units.entries()) {
      const same = maxRelativeError(run.prompt.embeddings![k].data, asImage[k]);
      const other = maxRelativeError(run.prompt.embeddings![k].data, asImage[(k + 1) % asImage.length]);
      assert.ok(same <= 1e-6 && other > 1e-3, `unit ${k} (frame ${unit.frames[0]}): ${same} vs another frame ${other}`);
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("a second question about the same video decodes and encodes nothing", async () => {
  const parts = [video(testMedia("vp8.webm"))];
  const first = await mm.chat(ask(parts), { temperature: 0, maxTokens: 6, stackFrames: 2 });
  const a = await first.generation.result;
  assert.ok(first.media.framesDecoded > 0 && first.media.tilesEncoded > 0);
  const second = await mm.chat(ask(parts), { temperature: 0, maxTokens: 6, stackFrames: 2 });
  const b = await second.generation.result;
  assert.equal(second.media.framesDecoded, 0);
  assert.equal(second.media.tilesEncoded, 0);
  assert.equal(second.media.tilesCached, first.media.tilesEncoded + first.media.tilesCached);
  assert.deepEqual(b.tokens, a.tokens);
  // another stacking of the same video reuses the main frames, encodes only the new composites
  const third = await mm.chat(ask(parts), { temperature: 0, maxTokens: 1, stackFrames: 3 });
  await third.generation.result;
  assert.equal(third.media.tilesCached, third.videoPlans[0].units.filter((u) => u.kind === "frame").length);
});

test("video-prompt logits agree with native llama.cpp decoding the same embeddings", async () => {
  const run = await mm.chat(ask([video(testMedia("hevc.mp4"))]), { temperature: 0, maxTokens: 0, stackFrames: 2 });
  await run.generation.result;
  const wasm = await evaluate(mm.context, run.prompt);
  const native = await nativeEvaluate(models().llm, mm.model.info.nEmbd, run.prompt);
  const err = maxRelativeError(wasm, native);
  assert.ok(err <= 1e-3, `max relative error ${err}`);
});

test("bad videos are typed errors naming the problem; the engine keeps serving", async () => {
  const bad: [string, Uint8Array, RegExp][] = [
    ["random bytes", crypto.getRandomValues(new Uint8Array(4096)), /not a video|not_a_video/i],
    ["empty", new Uint8Array(0), /empty/i],
    ["truncated", readFileSync(testMedia("h264-baseline.mp4")).subarray(0, 3000), /truncated|not a video|decode/i],
    ["audio only", readFileSync(testMedia("audio.m4a")), /no video stream/i],
    ["unsupported codec", readFileSync(testMedia("mpeg4.mp4")), /unsupported codec mpeg4/i],
  ];
  for (const [name, bytes, message] of bad) {
    await assert.rejects(
      mm.chat(ask([{ type: "video", video: bytes }]), { maxTokens: 1 }),
      (e: Error) => (e instanceof VideoDecodeError || e instanceof InvalidRequestError) && message.test(e.message),
      name,
    );
  }
  await assert.rejects(mm.chat(ask([video(testMedia("long.mp4"))]), { videoLimits: { maxDurationSeconds: 60 } }), /60/);
  await assert.rejects(mm.chat(ask([video(testMedia("vp9.webm"))]), { stackFrames: 99 }), /stack_frames/);
  const run = await mm.chat(ask([video(testMedia("vp9.webm"))]), { temperature: 0, maxTokens: 3 });
  assert.equal((await run.generation.result).tokens.length, 3);
});

test("a long video keeps its frame cap: 200 s at max_num_frames 16 plans and decodes 16 frames", async () => {
  const run = await mm.chat(ask([video(testMedia("long.mp4"))]), { temperature: 0, maxTokens: 1, maxNumFrames: 16 });
  await run.generation.result;
  const [plan] = run.videoPlans;
  assert.equal(plan.long, true);
  assert.equal(plan.units.length, 16);
  assert.equal(run.media.framesDecoded, 16);
});

/** h264-baseline.mp4 with one 32-bit field of an MP4 box overwritten (offset from the box's type). */
function patchedMp4(box: string, offset: (version: number) => number, value: number): Uint8Array {
  const b = new Uint8Array(readFileSync(testMedia("h264-baseline.mp4")));
  const tag = new TextEncoder().encode(box);
  const at = b.findIndex((_, i) => i > 3 && tag.every((c, k) => b[i + k] === c));
  assert.ok(at > 0, `no ${box} box`);
  new DataView(b.buffer).setUint32(at + offset(b[at + 4]), value);
  return b;
}

test("headers that lie: 10^9 samples, 10^9 frames of timing, a zero time scale are typed errors", async () => {
  const lies: [string, Uint8Array][] = [
    ["stsz claims 10^9 samples", patchedMp4("stsz", () => 12, 1e9)],
    ["stts claims 10^9 frames", patchedMp4("stts", () => 12, 1e9)],
    ["mdhd time scale 0", patchedMp4("mdhd", (v) => 4 + (v === 1 ? 20 : 12), 0)],
  ];
  for (const [name, bytes] of lies) {
    await assert.rejects(
      mm.chat(ask([{ type: "video", video: bytes }]), { maxTokens: 1 }),
      (e: Error) => e instanceof VideoDecodeError && /truncated|damaged|metadata/.test(e.message),
      name,
    );
  }
  const run = await mm.chat(ask([video(testMedia("h264-baseline.mp4"))]), { temperature: 0, maxTokens: 2 });
  assert.equal((await run.generation.result).tokens.length, 2);
});

test("a 10-hour video: the frame cap bounds the work; a duration cap refuses it", async () => {
  const dir = mkdtempSync(`${tmpdir()}/mce-10h-`);
  try {
    const file = `${dir}/ten-hours.mp4`;
    execFileSync("ffmpeg", [
      "-nostdin",
      "-v",
      "error",
      "-f",
      "lavfi",
      "-i",
      "testsrc2=size=32x32:rate=1:duration=36000",
      "-c:v",
      "libx264",
      "-preset",
      "ultrafast",
      "-g",
      "600",
      "-pix_fmt",
      "yuv420p",
      file,
    ]);
    const run = await mm.chat(ask([video(file)]), { temperature: 0, maxTokens: 1, maxNumFrames: 16 });
    await run.generation.result;
    const [plan] = run.videoPlans;
    assert.equal(plan.meta.frameCount, 36000);
    assert.equal(plan.long, true);
    assert.equal(run.media.framesDecoded, 16);
    // 16 picks over the 10 Hz grid of 360,000 points: the first and the last second
    assert.deepEqual([plan.decodeFrames[0], plan.decodeFrames[15]], [0, 35999]);
    // the default 128 frames do not fit the 4096-token context: refused from the plan, before encoding
    await assert.rejects(
      mm.chat(ask([video(file)]), { maxTokens: 1 }),
      /the prompt has \d+ tokens \(images and videos included\); at most 4095 fit a sequence of this context/,
    );
    await assert.rejects(
      mm.chat(ask([video(file)]), { maxTokens: 1, videoLimits: { maxDurationSeconds: 3600 } }),
      (e: Error) => e instanceof VideoDecodeError && e.code === "too_long" && /3600/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true });
  }
});
