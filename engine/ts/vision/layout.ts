/**
 * Token layout of images in a prompt (reference processor, docs/input-pipeline.md, "Prompt token layout"): the chat
 * template emits one <|image_pad|> per image; each is replaced by its block
 *   [<image_id>k</image_id>] <image> P*overview </image> (<slice> P*slice </slice>)*cols ("\n" between rows)
 * with one placeholder P per embedding; ids count from 0 per prompt.
 */

import { InvalidRequestError } from "../errors.ts";
import type { ImagePlan } from "./plan.ts";

export const IMAGE_MARKER = "<|image_pad|>";

export function imageBlock(plan: ImagePlan, k: number, placeholder = IMAGE_MARKER): string {
  let s = plan.useImageId ? `<image_id>${k}</image_id>` : "";
  s += `<image>${placeholder.repeat(plan.overview.tokens)}</image>`;
  if (plan.grid && plan.slice) {
    const row = `<slice>${placeholder.repeat(plan.slice.tokens)}</slice>`.repeat(plan.grid.cols);
    s += Array.from({ length: plan.grid.rows }, () => row).join("\n");
  }
  return s;
}

/** Replaces the k-th marker of the rendered prompt with the k-th image's block. */
export function expandImages(rendered: string, plans: ImagePlan[]): string {
  const parts = rendered.split(IMAGE_MARKER);
  if (parts.length - 1 !== plans.length) {
    throw new InvalidRequestError(
      `the chat template produced ${parts.length - 1} image markers for ${plans.length} images`,
      "messages",
    );
  }
  return parts.reduce((out, part, k) => out + imageBlock(plans[k - 1], k - 1) + part);
}

/** Start index of each run of `placeholder` tokens, checked against the plans' token counts. */
export function placeholderRuns(
  tokens: Int32Array,
  placeholder: number,
  plans: ImagePlan[],
  marker = IMAGE_MARKER,
): number[] {
  const starts: number[] = [];
  const lengths: number[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] !== placeholder) continue;
    if (i > 0 && tokens[i - 1] === placeholder) lengths[lengths.length - 1]++;
    else {
      starts.push(i);
      lengths.push(1);
    }
  }
  // each image is one run per tile (overview, then each slice)
  const expected = plans.flatMap((
    p,
  ) => [p.overview.tokens, ...Array(p.grid ? p.grid.rows * p.grid.cols : 0).fill(p.slice?.tokens)]);
  if (lengths.length !== expected.length || lengths.some((n, i) => n !== expected[i])) {
    const message = `the prompt's ${marker} placeholders do not match the plans (is ${marker} in the text?)`;
    throw new InvalidRequestError(message, "messages");
  }
  return starts;
}
