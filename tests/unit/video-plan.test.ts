/**
 * The video planner (docs/input-pipeline.md, "Video") against the worked examples, against frame
 * lists computed by CPython + numpy running a transcription of the reference's `sample_frames` and
 * unit building, and against an independent implementation written here from the docs (materialised
 * grid, plain loops) over 400 generated cases. Also: validation and bounded work on absurd metadata.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidRequestError } from "../../engine/ts/errors.ts";
import { planImage } from "../../engine/ts/vision/plan.ts";
import { planVideo, type VideoMeta, type VideoPlan } from "../../engine/ts/video/plan.ts";

// ---- independent implementation, written from the documented rules (shares no code with the planner) ----
/** Python round(x, 1): the decimal nearest the exact binary value (toFixed rounds that value, no tie can occur). */
const pyRound1 = (x: number) => Number(x.toFixed(1));
/** numpy.linspace(a, b, n, dtype=int): arange(n) * step + a, last element = b, then floor. */
function npLinspaceInt(a: number, b: number, n: number): number[] {
  const out: number[] = [];
  const div = n - 1;
  for (let i = 0; i < n; i++) out.push(div > 0 ? i * ((b - a) / div) + a : i * (b - a) + a);
  if (n > 1) out[n - 1] = b;
  return out.map(Math.floor);
}
interface RefUnit {
  kind: "f" | "c";
  frames: number[];
  rows: number;
  cols: number;
  w: number;
  h: number;
}
function referenceUnits(d: number, fps: number, total: number, W: number, H: number, M: number, N: number): RefUnit[] {
  const nSec = Math.ceil(d);
  let main: number[];
  if (d > M) {
    const ts: number[] = [];
    for (let i = 0; i < Math.trunc(d / 0.1); i++) ts.push(pyRound1(i * 0.1));
    main = ts.map((t) => Math.min(Math.trunc(t * fps), total - 1));
    if (main.length > M) main = npLinspaceInt(0, main.length - 1, M).map((i) => main[i]);
  } else {
    main = [];
    // the reference leaves this index unclamped; the planner clamps it (documented deviation)
    for (let i = 0; i < nSec; i++) main.push(Math.min(Math.trunc(i * fps), total - 1));
  }
  const units: RefUnit[] = [];
  if (N <= 1) {
    for (const f of main) units.push({ kind: "f", frames: [f], rows: 1, cols: 1, w: W, h: H });
    return units;
  }
  let subTimes: number[] = [];
  for (let sec = 0; sec < nSec; sec++) {
    for (let j = 1; j < N; j++) {
      const t = sec + j / N;
      if (t < d) subTimes.push(t);
    }
  }
  if (subTimes.length > M * (N - 1)) {
    const all = subTimes;
    subTimes = npLinspaceInt(0, all.length - 1, M * (N - 1)).map((i) => all[i]);
  }
  const sub = subTimes.map((t) => Math.min(Math.trunc(t * fps), total - 1));
  const composites: (RefUnit | null)[] = [];
  let cursor = 0;
  for (let sec = 0; sec < nSec; sec++) {
    const start = cursor;
    while (cursor < subTimes.length && subTimes[cursor] < sec + 1) cursor++;
    if (cursor === start) {
      composites.push(null);
      continue;
    }
    const frames = sub.slice(start, cursor);
    const canvas = (r: number, c: number) => ({ w: c * W + (c - 1) * 6, h: r * H + (r - 1) * 6 });
    const err = (r: number, c: number) => Math.abs(canvas(r, c).w / Math.max(1, canvas(r, c).h) - 1.0);
    let rc: [number, number];
    if (frames.length === 4) rc = [2, 2];
    else if (frames.length === 3) rc = err(1, 3) <= err(3, 1) ? [1, 3] : [3, 1];
    else if (frames.length === 2) {
      if (err(1, 2) === err(2, 1)) rc = W / H >= 1 ? [1, 2] : [2, 1];
      else rc = err(1, 2) <= err(2, 1) ? [1, 2] : [2, 1];
    } else rc = [1, frames.length];
    composites.push({ kind: "c", frames, rows: rc[0], cols: rc[1], ...canvas(rc[0], rc[1]) });
  }
  for (let i = 0; i < main.length; i++) {
    units.push({ kind: "f", frames: [main[i]], rows: 1, cols: 1, w: W, h: H });
    const c = i < composites.length ? composites[i] : null;
    if (c) units.push(c);
  }
  return units;
}

