/**
 * The video prompt layout (docs/input-pipeline.md, "Video layout"): <|video_pad|> placeholders in
 * image-style unit blocks, no timestamps, the id prefix once per video, videos numbered apart from
 * images, and the placeholder runs checked against the plans.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { InvalidRequestError } from "../../engine/ts/errors.ts";
import { expandImages, IMAGE_MARKER } from "../../engine/ts/vision/layout.ts";
import { planImage } from "../../engine/ts/vision/plan.ts";
import { expandVideos, VIDEO_MARKER, videoBlock, videoPlaceholderRuns } from "../../engine/ts/video/layout.ts";
import { planVideo } from "../../engine/ts/video/plan.ts";

const V = VIDEO_MARKER;
const clip = { durationSeconds: 10, fps: 30, frameCount: 300, width: 1280, height: 720 };

/** Splits a prompt into the special strings and single characters (enough to count placeholder runs). */
function toyTokenize(text: string): Int32Array {
  const pieces = text.match(/<\|video_pad\|>|<\|image_pad\|>|<\/?image>|<\/?slice>|<\/?image_id>|[^]/g) ?? [];
  return Int32Array.from(pieces, (p) => (p === V ? 1 : p === IMAGE_MARKER ? 2 : 0));
}

test("documented example: stack_frames 3, 1280x720, first two seconds", () => {
  const block = videoBlock(planVideo(clip, { stackFrames: 3 }), 0);
  const unit = (n: number) => `<image>${V.repeat(n)}</image>`;
  assert.ok(block.startsWith(unit(66) + unit(64) + unit(66) + unit(64) + "<image>"));
  assert.equal(block, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(() => unit(66) + unit(64)).join(""));
  assert.ok(!block.includes(IMAGE_MARKER) && !block.includes("<image_id>") && !block.includes("\n"));
});

test("the id prefix appears once per video, videos count from 0 apart from images", () => {
  const withId = planVideo({ ...clip, durationSeconds: 2, frameCount: 60 }, { useImageId: true });
  const unit = `<image>${V.repeat(66)}</image>`;
  assert.equal(videoBlock(withId, 0), `<image_id>0</image_id>${unit}${unit}`);
  const image = planImage({ width: 448, height: 448 });
  const rendered = `a${IMAGE_MARKER}b${V}c${V}d`;
  const text = expandVideos(expandImages(rendered, [image]), [withId, withId]);
  assert.equal(
    text,
    `a<image_id>0</image_id><image>${IMAGE_MARKER.repeat(64)}</image>b` +
      `<image_id>0</image_id>${unit}${unit}c<image_id>1</image_id>${unit}${unit}d`,
  );
  assert.equal(text.split("<image_id>").length - 1, 3);
  assert.throws(() => expandVideos(`${V}`, [withId, withId]), InvalidRequestError);
});

test("sliced units lay out like images, with <|video_pad|>; runs match the plans", () => {
  const plan = planVideo({ ...clip, durationSeconds: 1, frameCount: 30 }, { maxSliceNums: 9, stackFrames: 5 });
  const [frame, composite] = plan.units;
  // 1280x720: 616x336 + 2x3 of 504x392 (image worked examples)
  assert.deepEqual(frame.image.grid, { rows: 2, cols: 3 });
  const row = `<slice>${V.repeat(63)}</slice>`.repeat(3);
  const frameBlock = `<image>${V.repeat(66)}</image>${row}\n${row}`;
  const block = videoBlock(plan, 0);
  assert.ok(block.startsWith(frameBlock + "<image>"));
  assert.equal(plan.units.length, 2);

  const tokens = toyTokenize(`x${block}y`);
  assert.equal(tokens.length, 2 + plan.videoTokens + plan.markupTokens);
  const starts = videoPlaceholderRuns(tokens, 1, [plan]);
  const tiles = [frame, composite].flatMap(({ image: p }) => [
    p.overview.tokens,
    ...Array(p.grid ? p.grid.rows * p.grid.cols : 0).fill(p.slice?.tokens),
  ]);
  assert.equal(starts.length, tiles.length);
  for (const [i, s] of starts.entries()) {
    assert.equal(tokens[s - 1], 0);
    assert.ok(tokens.subarray(s, s + tiles[i]).every((t) => t === 1));
    assert.equal(tokens[s + tiles[i]], 0);
  }
  const broken = toyTokenize(`x${block}${V}y`);
  const refused = (e: unknown) => e instanceof InvalidRequestError && e.message.includes(V);
  assert.throws(() => videoPlaceholderRuns(broken, 1, [plan]), refused);
});
