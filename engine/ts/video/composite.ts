/**
 * The pixels of one visual unit of a video: a main frame as decoded, or the sub-second frames of
 * a composite pasted unscaled onto a black canvas, row-major, 6-pixel black separators between
 * them (docs/input-pipeline.md, "Stacking"). Pure; the plan (plan.ts) decides grid and size.
 */

import { InvalidRequestError } from "../errors.ts";
import type { RgbImage } from "../vision/resize.ts";
import { COMPOSITE_SEPARATOR, type VideoUnit } from "./plan.ts";

/** `frames` maps a frame number to its decoded RGB pixels (every frame of the unit must be there). */
export function unitImage(unit: VideoUnit, frames: ReadonlyMap<number, RgbImage>): RgbImage {
  const images = unit.frames.map((n) => {
    const img = frames.get(n);
    if (!img) throw new InvalidRequestError(`frame ${n} of the video could not be decoded`, "video");
    return img;
  });
  if (unit.kind === "frame") return images[0];
  const { width, height } = unit.size;
  const data = new Uint8Array(width * height * 3); // black
  for (const [k, img] of images.entries()) {
    const col = k % unit.grid.cols;
    const row = Math.floor(k / unit.grid.cols);
    const x0 = col * (img.width + COMPOSITE_SEPARATOR);
    const y0 = row * (img.height + COMPOSITE_SEPARATOR);
    if (x0 + img.width > width || y0 + img.height > height) {
      throw new InvalidRequestError("the video's frames change size; stacked frames must share one size", "video");
    }
    const rowBytes = img.width * 3;
    for (let y = 0; y < img.height; y++) {
      const src = y * rowBytes;
      data.set(img.data.subarray(src, src + rowBytes), ((y0 + y) * width + x0) * 3);
    }
  }
  return { width, height, data };
}