/** The plan's units in the golden-string form: f<frame> or c<rows>x<cols>:<frames>, ";"-joined. */
function unitString(plan: VideoPlan): string {
  return plan.units.map((u) =>
    u.kind === "frame" ? `f${u.frames[0]}` : `c${u.grid.rows}x${u.grid.cols}:${u.frames.join(",")}`
  ).join(";");
}
function refString(units: RefUnit[]): string {
  return units.map((u) => u.kind === "f" ? `f${u.frames[0]}` : `c${u.rows}x${u.cols}:${u.frames.join(",")}`).join(";");
}

const meta = (durationSeconds: number, fps: number, frameCount: number, width: number, height: number): VideoMeta => ({
  durationSeconds,
  fps,
  frameCount,
  width,
  height,
});

// ---- the worked examples ----
test("10 s 1280x720 at 30 fps: the worked totals for stack_frames 1, 2, 3, 5 (16x, max_slice_nums 1)", () => {
  const v = meta(10, 30, 300, 1280, 720);
  const expected: [number, number, number, string, string][] = [
    // stack, total tokens, units, composite grid, composite canvas
    [1, 660, 10, "", ""],
    [2, 1320, 20, "1x1", "1280x720"],
    [3, 1300, 20, "2x1", "1280x1446"],
    [5, 1320, 20, "2x2", "2566x1446"],
  ];
  for (const [stack, total, count, grid, canvas] of expected) {
    const p = planVideo(v, { stackFrames: stack });
    assert.equal(p.videoTokens, total, `stack ${stack}`);
    assert.equal(p.units.length, count, `stack ${stack}`);
    assert.equal(p.long, false);
    const mains = p.units.filter((u) => u.kind === "frame").map((u) => u.frames[0]);
    assert.deepEqual(mains, [0, 30, 60, 90, 120, 150, 180, 210, 240, 270]);
    for (const u of p.units) {
      if (u.kind === "frame") {
        const { overview, imageTokens } = u.image;
        assert.deepEqual(u.size, { width: 1280, height: 720 });
        assert.deepEqual([overview.width, overview.height, imageTokens], [616, 336, 66]);
      } else {
        assert.equal(`${u.grid.rows}x${u.grid.cols}`, grid);
        assert.equal(`${u.size.width}x${u.size.height}`, canvas);
        assert.equal(u.frames.length, stack - 1);
      }
    }
    assert.equal(p.maxSliceNums, 1);
    assert.equal(p.useImageId, false);
    assert.equal(p.mode, "16x");
  }
  const p3 = planVideo(v, { stackFrames: 3 });
  assert.deepEqual(p3.units.slice(0, 4).map((u) => [u.kind, u.index, u.frames]), [
    ["frame", 0, [0]],
    ["composite", 0, [10, 20]],
    ["frame", 1, [30]],
    ["composite", 1, [40, 49]], // t = 1 + 2/3 = 1.6666666666666665 s, x 30 = 49.99999999999999
  ]);
  const c = p3.units[1].image;
  assert.deepEqual([c.overview.width, c.overview.height, c.grid, c.imageTokens], [448, 448, null, 64]);
  assert.equal(p3.decodeFrames.length, 30);
  assert.deepEqual(p3.decodeFrames.slice(0, 6), [0, 10, 20, 30, 40, 49]);
  // <image></image> per unit, no slices with max_slice_nums 1
  assert.equal(p3.markupTokens, 40);
});

