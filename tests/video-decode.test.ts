/**
 * The FFmpeg-subset WASM video decoder (engine/ts/video/decoder.ts, built by
 * scripts/build-ffmpeg.sh) against Debian's ffprobe and ffmpeg on the clips scripts/test-media.sh
 * writes: metadata (duration, average frame rate, frame count = video packets), the RGB24 pixels
 * of selected frames (late non-keyframes, so the decoder has to seek) and typed errors for what
 * it cannot decode. Both sides convert to RGB24 the same way: nearest chroma, accurate rounding,
 * full chroma resolution (the swscale flags neighbor+accurate_rnd+full_chroma_int) and the stream's
 * own matrix. Decoding is bit-exact in every FFmpeg version, and so is this conversion (measured:
 * identical bytes between our FFmpeg 9.0 wasm and Debian's FFmpeg 5.1 on x86, every clip); the
 * tolerance allows one step of rounding: max |diff| <= 1 per channel, mean <= 0.01.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { InvalidRequestError, VideoDecodeError } from "../engine/ts/errors.ts";
import { MediaDecoder, PROBED_VIDEOS_KEPT } from "../engine/ts/media/client.ts";
import { unitImage } from "../engine/ts/video/composite.ts";
import { decodeFrames, openVideo, probeVideo } from "../engine/ts/video/decoder.ts";
import { planVideo } from "../engine/ts/video/plan.ts";
import { imageTiles } from "../engine/ts/vision/preprocess.ts";
import { ROOT, run } from "./helpers.ts";

const MAX_DIFF = 1;
const MAX_MEAN_DIFF = 0.01;

function mediaDir(): string {
  const dir = process.env.MCE_TEST_MEDIA;
  if (!dir) throw new Error("MCE_TEST_MEDIA is not set: run the suite with `npm test` (scripts/test.sh)");
  return dir;
}
const media = (name: string) => `${mediaDir()}/${name}`;

/** Every clip the decoder must read, with its codec. */
const CLIPS: { file: string; codec: string }[] = [
  { file: "test-3.mp4", codec: "h264" }, // llama.cpp's, BT.709, 337500/14131 fps, AAC beside it
  { file: "h264-high.mp4", codec: "h264" },
  { file: "h264-baseline.mp4", codec: "h264" },
  { file: "h264-high10.mp4", codec: "h264" },
  { file: "h264-high444.mp4", codec: "h264" },
  { file: "h264-bt709.mov", codec: "h264" },
  { file: "hevc.mp4", codec: "hevc" },
  { file: "vp8.webm", codec: "vp8" },
  { file: "vp9.webm", codec: "vp9" },
  { file: "vp8-live.webm", codec: "vp8" },
  { file: "long.mp4", codec: "h264" },
];

