/** Image placeholder layout: each image's token block in the prompt, and finding its runs in the token ids. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidRequestError } from "../../engine/ts/errors.ts";
import { expandImages, IMAGE_MARKER, imageBlock, placeholderRuns } from "../../engine/ts/vision/layout.ts";
import { type ImagePlan, planImage } from "../../engine/ts/vision/plan.ts";

/** A plan with tiny token counts, so the expected strings can be written out. */
function plan(overview: number, grid: { rows: number; cols: number } | null, slice = 0, useImageId = true): ImagePlan {
  const tile = { width: 448, height: 448 };
  return {
    source: { width: 100, height: 100 },
    mode: "16x",
    maxSliceNums: 9,
    useImageId,
    overview: { ...tile, tokens: overview },
    grid,
    refined: grid ? { width: 448 * grid.cols, height: 448 * grid.rows } : null,
    slice: grid ? { ...tile, tokens: slice } : null,
    imageTokens: overview + (grid ? grid.rows * grid.cols * slice : 0),
  };
}

const count = (s: string, sub: string) => s.split(sub).length - 1;

test("an unsliced image: id, then the overview's placeholders", () => {
  assert.equal(imageBlock(plan(3, null), 0, "P"), "<image_id>0</image_id><image>PPP</image>");
  assert.equal(imageBlock(plan(2, null, 0, false), 5, "P"), "<image>PP</image>", "no id when useImageId is off");
});

test("a sliced image: slices row by row, a newline between rows", () => {
  assert.equal(
    imageBlock(plan(2, { rows: 2, cols: 3 }, 1), 1, "P"),
    "<image_id>1</image_id><image>PP</image>" +
      "<slice>P</slice><slice>P</slice><slice>P</slice>\n<slice>P</slice><slice>P</slice><slice>P</slice>",
  );
});

test("real plans: one placeholder per embedding position", () => {
  for (const mode of ["16x", "4x"] as const) {
    const p = planImage({ width: 1024, height: 768 }, { downsampleMode: mode });
    assert.ok(p.grid, "1024x768 is sliced");
    const block = imageBlock(p, 0);
    assert.equal(count(block, IMAGE_MARKER), p.imageTokens);
    assert.equal(count(block, "<slice>"), p.grid.rows * p.grid.cols);
    assert.equal(count(block, "\n"), p.grid.rows - 1);
  }
});

test("expandImages replaces the k-th marker with the k-th image's block, ids from 0", () => {
  const out = expandImages(`a${IMAGE_MARKER}b${IMAGE_MARKER}c`, [plan(1, null), plan(2, null, 0, false)]);
  assert.equal(
    out,
    `a<image_id>0</image_id><image>${IMAGE_MARKER}</image>b<image>${IMAGE_MARKER.repeat(2)}</image>c`,
  );
  assert.equal(expandImages("no images", []), "no images");
  assert.throws(() => expandImages(`x${IMAGE_MARKER}`, []), (e: unknown) => {
    assert.ok(e instanceof InvalidRequestError);
    assert.equal(e.param, "messages");
    assert.match(e.message, /1 image markers for 0 images/);
    return true;
  });
});

test("placeholderRuns: the start of each tile's run, checked against the plans", () => {
  const P = 9;
  const plans = [plan(2, null), plan(1, { rows: 1, cols: 2 }, 3)];
  //                     overview      overview  slice       slice
  const tokens = Int32Array.from([5, P, P, 6, 7, P, 8, P, P, P, 8, P, P, P, 4]);
  assert.deepEqual(placeholderRuns(tokens, P, plans), [1, 5, 7, 11]);
  assert.deepEqual(placeholderRuns(Int32Array.from([1, 2]), P, []), []);
  const mismatch = (t: number[]) =>
    assert.throws(() => placeholderRuns(Int32Array.from(t), P, plans), (e: unknown) => {
      assert.ok(e instanceof InvalidRequestError);
      assert.match(e.message, /placeholders do not match/);
      return true;
    });
  mismatch([P, P, 0, P, 0, P, P, P, 0, P, P]); // the last slice one short
  mismatch([P, P, 0, P, 0, P, P, P, 0, P, P, P, 0, P]); // a stray placeholder in the text
  mismatch([P, P, P, P, 0, P, P, P, 0, P, P, P]); // two tiles run together
});