test("the sub-frame at 1 + 2/3 s at 30 fps is frame 49 (float truncation), not 50", () => {
  // duration 5/3 = 1.6666666666666667 keeps the sub-time 1 + 2/3 = 1.6666666666666665 (CPython agrees)
  const p = planVideo(meta(5 / 3, 30, 50, 64, 64), { stackFrames: 3 });
  assert.deepEqual(p.units.map((u) => u.frames), [[0], [10, 20], [30], [40, 49]]);
  assert.deepEqual(p.decodeFrames, [0, 10, 20, 30, 40, 49]);
  // a duration of exactly 1 + 2/3 (the same double as that sub-time) drops it: t < duration fails
  const q = planVideo(meta(1 + 2 / 3, 30, 50, 64, 64), { stackFrames: 3 });
  assert.deepEqual(q.units.map((u) => u.frames), [[0], [10, 20], [30], [40]]);
});

test("a 300 s video takes 128 main frames from the 10 Hz grid (values from CPython + numpy)", () => {
  const p = planVideo(meta(300, 30, 9000, 1280, 720));
  assert.equal(p.long, true);
  assert.equal(p.units.length, 128);
  assert.equal(
    p.units.map((u) => u.frames[0]).join(","),
    EXPECTED_300S,
  );
  assert.equal(p.videoTokens, 128 * 66);
  // 10 hours at 29.97 fps: first and last picks, also from numpy
  const h = planVideo(meta(36000, 30000 / 1001, 1078920, 1920, 1080));
  const frames = h.units.map((u) => u.frames[0]);
  assert.deepEqual(frames.slice(0, 5), [0, 8493, 16990, 25483, 33980]);
  assert.deepEqual(frames.slice(-3), [1061925, 1070421, 1078918]);
});

test("frame lists equal CPython + numpy running the reference's sample_frames and unit building", () => {
  for (const [[d, fps, total, w, h, maxNumFrames, stackFrames], expected] of GOLDEN) {
    const p = planVideo(meta(d, fps, total, w, h), { maxNumFrames, stackFrames });
    const label = `${d} s @ ${fps} fps, ${total} frames, ${w}x${h}, max ${maxNumFrames}, stack ${stackFrames}`;
    assert.equal(unitString(p), expected, label);
  }
});

test("planner equals the independent implementation on 400 generated cases", () => {
  let seed = 2024;
  const rand = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32;
  };
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const rates = [30, 25, 24, 60, 29.97, 23.976, 59.94, 30000 / 1001, 24000 / 1001, 60000 / 1001, 12.5, 1, 0.5, 2.5];
  let long = 0;
  let stacked = 0;
  for (let n = 0; n < 400; n++) {
    const maxNumFrames = pick([1, 2, 3, 5, 8, 16, 32, 64, 128, 128, 256]);
    const stackFrames = pick([1, 1, 2, 3, 4, 5, 6, 8]);
    const fps = rand() < 0.2 ? 0.2 + rand() * 100 : pick(rates);
    // short (<= max_num_frames), long (up to 3000 s), or a tenth-second value
    let d = rand() < 0.5 ? rand() * maxNumFrames : maxNumFrames + rand() * Math.min(3000, 20 * maxNumFrames);
    if (rand() < 0.25) d = Math.round(d * 10) / 10;
    if (d <= 0) d = 0.1;
    // frame table: matching, a little longer, or shorter than the duration says (clamping)
    const r = rand();
    const table = r < 0.5 ? Math.trunc(d * fps) : r < 0.8 ? Math.ceil(d * fps) + 2 : Math.trunc(d * fps * 0.6);
    const total = Math.max(1, table);
    if (r < 0.3) d = total / fps; // what the reference's PyAV/decord loaders pass
    const w = 1 + Math.floor(rand() * 2000);
    const h = 1 + Math.floor(rand() * 2000);
    const label = `${d} s @ ${fps} fps, ${total} frames, ${w}x${h}, max ${maxNumFrames}, stack ${stackFrames}`;

    const p = planVideo(meta(d, fps, total, w, h), { maxNumFrames, stackFrames });
    const ref = referenceUnits(d, fps, total, w, h, maxNumFrames, stackFrames);
    assert.equal(unitString(p), refString(ref), label);
    assert.deepEqual(p.units.map((u) => [u.size.width, u.size.height]), ref.map((u) => [u.w, u.h]), label);
    const frames = [...new Set(ref.flatMap((u) => u.frames))].sort((a, b) => a - b);
    assert.deepEqual(p.decodeFrames, frames, label);
    const tokens = ref.reduce((s, u) => s + planImage({ width: u.w, height: u.h }, { maxSliceNums: 1 }).imageTokens, 0);
    assert.equal(p.videoTokens, tokens, label);
    assert.equal(p.long, d > maxNumFrames, label);
    assert.ok(p.units.filter((u) => u.kind === "frame").length <= maxNumFrames, label);
    if (p.long) long++;
    if (p.units.some((u) => u.kind === "composite")) stacked++;
  }
  assert.ok(long > 100 && stacked > 100, `coverage: ${long} long, ${stacked} with composites`);
});

