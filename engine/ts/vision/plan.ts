/**
 * The MiniCPM-V 4.6 image plan with reference (transformers) semantics: whether to slice, the
 * grid, overview / refined / slice sizes and visual-token counts. float64 arithmetic, Python
 * round-half-to-even, 56-pixel alignment in both modes. See docs/input-pipeline.md, "Plan",
 * "Visual tokens per tile". Pure: no I/O, no engine.
 */

import { InvalidRequestError } from "../errors.ts";

export type DownsampleMode = "16x" | "4x";

export interface PlanOptions {
  /** "16x" (default) or "4x" (four times the tokens, finer detail) */
  downsampleMode?: DownsampleMode;
  /** upper bound on slices (default 9; 36 recommended for images, 1 disables slicing) */
  maxSliceNums?: number;
  /** prefix <image_id>k</image_id> (default true); recorded for the token layout */
  useImageId?: boolean;
}

export interface Size {
  width: number;
  height: number;
}

export interface ImagePlan {
  source: Size;
  mode: DownsampleMode;
  maxSliceNums: number;
  useImageId: boolean;
  overview: Size & { tokens: number };
  /** null when the image is not sliced */
  grid: { rows: number; cols: number } | null;
  /** the image resized before cutting into slices (null when not sliced) */
  refined: Size | null;
  /** each slice (all slices of an image have one size) */
  slice: (Size & { tokens: number }) | null;
  /** embedding positions: overview + rows * cols * slice tokens (markup tokens excluded) */
  imageTokens: number;
}

/** Slice / overview side target (preprocessor scale_resolution). */
export const SCALE_RESOLUTION = 448;
/** Tile sides are multiples of 56 = patch 14 x 4 (two 2x2 folds), in both modes. */
export const ALIGN = 56;
export const PATCH_SIZE = 14;

/** Python's round(): half to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x); // half up
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function alignRound(x: number, d: number): number {
  return Math.max(roundHalfEven(x / d) * d, d);
}

/** transformers find_best_resize; returns [height, width]. */
function fitSize(h: number, w: number, allowUpscale: boolean): [number, number] {
  const S = SCALE_RESOLUTION;
  if (h * w > S * S || allowUpscale) {
    const ar = w / h;
    h = Math.trunc(S / Math.sqrt(ar));
    w = Math.trunc(h * ar);
  }
  return [alignRound(h, ALIGN), alignRound(w, ALIGN)];
}

/** transformers get_sliced_grid; [rows, cols] or null. */
function chooseGrid(w: number, h: number, maxSlices: number): [number, number] | null {
  const ratio = (w * h) / (SCALE_RESOLUTION * SCALE_RESOLUTION);
  const m = Math.min(Math.ceil(ratio), maxSlices);
  if (m <= 1) return null;
  const target = Math.log(w / h);
  let best: [number, number] | null = null;
  let bestErr = Infinity;
  for (const n of [m - 1, m, m + 1]) {
    if (n === 1 || n > maxSlices) continue;
    for (let cols = 1; cols <= n; cols++) {
      if (n % cols !== 0) continue;
      const rows = n / cols;
      const err = Math.abs(target - Math.log(cols / rows));
      if (err < bestErr) {
        best = [rows, cols];
        bestErr = err;
      }
    }
  }
  return best;
}

export function tileTokens(size: Size, mode: DownsampleMode): number {
  const t16 = (size.width / ALIGN) * (size.height / ALIGN);
  return mode === "16x" ? t16 : 4 * t16;
}

export function planImage(source: Size, options: PlanOptions = {}): ImagePlan {
  const mode = options.downsampleMode ?? "16x";
  const maxSliceNums = options.maxSliceNums ?? 9;
  if (mode !== "16x" && mode !== "4x") {
    throw new InvalidRequestError(
      `downsample_mode must be "16x" or "4x", got ${JSON.stringify(mode)}`,
      "downsample_mode",
    );
  }
  if (!Number.isInteger(maxSliceNums) || maxSliceNums < 1 || maxSliceNums > 64) {
    throw new InvalidRequestError("max_slice_nums must be an integer from 1 to 64", "max_slice_nums");
  }
  const { width: W, height: H } = source;
  if (!Number.isInteger(W) || !Number.isInteger(H) || W < 1 || H < 1) {
    throw new InvalidRequestError(`invalid image size ${W}x${H}`, "image");
  }

  const grid = chooseGrid(W, H, maxSliceNums);
  const [oh, ow] = fitSize(H, W, grid === null);
  const overview = { width: ow, height: oh, tokens: tileTokens({ width: ow, height: oh }, mode) };
  let refined: Size | null = null;
  let slice: (Size & { tokens: number }) | null = null;
  let imageTokens = overview.tokens;
  if (grid) {
    const [rows, cols] = grid;
    const rw = alignRound(W, cols);
    const rh = alignRound(H, rows);
    const [sh, sw] = fitSize(rh / rows, rw / cols, true);
    refined = { width: sw * cols, height: sh * rows };
    slice = { width: sw, height: sh, tokens: tileTokens({ width: sw, height: sh }, mode) };
    imageTokens += rows * cols * slice.tokens;
  }
  return {
    source: { width: W, height: H },
    mode,
    maxSliceNums,
    useImageId: options.useImageId ?? true,
    overview,
    grid: grid ? { rows: grid[0], cols: grid[1] } : null,
    refined,
    slice,
    imageTokens,
  };
}