function exec(cmd: string, args: string[]): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Uint8Array[] = [];
    let err = "";
    p.stdout.on("data", (d: Uint8Array) => out.push(d));
    p.stderr.on("data", (d) => (err += d));
    p.on("error", reject);
    p.on("close", (code) => {
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(" ")}: exit ${code}: ${err}`));
      const all = new Uint8Array(out.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of out) all.set(c, (at += c.length) - c.length);
      resolve(all);
    });
  });
}

interface Probe {
  duration: number | null;
  fps: [number, number];
  packets: number;
  width: number;
  height: number;
  codec: string;
}

async function ffprobe(file: string): Promise<Probe> {
  const json = JSON.parse(new TextDecoder().decode(
    await exec("ffprobe", [
      "-v",
      "error",
      "-count_packets",
      "-select_streams",
      "v:0",
      "-show_entries",
      "stream=codec_name,width,height,avg_frame_rate,nb_read_packets:format=duration",
      "-of",
      "json",
      file,
    ]),
  ));
  const s = json.streams[0];
  const [num, den] = s.avg_frame_rate.split("/").map(Number);
  const d = json.format.duration;
  return {
    duration: d === undefined ? null : Number(d),
    fps: [num, den],
    packets: Number(s.nb_read_packets),
    width: s.width,
    height: s.height,
    codec: s.codec_name,
  };
}

/** The frames Debian's ffmpeg decodes at these numbers, as RGB24 with the same conversion flags. */
async function ffmpegFrames(file: string, indices: number[], width: number, height: number): Promise<Uint8Array[]> {
  const select = indices.map((i) => `eq(n\\,${i})`).join("+");
  const raw = await exec("ffmpeg", [
    "-v",
    "error",
    "-nostdin",
    "-i",
    file,
    "-vf",
    `select=${select}`,
    "-vsync",
    "0",
    "-sws_flags",
    "neighbor+accurate_rnd+full_chroma_int",
    "-pix_fmt",
    "rgb24",
    "-f",
    "rawvideo",
    "-",
  ]);
  const size = width * height * 3;
  assert.equal(raw.length, size * indices.length, `ffmpeg gave ${raw.length / size} frames of ${file}`);
  return indices.map((_, k) => raw.subarray(k * size, (k + 1) * size));
}

/** ~5 frames: near the start, past a keyframe (a seek), forward from there, the last two. */
function pick(n: number): number[] {
  return [...new Set([1, Math.floor(n * 0.37), Math.floor(n * 0.5) + 1, n - 2, n - 1])].filter((i) => i >= 0 && i < n)
    .sort((a, b) => a - b);
}

function diff(a: Uint8Array, b: Uint8Array): { max: number; mean: number } {
  let max = 0, sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    if (d > max) max = d;
  }
  return { max, mean: sum / a.length };
}

for (const clip of CLIPS) {
  test(`${clip.file}: metadata as ffprobe reports it, frames as ffmpeg decodes them`, async () => {
    const file = media(clip.file);
    const bytes = readFileSync(file);
    const [info, ref] = await Promise.all([probeVideo(bytes), ffprobe(file)]);
    assert.equal(info.codec, clip.codec);
    assert.equal(ref.codec, clip.codec);
    assert.equal(info.frameCount, ref.packets, "frame count = video packets (ffprobe -count_packets)");
    assert.deepEqual([info.fpsRational.num, info.fpsRational.den], ref.fps, "avg_frame_rate");
    assert.equal(info.fps, ref.fps[0] / ref.fps[1]);
    assert.equal(info.width, ref.width);
    assert.equal(info.height, ref.height);
    if (ref.duration === null) {
      // no duration in the container (WebM written live): from the frame table
      const d = info.durationSeconds, fromFrames = info.frameCount / info.fps;
      assert.ok(Math.abs(d - fromFrames) < 1.5 / info.fps, `${d} vs ${fromFrames}`);
    } else {
      const d = info.durationSeconds;
      assert.ok(Math.abs(d - ref.duration) < 1e-6, `duration ${d} vs ${ref.duration}`);
    }

    const indices = pick(info.frameCount);
    const expected = await ffmpegFrames(file, indices, info.width, info.height);
    const got = [];
    // asked in any order, with repeats
    for await (const f of decodeFrames(bytes, [...indices].reverse().concat(indices))) got.push(f);
    assert.deepEqual(got.map((f) => f.index), indices, "each distinct frame once, in increasing order");
    const diffs = got.map((f, k) => {
      assert.equal(f.width, info.width);
      assert.equal(f.height, info.height);
      assert.equal(f.rgb.length, f.width * f.height * 3);
      return diff(f.rgb, expected[k]);
    });
    const max = Math.max(...diffs.map((d) => d.max)), mean = Math.max(...diffs.map((d) => d.mean));
    console.log(
      `${clip.file}: ${info.width}x${info.height} ${info.codec}, frames ${indices.join(",")} of ` +
        `${info.frameCount} (${info.keyframeCount} keyframes): max |diff| ${max}, worst mean ${mean.toFixed(4)}`,
    );
    assert.ok(max <= MAX_DIFF, `max |diff| ${max} > ${MAX_DIFF}`);
    assert.ok(mean <= MAX_MEAN_DIFF, `mean |diff| ${mean} > ${MAX_MEAN_DIFF}`);
  });
}

test("seeking gives the same pixels as decoding every frame in order", async () => {
  const bytes = readFileSync(media("h264-high.mp4")); // keyframes at 0, 60, 120
  const video = await openVideo(bytes);
  try {
    const n = video.info.frameCount;
    const sequential = new Map<number, Uint8Array>();
    for (let i = 0; i < n; i++) sequential.set(i, video.decode(i).rgb);
    assert.equal(video.seeks(), 1, "forward, frame after frame (keyframes included): one seek to the start");
    // backwards: every call lands behind the decoder, so each one seeks to its keyframe
    const back = [n - 1, 150, 119, 61, 60, 59, 2, 0];
    for (const i of back) assert.deepEqual(video.decode(i).rgb, sequential.get(i), `frame ${i}`);
    assert.equal(video.seeks(), 1 + back.length);
  } finally {
    video.close();
  }
});

test("the decoder seeks only when the next frame's keyframe lies beyond its position", async () => {
  const video = await openVideo(readFileSync(media("h264-high.mp4"))); // keyframes at 0, 60, 120
  try {
    const seeksFor = (i: number) => {
      const before = video.seeks();
      video.decode(i);
      return video.seeks() - before;
    };
    // 1: to the start; 50: forward; 66: keyframe 60 is past 51, seek; 110: forward from 66; 125:
    // seek to 120; 179: forward. (Frame after frame never seeks: see the test above.)
    assert.deepEqual([1, 50, 66, 110, 125, 179].map(seeksFor), [1, 0, 1, 0, 1, 0]);
  } finally {
    video.close();
  }
});

test("the worker-backed decoder gives the same metadata and frames", async () => {
  const bytes = readFileSync(media("vp9.webm"));
  const decoder = MediaDecoder.create();
  try {
    const seen: number[] = [];
    const info = await decoder.probe(bytes);
    assert.deepEqual(info, await probeVideo(bytes));
    const viaWorker = [];
    const onInfo = (i: { frameCount: number }) => seen.push(i.frameCount);
    for await (const f of decoder.decodeFrames(bytes, [140, 3, 77], {}, onInfo)) viaWorker.push(f);
    const inThread = [];
    for await (const f of decodeFrames(bytes, [3, 77, 140])) inThread.push(f);
    assert.deepEqual(seen, [info.frameCount]);
    assert.deepEqual(viaWorker, inThread);
    assert.equal(bytes.length, readFileSync(media("vp9.webm")).length, "the caller's bytes are not moved away");
    // errors cross the worker boundary typed
    const audio = readFileSync(media("audio.webm"));
    await assert.rejects(decoder.probe(audio), (e) => e instanceof VideoDecodeError && e.code === "no_video_stream");
  } finally {
    decoder.terminate();
  }
});

test("a probed video stays open for its decode: each question opens a video once", async () => {
  const bytes = readFileSync(media("h264-high.mp4"));
  const decoder = MediaDecoder.create({ workers: 1 });
  const opened = async () => (await decoder.stats())[0];
  try {
    const info = await decoder.probe(bytes);
    assert.deepEqual(await decoder.probe(bytes), info, "a second probe answers from the open video");
    assert.deepEqual(counts(await opened()), { videosOpened: 1, videosOpen: 1 });
    const frames = [];
    for await (const f of decoder.decodeFrames(bytes, [9, 2])) frames.push(f);
    const inThread = [];
    for await (const f of decodeFrames(bytes, [2, 9])) inThread.push(f);
    assert.deepEqual(frames, inThread);
    assert.deepEqual(counts(await opened()), { videosOpened: 1, videosOpen: 0 });
    // without a probe before it (or with other limits), a decode opens the video itself
    for await (const _ of decoder.decodeFrames(bytes, [1]));
    await decoder.probe(bytes, { maxFrames: 100_000 });
    for await (const _ of decoder.decodeFrames(bytes, [1]));
    assert.deepEqual(counts(await opened()), { videosOpened: 4, videosOpen: 1 });
    // probes nobody decodes are closed once PROBED_VIDEOS_KEPT later ones wait
    for (let k = 0; k < PROBED_VIDEOS_KEPT + 1; k++) await decoder.probe(new Uint8Array(bytes));
    assert.equal((await opened()).videosOpen, PROBED_VIDEOS_KEPT);
    assert.ok((await opened()).ffmpegMemoryBytes > 0);
  } finally {
    decoder.terminate();
  }
});

test("units built in the worker from frames decoded in place equal units built from copied frames", async () => {
  const bytes = readFileSync(media("h264-baseline.mp4"));
  const info = await probeVideo(bytes);
  const plan = planVideo({ ...info, durationSeconds: info.frameCount / info.fps }, { stackFrames: 3 });
  assert.ok(plan.units.some((u) => u.kind === "composite"), "the plan stacks frames");
  const decoder = MediaDecoder.create({ workers: 1 });
  try {
    const fromWorker = [];
    for await (const u of decoder.videoUnitTiles(bytes, plan.units)) fromWorker[u.unit] = u.tiles;
    const frames = new Map();
    for await (const f of decodeFrames(bytes, plan.decodeFrames)) {
      frames.set(f.index, { width: f.width, height: f.height, data: f.rgb });
    }
    assert.deepEqual(fromWorker, plan.units.map((u) => imageTiles(unitImage(u, frames), u.image)));
  } finally {
    decoder.terminate();
  }
});

function counts(stats: { videosOpened: number; videosOpen: number }) {
  return { videosOpened: stats.videosOpened, videosOpen: stats.videosOpen };
}

test("a path reads the file in place", async () => {
  const frames = [];
  for await (const f of decodeFrames(media("vp8.webm"), [100])) frames.push(f);
  const fromBytes = [];
  for await (const f of decodeFrames(readFileSync(media("vp8.webm")), [100])) fromBytes.push(f);
  assert.deepEqual(frames, fromBytes);
  await assert.rejects(probeVideo(media("no-such-file.mp4")), InvalidRequestError);
});

async function rejectsWith(p: Promise<unknown>, code: string, message: RegExp) {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof VideoDecodeError, `${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, message);
    return true;
  });
}

