/**
 * Token layout of videos in a prompt (reference processor; docs/input-pipeline.md, "Video layout"):
 * the chat template emits one <|video_pad|> per video; each is replaced by
 *   [<image_id>v</image_id>] then, per unit (main frames and composites, in plan order), the image
 *   block (vision/layout.ts) with <|video_pad|> as the placeholder: <image> V*n </image> [slice rows]
 * with no separator and no timestamps between units. The id prefix appears once per video, and
 * videos are numbered from 0 per prompt independently of images. Frames never get image markup
 * tokens (<|image_pad|>): the placeholder differs, the block structure is the image one.
 */

import { InvalidRequestError } from "../errors.ts";
import { imageBlock, placeholderRuns } from "../vision/layout.ts";
import type { ImagePlan } from "../vision/plan.ts";
import type { VideoPlan } from "./plan.ts";

export const VIDEO_MARKER = "<|video_pad|>";

/** The text that replaces the v-th video's marker. */
export function videoBlock(plan: VideoPlan, v: number): string {
  let s = plan.useImageId ? `<image_id>${v}</image_id>` : "";
  for (const unit of plan.units) s += imageBlock(unit.image, 0, VIDEO_MARKER); // units never carry an id
  return s;
}

/** Replaces the v-th <|video_pad|> of the rendered prompt with the v-th video's block. */
export function expandVideos(rendered: string, plans: VideoPlan[]): string {
  const parts = rendered.split(VIDEO_MARKER);
  if (parts.length - 1 !== plans.length) {
    throw new InvalidRequestError(
      `the chat template produced ${parts.length - 1} video markers for ${plans.length} videos`,
      "messages",
    );
  }
  return parts.reduce((out, part, v) => out + videoBlock(plans[v - 1], v - 1) + part);
}

/** Every tile of every video in prompt order, as image plans: unit by unit, overview then slices. */
export function videoTilePlans(plans: VideoPlan[]): ImagePlan[] {
  return plans.flatMap((p) => p.units.map((u) => u.image));
}

/**
 * Start index of each run of <|video_pad|> tokens (one run per tile: each unit's overview, then its
 * slices), checked against the plans' token counts.
 */
export function videoPlaceholderRuns(tokens: Int32Array, placeholder: number, plans: VideoPlan[]): number[] {
  return placeholderRuns(tokens, placeholder, videoTilePlans(plans), VIDEO_MARKER);
}
