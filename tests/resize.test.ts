/** The Pillow-bicubic port is bit-exact with llama.cpp's own resize_pillow (native harness). */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { test } from "node:test";
import { crop, normalize, resizeBicubic } from "../engine/ts/vision/resize.ts";
import { Rng } from "../engine/ts/tiny-model/random.ts";
import { nativeBin, run } from "./helpers.ts";

/** A smooth gradient with noise: exercises both flat and busy regions. */
function testImage(width: number, height: number, seed: number) {
  const rng = new Rng(seed);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = (x * 255) / width;
      data[i + 1] = (y * 255) / height;
      data[i + 2] = rng.u32() & 255;
    }
  }
  return { width, height, data };
}

const CASES: [number, number, number, number][] = [
  [640, 488, 504, 392], // test-1.jpeg's overview
  [640, 488, 672, 560], // its refined size (upscale)
  [1280, 976, 1176, 1008],
  [100, 80, 448, 448], // small image stretched up
  [4000, 60, 1232, 168], // extreme aspect, strong downscale
  [33, 17, 56, 112],
  [448, 448, 448, 448], // identity
  [300, 200, 560, 392],
];

test("resizeBicubic is bit-exact with llama.cpp's resize_pillow", async () => {
  const dir = mkdtempSync(`${tmpdir()}/mce-resize-`);
  try {
    for (const [i, [w, h, ow, oh]] of CASES.entries()) {
      const img = testImage(w, h, i + 1);
      writeFileSync(`${dir}/in.rgb`, img.data);
      const r = await run(nativeBin("resize"), [
        `${dir}/in.rgb`,
        String(w),
        String(h),
        String(ow),
        String(oh),
        `${dir}/out.rgb`,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const native = new Uint8Array(readFileSync(`${dir}/out.rgb`));
      const ours = resizeBicubic(img, ow, oh);
      assert.equal(ours.width, ow);
      assert.equal(ours.height, oh);
      const diff = ours.data.findIndex((v, k) => v !== native[k]);
      assert.equal(diff, -1, `${w}x${h} -> ${ow}x${oh}: first difference at byte ${diff}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("crop and normalise", () => {
  const img = testImage(8, 4, 1);
  const c = crop(img, 2, 1, 3, 2);
  assert.deepEqual([...c.data.subarray(0, 3)], [...img.data.subarray((1 * 8 + 2) * 3, (1 * 8 + 2) * 3 + 3)]);
  const n = normalize({ width: 1, height: 1, data: new Uint8Array([0, 255, 51]) });
  assert.deepEqual([...n].map((x) => +x.toFixed(4)), [-1, 1, -0.6]);
});