test("codecs the decoder does not have: unsupported codec X", async () => {
  await rejectsWith(probeVideo(readFileSync(media("mpeg4.mp4"))), "unsupported_codec", /^unsupported codec mpeg4$/);
  await rejectsWith(probeVideo(readFileSync(media("mjpeg.mkv"))), "unsupported_codec", /^unsupported codec mjpeg$/);
});

test("audio only: no video stream", async () => {
  await rejectsWith(probeVideo(readFileSync(media("audio.m4a"))), "no_video_stream", /^no video stream$/);
  await rejectsWith(probeVideo(readFileSync(media("audio.webm"))), "no_video_stream", /^no video stream$/);
});

test("not a video: random bytes, an empty file, bytes from the middle of an MP4", async () => {
  let seed = 12345;
  const random = new Uint8Array(100_000).map(() => (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24);
  await rejectsWith(probeVideo(random), "not_a_video", /not a video/);
  await rejectsWith(probeVideo(new Uint8Array(0)), "not_a_video", /not a video/);
  const middle = readFileSync(media("test-3.mp4")).subarray(1000, 50_000);
  await rejectsWith(probeVideo(middle), "not_a_video", /not a video/);
});

test("truncated files: a typed error, never a crash", async () => {
  for (const name of ["h264-high.mp4", "h264-baseline.mp4", "vp8.webm", "vp9.webm", "hevc.mp4", "vp8-live.webm"]) {
    const bytes = readFileSync(media(name));
    for (const keep of [0.05, 0.5, 0.97]) {
      const cut = bytes.subarray(0, Math.floor(bytes.length * keep));
      await assert.rejects(async () => {
        for await (const _ of decodeFrames(cut, [0])) { /* opening is enough to notice */ }
        // some containers only show the cut when the frames past it are wanted
        const info = await probeVideo(cut);
        for await (const _ of decodeFrames(cut, [info.frameCount - 1])) { /* */ }
      }, (e) => {
        assert.ok(e instanceof VideoDecodeError, `${name} cut at ${keep}: ${e}`);
        const what = `${name} cut at ${keep}: ${e.code} ${e.message}`;
        assert.ok(["truncated", "not_a_video", "decode_failed"].includes(e.code), what);
        return true;
      }, `${name} cut at ${keep} was accepted`);
    }
  }
});

test("limits: frame size, duration, frame table", async () => {
  const long = readFileSync(media("long.mp4"));
  await rejectsWith(probeVideo(long, { maxPixels: 64 * 48 - 1 }), "too_large", /64x48 frames are over the limit/);
  await rejectsWith(probeVideo(long, { maxDurationSeconds: 199 }), "too_long", /200\.0 s long; the limit is 199 s/);
  await rejectsWith(probeVideo(long, { maxFrames: 1999 }), "too_many_frames", /more than 1999 frames/);
  const atTheLimits = await probeVideo(long, { maxPixels: 64 * 48, maxDurationSeconds: 200, maxFrames: 2000 });
  assert.equal(atTheLimits.frameCount, 2000);
  await assert.rejects(probeVideo(long, { maxPixels: 0 }), InvalidRequestError);
  const video = await openVideo(long);
  try {
    assert.throws(() => video.decode(2000), InvalidRequestError);
    assert.throws(() => video.decode(-1), InvalidRequestError);
    assert.throws(() => video.decode(1.5), InvalidRequestError);
  } finally {
    video.close();
  }
});

test("Deno, Bun, Node.js and Chromium decode the same frames", async () => {
  // the runner through each runtime's worker: Deno and Bun run the sources, Node the esbuild bundle,
  // Chromium the browser bundle's worker
  const bundled = await run("node", ["scripts/bundle.mjs", "tests/video-frames.ts"]);
  assert.equal(bundled.code, 0, bundled.stderr);
  const json = async (cmd: string, args: string[]) => {
    const r = await run(cmd, args, { timeoutMs: 180_000 });
    assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.stderr}`);
    const out = JSON.parse(r.stdout);
    assert.equal(out.error, undefined, `${out.error} ${out.logs?.join("\n")}`);
    return { info: out.info, frames: out.frames };
  };
  for (const name of ["test-3.mp4", "hevc.mp4", "vp9.webm"]) {
    const file = media(name);
    const bytes = readFileSync(file);
    const info = await probeVideo(bytes);
    const indices = pick(info.frameCount);
    const frames = [];
    for await (const f of decodeFrames(bytes, indices)) {
      const sha256 = createHash("sha256").update(f.rgb).digest("hex");
      frames.push({ index: f.index, width: f.width, height: f.height, sha256 });
    }
    const expected = { info, frames };
    const args = [file, ...indices.map(String)];
    const runtimes = {
      deno: await json(`${ROOT}/node_modules/deno/deno`, ["run", "-A", "--no-check", "tests/video-frames.ts", ...args]),
      bun: await json(`${ROOT}/node_modules/.bin/bun`, ["tests/video-frames.ts", ...args]),
      node: await json("node", ["dist/node/tests_video-frames.js", ...args]),
      chromium: await json("node", ["tests/browser/video-run.mjs", file, indices.join(",")]),
    };
    for (const [runtime, got] of Object.entries(runtimes)) assert.deepEqual(got, expected, `${name} on ${runtime}`);
  }
});
