/**
 * The image planner against the worked examples (docs/input-pipeline.md, "Worked examples") and against
 * an independent reference written here from the documented rules, over generated sizes.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { type DownsampleMode, planImage } from "../../engine/ts/vision/plan.ts";

// ---- independent reference (kept apart from the production planner on purpose) ----
function pyRound(x: number): number {
  const f = Math.floor(x);
  const frac = x - f;
  if (frac > 0.5) return f + 1;
  if (frac < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}
function reference(W: number, H: number, maxSlices: number, mode: DownsampleMode) {
  const S = 448;
  const ensure = (x: number, d: number) => Math.max(pyRound(x / d) * d, d);
  const best = (h: number, w: number, up: boolean) => {
    if (h * w > S * S || up) {
      const r = w / h;
      h = Math.trunc(S / Math.sqrt(r));
      w = Math.trunc(h * r);
    }
    return { h: ensure(h, 56), w: ensure(w, 56) };
  };
  const tok = (s: { h: number; w: number }) => (s.h / 14) * (s.w / 14) / (mode === "16x" ? 16 : 4);
  const m = Math.min(Math.ceil((W * H) / (S * S)), maxSlices);
  let grid: { rows: number; cols: number } | null = null;
  if (m > 1) {
    const candidates: [number, number][] = [];
    for (const n of [m - 1, m, m + 1]) {
      if (n === 1 || n > maxSlices) continue;
      for (let c = 1; c <= n; c++) if (n % c === 0) candidates.push([n / c, c]);
    }
    let err = Infinity;
    for (const [rows, cols] of candidates) {
      const e = Math.abs(Math.log(W / H) - Math.log(cols / rows));
      if (e < err) {
        err = e;
        grid = { rows, cols };
      }
    }
  }
  const ov = best(H, W, grid === null);
  let total = tok(ov);
  let slice = null;
  if (grid) {
    slice = best(ensure(H, grid.rows) / grid.rows, ensure(W, grid.cols) / grid.cols, true);
    total += grid.rows * grid.cols * tok(slice);
  }
  return { ov, grid, slice, total };
}

// ---- docs/input-pipeline.md worked examples: [W, H, max, overview WxH, grid RxC|null, slice WxH|null, 16x, 4x]
const EXAMPLES: [number, number, number, string, string | null, string | null, number, number][] = [
  [448, 448, 9, "448x448", null, null, 64, 256],
  [448, 448, 36, "448x448", null, null, 64, 256],
  [1024, 768, 9, "504x392", "2x2", "504x392", 315, 1260],
  [1024, 768, 36, "504x392", "2x2", "504x392", 315, 1260],
  [4000, 3000, 9, "504x392", "3x3", "504x392", 630, 2520],
  [4000, 3000, 36, "504x392", "5x7", "448x448", 2303, 9212],
  [300, 200, 9, "560x392", null, null, 70, 280],
  [500, 300, 9, "560x336", null, null, 60, 240],
  [640, 480, 9, "504x392", "1x2", "392x560", 203, 812],
  [800, 800, 9, "448x448", "2x2", "448x448", 320, 1280],
  [1000, 1000, 9, "448x448", "2x2", "448x448", 320, 1280],
  [1010, 1010, 9, "448x448", "2x3", "392x560", 484, 1936],
  [1280, 720, 9, "616x336", "2x3", "504x392", 444, 1776],
  [1920, 1080, 9, "616x336", "2x4", "448x448", 578, 2312],
  [1920, 1080, 36, "616x336", "3x4", "504x392", 822, 3288],
  [2480, 3508, 9, "392x560", "4x2", "504x392", 574, 2296],
  [2480, 3508, 36, "392x560", "7x5", "448x448", 2310, 9240],
  [3000, 400, 9, "1232x168", "1x7", "448x448", 514, 2056],
  [275, 730, 9, "280x728", "3x1", "448x448", 257, 1028],
];

test("planner reproduces the documented worked examples in 16x and 4x", () => {
  for (const [w, h, max, ov, grid, slice, t16, t4] of EXAMPLES) {
    const p16 = planImage({ width: w, height: h }, { maxSliceNums: max });
    const p4 = planImage({ width: w, height: h }, { maxSliceNums: max, downsampleMode: "4x" });
    const label = `${w}x${h} max ${max}`;
    assert.equal(`${p16.overview.width}x${p16.overview.height}`, ov, label);
    assert.equal(p16.grid ? `${p16.grid.rows}x${p16.grid.cols}` : null, grid, label);
    assert.equal(p16.slice ? `${p16.slice.width}x${p16.slice.height}` : null, slice, label);
    assert.equal(p16.imageTokens, t16, label);
    assert.equal(p4.imageTokens, t4, label);
    assert.deepEqual(p4.grid, p16.grid, "4x uses the same sizes (56 alignment) in the reference");
  }
});

test("planner equals the independent reference on 400 generated sizes", () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  for (let i = 0; i < 400; i++) {
    // log-uniform sides from 16 to 6000 px, aspect up to about 1:12
    const w = Math.round(16 * Math.pow(375, rand(10000) / 10000));
    const h = Math.round(16 * Math.pow(375, rand(10000) / 10000));
    const max = [1, 2, 4, 9, 16, 36][rand(6)];
    const mode: DownsampleMode = rand(2) ? "16x" : "4x";
    const p = planImage({ width: w, height: h }, { maxSliceNums: max, downsampleMode: mode });
    const r = reference(w, h, max, mode);
    const label = `${w}x${h} max ${max} ${mode}`;
    assert.deepEqual({ w: p.overview.width, h: p.overview.height }, r.ov, label);
    assert.deepEqual(p.grid, r.grid, label);
    assert.deepEqual(p.slice ? { w: p.slice.width, h: p.slice.height } : null, r.slice, label);
    assert.equal(p.imageTokens, r.total, label);
  }
});

test("refined size is the slice size times the grid; bad options are refused", () => {
  const p = planImage({ width: 4000, height: 3000 }, { maxSliceNums: 36 });
  assert.deepEqual(p.refined, { width: 3136, height: 2240 });
  assert.throws(
    () => planImage({ width: 10, height: 10 }, { downsampleMode: "8x" as DownsampleMode }),
    /downsample_mode/,
  );
  assert.throws(() => planImage({ width: 10, height: 10 }, { maxSliceNums: 0 }), /max_slice_nums/);
  assert.throws(() => planImage({ width: 0, height: 10 }), /invalid image size/);
});