test("composite grids: the exact two-frame tie (22x30) goes by W >= H; 3 frames; 6 frames in one row", () => {
  // |(2*22+6)/30 - 1| == |22/(2*30+6) - 1| in float64 (the only exact tie up to 3000x3000); W < H, so
  // 2 rows x 1 col where np.argmin alone would say 1x2
  const tall = planVideo(meta(2, 3, 6, 22, 30), { stackFrames: 3 });
  assert.deepEqual(tall.units[1].grid, { rows: 2, cols: 1 });
  assert.deepEqual(tall.units[1].size, { width: 22, height: 66 });
  const wide = planVideo(meta(2, 3, 6, 30, 22), { stackFrames: 3 });
  assert.deepEqual(wide.units[1].grid, { rows: 2, cols: 1 }); // 30x50 is closer to square than 66x22
  const three = planVideo(meta(2, 4, 8, 640, 480), { stackFrames: 4 });
  assert.deepEqual([three.units[1].grid, three.units[1].size], [{ rows: 3, cols: 1 }, { width: 640, height: 1452 }]);
  const narrow = planVideo(meta(2, 4, 8, 100, 400), { stackFrames: 4 });
  assert.deepEqual([narrow.units[1].grid, narrow.units[1].size], [{ rows: 1, cols: 3 }, { width: 312, height: 400 }]);
  const six = planVideo(meta(1, 7, 7, 100, 100), { stackFrames: 7 });
  assert.deepEqual([six.units[1].grid, six.units[1].size], [{ rows: 1, cols: 6 }, { width: 630, height: 100 }]);
});

test("image options apply to every unit; frames repeat when the rate is low; indices stay in the frame table", () => {
  const p = planVideo(meta(10, 30, 300, 1280, 720), { downsampleMode: "4x", maxSliceNums: 9, useImageId: true });
  assert.equal(p.units[0].image.imageTokens, 1776); // 1280x720 in 4x, 2x3 slices (image worked examples)
  assert.equal(p.videoTokens, 17760);
  assert.equal(p.markupTokens, 10 * (2 + 2 * 6 + 1));
  assert.equal(p.useImageId, true);
  assert.ok(p.units.every((u) => u.image.useImageId === false), "units never carry their own id");
  const slow = planVideo(meta(6, 0.5, 3, 64, 64));
  assert.deepEqual(slow.units.map((u) => u.frames[0]), [0, 0, 1, 1, 2, 2]);
  assert.deepEqual(slow.decodeFrames, [0, 1, 2]);
  // the container says 10 s but the packet table has 100 frames: every index is clamped to 99
  const short = planVideo(meta(10, 30, 100, 64, 64), { stackFrames: 2 });
  assert.ok(short.decodeFrames.every((f) => f <= 99));
  assert.equal(short.decodeFrames.at(-1), 99);
});

