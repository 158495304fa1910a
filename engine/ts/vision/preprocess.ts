/**
 * Image + plan -> normalised tiles for the encoder, in embedding order: the overview, then the
 * slices row-major. Reference semantics: both the overview and the refined image are stretched
 * to their target sizes (no letter-boxing), docs/input-pipeline.md, "Resampling".
 */

import type { ImagePlan } from "./plan.ts";
import { crop, normalize, resizeBicubic, type RgbImage } from "./resize.ts";
import type { Tile } from "./vision-model.ts";

export function imageTiles(img: RgbImage, plan: ImagePlan, mean?: number[], std?: number[]): Tile[] {
  const toTile = (t: RgbImage): Tile => ({ width: t.width, height: t.height, data: normalize(t, mean, std) });
  const tiles = [toTile(resizeBicubic(img, plan.overview.width, plan.overview.height))];
  if (plan.grid && plan.refined && plan.slice) {
    const refined = resizeBicubic(img, plan.refined.width, plan.refined.height);
    const { width: sw, height: sh } = plan.slice;
    for (let r = 0; r < plan.grid.rows; r++) {
      for (let c = 0; c < plan.grid.cols; c++) tiles.push(toTile(crop(refined, c * sw, r * sh, sw, sh)));
    }
  }
  return tiles;
}
