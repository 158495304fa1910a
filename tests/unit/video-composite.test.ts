/** Composite pixels: frames pasted row-major with 6-pixel black separators, as planned. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { unitImage } from "../../engine/ts/video/composite.ts";
import { planVideo } from "../../engine/ts/video/plan.ts";
import type { RgbImage } from "../../engine/ts/vision/resize.ts";

function solid(width: number, height: number, value: number): RgbImage {
  return { width, height, data: new Uint8Array(width * height * 3).fill(value) };
}

function pixel(img: RgbImage, x: number, y: number): number[] {
  const i = (y * img.width + x) * 3;
  return [...img.data.subarray(i, i + 3)];
}

test("a 2x2 composite pastes four frames with black separators", () => {
  // stack_frames 5: four sub-frames per second -> 2x2
  const plan = planVideo({ durationSeconds: 2, fps: 10, frameCount: 20, width: 8, height: 4 }, { stackFrames: 5 });
  const unit = plan.units.find((u) => u.kind === "composite")!;
  assert.deepEqual(unit.grid, { rows: 2, cols: 2 });
  assert.deepEqual(unit.size, { width: 8 * 2 + 6, height: 4 * 2 + 6 });
  const frames = new Map(unit.frames.map((n, k) => [n, solid(8, 4, 10 * (k + 1))]));
  const img = unitImage(unit, frames);
  assert.equal(img.width, 22);
  assert.equal(img.height, 14);
  assert.deepEqual(pixel(img, 0, 0), [10, 10, 10]);
  assert.deepEqual(pixel(img, 7, 3), [10, 10, 10]);
  assert.deepEqual(pixel(img, 8, 0), [0, 0, 0]); // separator column
  assert.deepEqual(pixel(img, 13, 0), [0, 0, 0]);
  assert.deepEqual(pixel(img, 14, 0), [20, 20, 20]);
  assert.deepEqual(pixel(img, 0, 4), [0, 0, 0]); // separator row
  assert.deepEqual(pixel(img, 0, 10), [30, 30, 30]);
  assert.deepEqual(pixel(img, 21, 13), [40, 40, 40]);
});

test("a main frame is the decoded frame itself; a missing frame is a typed error", () => {
  const plan = planVideo({ durationSeconds: 1, fps: 10, frameCount: 10, width: 8, height: 4 });
  const frame = solid(8, 4, 7);
  assert.equal(unitImage(plan.units[0], new Map([[0, frame]])), frame);
  assert.throws(() => unitImage(plan.units[0], new Map()), /frame 0 of the video could not be decoded/);
});

test("frames of another size than planned are refused, not pasted out of bounds", () => {
  const plan = planVideo({ durationSeconds: 1, fps: 10, frameCount: 10, width: 8, height: 4 }, { stackFrames: 3 });
  const unit = plan.units.find((u) => u.kind === "composite")!;
  const frames = new Map(unit.frames.map((n) => [n, solid(16, 8, 1)]));
  assert.throws(() => unitImage(unit, frames), /change size/);
});