test("absurd metadata plans in bounded time: 10 hours, 10^9 frames, 10^9 s at 10^-9 fps", () => {
  const t0 = performance.now();
  const tenHours = planVideo(meta(36000, 60, 2160000, 1920, 1080), { stackFrames: 8, maxNumFrames: 1024 });
  assert.equal(tenHours.units.filter((u) => u.kind === "frame").length, 1024);
  const billion = planVideo(meta(1e9 / 30, 30, 1e9, 1920, 1080), { stackFrames: 8, maxNumFrames: 1024 });
  assert.equal(billion.units.filter((u) => u.kind === "frame").length, 1024);
  assert.ok(billion.decodeFrames.every((f) => f < 1e9));
  const slow = planVideo(meta(1e9, 1e-9, 1, 64, 64), { stackFrames: 3 });
  assert.deepEqual(slow.decodeFrames, [0]);
  const ms = performance.now() - t0;
  assert.ok(ms < 1000, `took ${ms} ms`); // a materialised 10 Hz grid would be 10^10 entries here
});

test("bad metadata and options are refused with InvalidRequestError naming the parameter", () => {
  const ok = meta(10, 30, 300, 64, 64);
  const bad: [Partial<VideoMeta>, RegExp][] = [
    [{ durationSeconds: 0 }, /duration/],
    [{ durationSeconds: -1 }, /duration/],
    [{ durationSeconds: NaN }, /duration/],
    [{ durationSeconds: Infinity }, /duration/],
    [{ durationSeconds: 2e9 }, /duration/],
    [{ fps: 0 }, /frame rate/],
    [{ fps: -30 }, /frame rate/],
    [{ fps: NaN }, /frame rate/],
    [{ fps: Infinity }, /frame rate/],
    [{ frameCount: 0 }, /frame count/],
    [{ frameCount: 1.5 }, /frame count/],
    [{ frameCount: 2 ** 60 }, /frame count/],
    [{ width: 0 }, /width/],
    [{ height: 10.5 }, /height/],
    [{ width: 1e6 }, /width/],
  ];
  for (const [change, message] of bad) {
    const refused = (e: unknown) => e instanceof InvalidRequestError && e.param === "video" && message.test(e.message);
    assert.throws(() => planVideo({ ...ok, ...change }), refused, JSON.stringify(change));
  }
  const badOptions: [Record<string, unknown>, string][] = [
    [{ maxNumFrames: 0 }, "max_num_frames"],
    [{ maxNumFrames: 2.5 }, "max_num_frames"],
    [{ maxNumFrames: 100000 }, "max_num_frames"],
    [{ stackFrames: 0 }, "stack_frames"],
    [{ stackFrames: 100 }, "stack_frames"],
    [{ maxSliceNums: 0 }, "max_slice_nums"],
    [{ downsampleMode: "8x" }, "downsample_mode"],
  ];
  for (const [options, param] of badOptions) {
    const refused = (e: unknown) => e instanceof InvalidRequestError && e.param === param;
    assert.throws(() => planVideo(ok, options), refused, JSON.stringify(options));
  }
});

// ---- expected values computed by CPython 3 + numpy 2.4 running a transcription of the reference ----
const EXPECTED_300S =
  "0,69,141,210,282,354,423,495,564,636,708,777,849,918,990,1062,1131,1203,1275,1344,1416,1485,1557,162" +
  "9,1698,1770,1839,1911,1982,2052,2124,2196,2265,2337,2406,2478,2550,2619,2691,2760,2832,2904,2973,304" +
  "5,3117,3186,3258,3327,3399,3471,3540,3612,3681,3753,3825,3894,3965,4038,4107,4179,4248,4320,4392,446" +
  "1,4533,4602,4674,4746,4815,4887,4956,5028,5100,5169,5241,5313,5382,5454,5523,5595,5667,5736,5808,587" +
  "7,5949,6021,6090,6162,6234,6303,6375,6444,6516,6588,6657,6729,6798,6870,6942,7011,7083,7155,7224,729" +
  "6,7365,7437,7509,7578,7650,7719,7791,7863,7931,8004,8076,8145,8217,8286,8358,8430,8499,8571,8640,871" +
  "2,8784,8853,8925,8997";

/** [duration, fps, frame count, W, H, max_num_frames, stack_frames], units as f<frame> / c<rows>x<cols>:<frames> */
const GOLDEN: [[number, number, number, number, number, number, number], string][] = [
  [
    [63.8, 29.990003332222592, 1914, 720, 1280, 8, 7],
    "f0;c1x1:4;f269;c1x1:42;f542;c1x1:81;f815;f1088;c1x1:124;f1361;c1x1:162;f1634;c1x1:201;f1907",
  ],
  [
    [72.19178082191782, 7.3, 527, 1000, 994, 11, 2],
    "f0;c1x1:3;f52;f105;f157;f210;f262;f315;f367;c1x1:54;f420;f473;f525",
  ],
  [
    [7.36, 25, 184, 994, 1000, 16, 6],
    "f0;c1x5:4,8,12,16,20;f25;c1x5:29,33,37,41,45;f50;c1x5:54,58,62,66,70;f75;c1x5:79,83,87,91,95;f10" +
    "0;c1x5:104,108,112,116,120;f125;c1x5:129,133,137,141,145;f150;c1x5:154,158,162,166,170;f175;c2x1" +
    ":179,183",
  ],
  [[1.0844166666666666, 23.976023976023978, 26, 480, 640, 16, 2], "f0;c1x1:11;f23"],
  [
    [5.8, 15, 87, 640, 480, 8, 6],
    "f0;c1x5:2,5,7,10,12;f15;c1x5:17,20,22,24,27;f30;c1x5:32,35,37,40,42;f45;c1x5:47,50,52,55,57;f60;" +
    "c1x5:62,65,67,70,72;f75;c2x2:77,80,82,85",
  ],
  [
    [6.944528790874035, 7.3, 51, 64, 64, 8, 3],
    "f0;c2x1:2,4;f7;c2x1:9,12;f14;c2x1:17,19;f21;c2x1:24,26;f29;c2x1:31,34;f36;c2x1:38,41;f43;c2x1:46" +
    ",48",
  ],
  [[40.2, 15, 603, 2, 1, 8, 1], "f0;f85;f171;f256;f343;f429;f514;f601"],
  [
    [11.659290963440629, 0.5, 7, 640, 480, 16, 3],
    "f0;c2x1:0,0;f0;c2x1:0,0;f1;c2x1:1,1;f1;c2x1:1,1;f2;c2x1:2,2;f2;c2x1:2,2;f3;c2x1:3,3;f3;c2x1:3,3;" +
    "f4;c2x1:4,4;f4;c2x1:4,4;f5;c2x1:5,5;f5;c1x1:5",
  ],
  [
    [18.9, 29.97, 298, 100, 300, 13, 5],
    "f0;c1x3:5,11,17;f44;c1x3:35,41,53;f92;c1x3:65,77,83;f137;c1x2:101,107;f185;c1x3:125,131,143;f230" +
    ";c1x3:155,167,173;f278;c1x3:191,197,203;f297;c1x2:221,227;f297;c1x3:245,251,263;f297;c1x3:275,28" +
    "7,293;f297;c1x2:297,297;f297;c1x3:297,297,297;f297;c1x3:297,297,297",
  ],
  [
    [31.948583333333332, 23.976023976023978, 766, 1920, 1080, 8, 6],
    "f0;c2x1:3,19;f107;c1x1:39;f215;c1x1:59;f326;c1x1:79;f433;c2x1:99,115;f544;c1x1:135;f652;c1x1:155" +
    ";f762;c1x1:175",
  ],
  [[0.16683350016683351, 23.976, 4, 720, 1280, 8, 3], "f0"],
  [
    [74.8, 30, 2244, 1280, 720, 8, 7],
    "f0;c1x1:4;f318;c1x1:47;f639;f957;c1x1:98;f1278;c1x1:141;f1596;f1917;c1x1:192;f2238;c1x1:235",
  ],
  [[0.5046617129013171, 0.5, 3, 1280, 720, 8, 7], "f0;c3x1:0,0,0"],
  [[12.1, 59.94005994005994, 728, 2, 1, 4, 3], "f0;c1x1:19;f233;c1x1:99;f473;f713;c1x1:199"],
  [
    [112.21442472704565, 23.976023976023978, 2694, 994, 1000, 16, 2],
    "f0;c1x1:11;f177;f357;f537;f714;f894;f1074;f1253;c1x1:179;f1431;f1611;f1791;f1970;f2148;f2328;f25" +
    "07;c1x1:347;f2687",
  ],
  [
    [3.639969459461166, 12.5, 47, 2, 1, 128, 7],
    "f0;c1x6:1,3,5,7,8,10;f12;c1x6:14,16,17,19,21,23;f25;c1x6:26,28,30,32,33,35;f37;c2x2:39,41,42,44",
  ],
  [[4.84, 25, 121, 480, 640, 2, 6], "f0;c1x2:4,12;f117;c1x2:29,41"],
  [
    [17.68, 12.5, 221, 1920, 1080, 128, 7],
    "f0;c1x6:1,3,5,7,8,10;f12;c1x6:14,16,17,19,21,23;f25;c1x6:26,28,30,32,33,35;f37;c1x6:39,41,42,44," +
    "46,48;f50;c1x6:51,53,55,57,58,60;f62;c1x6:64,66,67,69,71,73;f75;c1x6:76,78,80,82,83,85;f87;c1x6:" +
    "89,91,92,94,96,98;f100;c1x6:101,103,105,107,108,110;f112;c1x6:114,116,117,119,121,123;f125;c1x6:" +
    "126,128,130,132,133,135;f137;c1x6:139,141,142,144,146,148;f150;c1x6:151,153,155,157,158,160;f162" +
    ";c1x6:164,166,167,169,171,173;f175;c1x6:176,178,180,182,183,185;f187;c1x6:189,191,192,194,196,19" +
    "8;f200;c1x6:201,203,205,207,208,210;f212;c2x2:214,216,217,219",
  ],
  [
    [97.81083771739934, 23.976023976023978, 2349, 64, 64, 12, 6],
    "f0;c1x1:3;f210;c1x1:39;f424;f637;c1x1:79;f851;c1x1:115;f1064;f1275;c1x1:159;f1488;f1702;c1x1:199" +
    ";f1915;c1x1:235;f2129;f2342;c1x1:275",
  ],
  [[6.0, 0.5, 3, 1280, 720, 3, 3], "f0;c1x1:0;f1;c1x1:0;f2;c1x1:1"],
  [[82.31963264318141, 30, 2470, 640, 480, 7, 4], "f0;c1x1:7;f411;f822;f1233;f1644;c1x1:127;f2055;f2466"],
  [
    [63.73109860198844, 30, 1914, 480, 640, 7, 6],
    "f0;c1x1:5;f318;c1x1:55;f636;f954;c1x1:110;f1272;f1590;c1x1:170;f1908",
  ],
  [[42.37566666666667, 59.94005994005994, 2540, 994, 1000, 4, 6], "f0;c1x1:9;f839;f1684;c1x1:139;f2529"],
  [
    [20.246696204996546, 29.990003332222592, 610, 100, 300, 6, 3],
    "f0;c1x1:9;f119;c1x1:49;f239;f359;c1x1:109;f479;f602;c1x1:159",
  ],
  [[1.0427083333333333, 23.976023976023978, 25, 100, 300, 16, 6], "f0;c1x5:3,7,11,15,19;f23"],
  [
    [15.4, 59.94005994005994, 927, 1280, 720, 128, 1],
    "f0;f59;f119;f179;f239;f299;f359;f419;f479;f539;f599;f659;f719;f779;f839;f899",
  ],
  [
    [37.579188888888886, 29.990003332222592, 1127, 1000, 994, 10, 7],
    "f0;c2x1:4,17;f122;c2x1:38,55;f248;c1x1:77;f371;c2x1:98,111;f497;c1x1:132;f620;c2x1:154,171;f746;" +
    "c2x1:192,205;f869;c1x1:227;f995;c2x1:248,265;f1121;c1x1:287",
  ],
  [[0.7495629721860806, 25, 21, 640, 480, 4, 6], "f0;c2x2:4,8,12,16"],
  [[54.9, 59.94005994005994, 3294, 480, 640, 11, 1], "f0;f323;f653;f983;f1312;f1642;f1966;f2295;f2625;f2955;f3284"],
  [[74.2, 60, 4455, 2, 1, 11, 2], "f0;c1x1:30;f444;f888;f1332;f1776;f2220;f2664;f3108;c1x1:450;f3552;f3995;f4446"],
  [[52.42787666119223, 7.3, 386, 994, 1000, 5, 3], "f0;c1x1:2;f94;f190;f286;f381"],
  [
    [18.585251918585254, 29.97, 557, 1000, 994, 5, 7],
    "f0;c2x1:4,17;f137;c2x1:38,55;f275;c1x1:77;f413;c2x1:98,111;f551;c1x1:132",
  ],
  [[1.0, 1, 1, 64, 64, 16, 7], "f0;c1x6:0,0,0,0,0,0"],
  [[2.0, 1, 2, 300, 100, 128, 6], "f0;c1x5:0,0,0,0,0;f1;c1x5:1,1,1,1,1"],
  [
    [87.16422277417493, 25, 725, 994, 1000, 14, 3],
    "f0;c1x1:8;f165;f332;f500;c1x1:83;f667;f724;f724;c1x1:158;f724;f724;f724;c1x1:241;f724;f724;f724;" +
    "c1x1:316;f724",
  ],
  [
    [7.0, 0.5, 5, 1000, 994, 8, 8],
    "f0;c1x7:0,0,0,0,0,0,0;f0;c1x7:0,0,0,0,0,0,0;f1;c1x7:1,1,1,1,1,1,1;f1;c1x7:1,1,1,1,1,1,1;f2;c1x7:" +
    "2,2,2,2,2,2,2;f2;c1x7:2,2,2,2,2,2,2;f3;c1x7:3,3,3,3,3,3,3",
  ],
  [
    [74.99603178955658, 29.97, 2251, 720, 1280, 8, 4],
    "f0;c1x1:7;f317;f638;f959;c1x1:97;f1279;f1600;f1921;c1x1:194;f2241",
  ],
  [
    [6.4, 12.5, 80, 480, 640, 128, 8],
    "f0;c1x7:1,3,4,6,7,9,10;f12;c1x7:14,15,17,18,20,21,23;f25;c1x7:26,28,29,31,32,34,35;f37;c1x7:39,4" +
    "0,42,43,45,46,48;f50;c1x7:51,53,54,56,57,59,60;f62;c1x7:64,65,67,68,70,71,73;f75;c3x1:76,78,79",
  ],
  [[56.59820833333333, 23.976023976023978, 1357, 480, 640, 6, 1], "f0;f268;f539;f810;f1081;f1352"],
  [[24.024024024024026, 23.976, 576, 640, 480, 3, 8], "f0;c1x1:2;f285;c1x1:29;f573;c1x1:56"],
];
