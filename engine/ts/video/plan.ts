/**
 * The MiniCPM-V 4.6 video plan with reference (transformers `MiniCPMV4_6VideoProcessor`) semantics:
 * which frames to decode, how sub-second frames are stacked into composites, the order of the visual
 * units and each unit's image plan (docs/input-pipeline.md, "Frame sampling", "Stacking"). Pure: no
 * I/O; the work is O(max_num_frames x stack_frames) whatever the metadata claims (a 10-hour video or a
 * header claiming 10^9 frames plans as fast as a 10 s clip), so callers see the token cost before
 * decoding.
 *
 * Float semantics, replicated on purpose (the reference's truncations decide which frame is picked):
 * - frame index = trunc(t * fps) in float64 (1 + 2/3 s at 30 fps is frame 49, not 50);
 * - the long-video grid is `round(i * 0.1, 1)` for i < int(duration / 0.1). CPython rounds the exact
 *   binary value of i * 0.1 to one decimal and parses that decimal back, which is the double nearest
 *   to i / 10: i * 0.1 stays within a few ulps of i / 10, far from a rounding tie (x.x5). JavaScript's
 *   `i / 10` is that double too (IEEE division is correctly rounded), so grid point i is `i / 10`;
 * - `np.linspace(0, n - 1, m, dtype=int)` is `floor(k * step)` with step = (n - 1) / (m - 1) in float64
 *   (numpy multiplies arange by step, never k * (n - 1) / (m - 1)), the last value is exactly n - 1, and
 *   m = 1 gives [0];
 * - sub-frame times are `sec + j / stack_frames` and are kept while `< duration`.
 * Nothing is materialised per grid point: the 10 Hz grid and the list of sub-frame times are indexed
 * arithmetically (the kept sub-frame times are a prefix of the (sec, j) sequence, since only the last
 * second can fall short of the duration).
 *
 * Deviations from the reference, both for inputs where it breaks: main frames of short videos are
 * clamped to frameCount - 1 like every other index (the reference leaves `int(i * fps)` unclamped and its
 * loaders then fail or silently drop the frame when the duration overshoots the frame table), and
 * sub-frames the reference decodes but never uses (long videos with stacking: composites of seconds
 * beyond the last main frame are not paired) are left out of `decodeFrames`.
 */

import { InvalidRequestError } from "../errors.ts";
import { type DownsampleMode, type ImagePlan, planImage, type PlanOptions, type Size } from "../vision/plan.ts";

/** Container metadata the plan needs. */
export interface VideoMeta {
  /**
   * Seconds. transformers' PyAV, decord and OpenCV loaders use frameCount / fps here (its torchcodec
   * loader takes the stream duration); whichever the caller picks decides the frames.
   */
  durationSeconds: number;
  /** average frame rate as libavformat reports it (avg_frame_rate num / den, as a float64) */
  fps: number;
  /** frames in the video stream, from the packet table; frame numbers are 0-based, presentation order */
  frameCount: number;
  /** decoded frame size */
  width: number;
  height: number;
}

export interface VideoPlanOptions extends PlanOptions {
  /** most main frames (default 128); longer videos sample the 10 Hz grid down to this many */
  maxNumFrames?: number;
  /** 1 (default) = no stacking; N > 1 adds N - 1 sub-frames per second, stacked into one composite */
  stackFrames?: number;
  // PlanOptions for video: downsampleMode "16x", maxSliceNums 1, useImageId false by default
}

/** One visual unit: a main frame, or the composite of one second's sub-frames. */
export interface VideoUnit {
  kind: "frame" | "composite";
  /** frame: its position among the main frames; composite: the second whose sub-frames it stacks */
  index: number;
  /** frame numbers pasted into this unit, row-major (one for a main frame) */
  frames: number[];
  /** frames per column / row on the canvas ({1, 1} for a main frame) */
  grid: { rows: number; cols: number };
  /** the unit's pixel size: the frame, or cols*W + (cols-1)*6 by rows*H + (rows-1)*6 for a composite */
  size: Size;
  /** the unit as an image (useImageId false: a video's id prefix is written once, not per unit) */
  image: ImagePlan;
}

export interface VideoPlan {
  meta: VideoMeta;
  maxNumFrames: number;
  stackFrames: number;
  mode: DownsampleMode;
  maxSliceNums: number;
  /** prefix <image_id>v</image_id> once before the video's units */
  useImageId: boolean;
  /** duration > maxNumFrames: main frames come from the 10 Hz grid instead of whole seconds */
  long: boolean;
  /** every frame number some unit uses, ascending, each once: what to ask the decoder for */
  decodeFrames: number[];
  /** main_0, composite_0, main_1, composite_1, ... (seconds without sub-frames have no composite) */
  units: VideoUnit[];
  /** embedding positions of all units (markup tokens excluded) */
  videoTokens: number;
  /** markup tokens of the units: <image></image> per unit, <slice></slice> per slice, "\n" between
   * slice rows; the optional <image_id>v</image_id> prefix is not counted (it depends on v) */
  markupTokens: number;
}

export const DEFAULT_MAX_NUM_FRAMES = 128;
export const DEFAULT_STACK_FRAMES = 1;
/** Video defaults of the reference scripts, unlike the image defaults (9, true). */
export const VIDEO_MAX_SLICE_NUMS = 1;
export const VIDEO_USE_IMAGE_ID = false;
/** Our bounds (the reference has none): ~66 tokens a unit already overflows any context past this. */
export const MAX_NUM_FRAMES_LIMIT = 1024;
/** Our bound: a group of N - 1 >= 5 sub-frames is pasted in one row, so large N makes huge canvases. */
export const MAX_STACK_FRAMES = 8;
/** Our bound on the duration, far past any real video; keeps every time and index exact in float64. */
export const MAX_DURATION_SECONDS = 1e9;
/** Our bound on a frame side (the decoder applies its own pixel limit). */
export const MAX_FRAME_SIDE = 65536;
/** Black separator between the frames of a composite, pixels (reference `concat_frames_as_image`). */
export const COMPOSITE_SEPARATOR = 6;

/** Rows x cols of a composite of `count` frames of W x H (reference `concat_frames_as_image`). */
export function compositeGrid(count: number, width: number, height: number): { rows: number; cols: number } {
  const ratioError = (rows: number, cols: number) => {
    const canvas = compositeSize(rows, cols, width, height);
    return Math.abs(canvas.width / Math.max(1, canvas.height) - 1);
  };
  if (count === 4) return { rows: 2, cols: 2 };
  if (count === 3) {
    // np.argmin: the first candidate wins a tie
    return ratioError(3, 1) < ratioError(1, 3) ? { rows: 3, cols: 1 } : { rows: 1, cols: 3 };
  }
  if (count === 2) {
    const oneRow = ratioError(1, 2);
    const oneCol = ratioError(2, 1);
    if (oneRow === oneCol) return width / height >= 1 ? { rows: 1, cols: 2 } : { rows: 2, cols: 1 };
    return oneCol < oneRow ? { rows: 2, cols: 1 } : { rows: 1, cols: 2 };
  }
  return { rows: 1, cols: count };
}

/** Canvas of rows x cols frames with the 6-pixel separators. */
export function compositeSize(rows: number, cols: number, width: number, height: number): Size {
  return {
    width: cols * width + (cols - 1) * COMPOSITE_SEPARATOR,
    height: rows * height + (rows - 1) * COMPOSITE_SEPARATOR,
  };
}

/** Element k of `np.linspace(0, n - 1, m, dtype=int)` (n >= 1, m >= 1, 0 <= k < m). */
function linspaceTrunc(k: number, n: number, m: number): number {
  if (m === 1) return 0;
  if (k === m - 1) return n - 1;
  return Math.floor(k * ((n - 1) / (m - 1)));
}

function checkMeta(meta: VideoMeta): void {
  const { durationSeconds: d, fps, frameCount, width, height } = meta;
  if (typeof d !== "number" || !Number.isFinite(d) || d <= 0 || d > MAX_DURATION_SECONDS) {
    throw new InvalidRequestError(
      `video duration must be a finite number of seconds above 0 and at most ${MAX_DURATION_SECONDS}, got ${d}`,
      "video",
    );
  }
  if (typeof fps !== "number" || !Number.isFinite(fps) || fps <= 0) {
    throw new InvalidRequestError(`video frame rate must be finite and above 0, got ${fps}`, "video");
  }
  if (!Number.isSafeInteger(frameCount) || frameCount < 1) {
    throw new InvalidRequestError(`video frame count must be an integer of at least 1, got ${frameCount}`, "video");
  }
  for (const [name, side] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(side) || side < 1 || side > MAX_FRAME_SIDE) {
      const message = `video ${name} must be an integer from 1 to ${MAX_FRAME_SIDE}, got ${side}`;
      throw new InvalidRequestError(message, "video");
    }
  }
}

function checkCount(value: number, max: number, param: string): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidRequestError(`${param} must be an integer from 1 to ${max}, got ${value}`, param);
  }
  return value;
}

/** Main frame numbers, one per main unit. */
function mainFrames(meta: VideoMeta, maxNumFrames: number, long: boolean): number[] {
  const { durationSeconds: d, fps, frameCount } = meta;
  const last = frameCount - 1;
  const out: number[] = [];
  if (long) {
    const gridPoints = Math.trunc(d / 0.1); // Python int(duration / 0.1)
    const picks = Math.min(gridPoints, maxNumFrames);
    for (let k = 0; k < picks; k++) {
      const g = gridPoints > maxNumFrames ? linspaceTrunc(k, gridPoints, maxNumFrames) : k;
      out.push(Math.min(Math.trunc((g / 10) * fps), last));
    }
  } else {
    const seconds = Math.ceil(d);
    for (let i = 0; i < seconds; i++) out.push(Math.min(Math.trunc(i * fps), last)); // clamp: our addition
  }
  return out;
}

/** Sub-frames grouped by second, for the seconds below `seconds` only. */
function subFrameGroups(meta: VideoMeta, maxNumFrames: number, stackFrames: number, seconds: number): number[][] {
  const groups: number[][] = Array.from({ length: seconds }, () => []);
  if (stackFrames <= 1) return groups;
  const { durationSeconds: d, fps, frameCount } = meta;
  const perSecond = stackFrames - 1;
  const lastSecond = Math.ceil(d) - 1;
  // Every second before the last is whole (sec + j/N < sec + 1 <= ceil(d) - 1 < d); the last one keeps
  // the sub-times below the duration, and the kept times form a prefix of the (sec, j) sequence.
  let inLast = 0;
  while (inLast < perSecond && lastSecond + (inLast + 1) / stackFrames < d) inLast++;
  const total = lastSecond * perSecond + inLast;
  const cap = maxNumFrames * perSecond;
  const picks = Math.min(total, cap);
  for (let k = 0; k < picks; k++) {
    const p = total > cap ? linspaceTrunc(k, total, cap) : k;
    const sec = Math.floor(p / perSecond);
    if (sec >= seconds) break; // positions ascend: the rest pair with no main frame
    const t = sec + ((p % perSecond) + 1) / stackFrames;
    groups[sec].push(Math.min(Math.trunc(t * fps), frameCount - 1));
  }
  return groups;
}

/** Tokens of the unit's markup: <image></image>, <slice></slice> per slice, "\n" between slice rows. */
function unitMarkupTokens(plan: ImagePlan): number {
  return plan.grid ? 2 + 2 * plan.grid.rows * plan.grid.cols + (plan.grid.rows - 1) : 2;
}

/** The video's frames, units and token cost, before anything is decoded. */
export function planVideo(meta: VideoMeta, options: VideoPlanOptions = {}): VideoPlan {
  checkMeta(meta);
  const maxNumFrames = checkCount(
    options.maxNumFrames ?? DEFAULT_MAX_NUM_FRAMES,
    MAX_NUM_FRAMES_LIMIT,
    "max_num_frames",
  );
  const stackFrames = checkCount(options.stackFrames ?? DEFAULT_STACK_FRAMES, MAX_STACK_FRAMES, "stack_frames");
  const useImageId = options.useImageId ?? VIDEO_USE_IMAGE_ID;
  const imageOptions: PlanOptions = {
    downsampleMode: options.downsampleMode ?? "16x",
    maxSliceNums: options.maxSliceNums ?? VIDEO_MAX_SLICE_NUMS,
    useImageId: false,
  };
  const { width: W, height: H } = meta;

  const long = meta.durationSeconds > maxNumFrames;
  const mains = mainFrames(meta, maxNumFrames, long);
  const groups = subFrameGroups(meta, maxNumFrames, stackFrames, mains.length);

  const framePlan = planImage({ width: W, height: H }, imageOptions); // validates the image options
  type Composite = Pick<VideoUnit, "grid" | "size" | "image">;
  const composites = new Map<number, Composite>(); // by frame count: one layout and plan per count
  const compositeFor = (count: number): Composite => {
    let c = composites.get(count);
    if (!c) {
      const grid = compositeGrid(count, W, H);
      const size = compositeSize(grid.rows, grid.cols, W, H);
      c = { grid, size, image: planImage(size, imageOptions) };
      composites.set(count, c);
    }
    return c;
  };
  const units: VideoUnit[] = [];
  for (const [i, frame] of mains.entries()) {
    const grid = { rows: 1, cols: 1 };
    units.push({ kind: "frame", index: i, frames: [frame], grid, size: { width: W, height: H }, image: framePlan });
    if (!groups[i].length) continue;
    const { grid: g, size, image } = compositeFor(groups[i].length);
    units.push({ kind: "composite", index: i, frames: groups[i], grid: { ...g }, size: { ...size }, image });
  }

  const decodeFrames = [...new Set(units.flatMap((u) => u.frames))].sort((a, b) => a - b);
  return {
    meta: { ...meta },
    maxNumFrames,
    stackFrames,
    mode: imageOptions.downsampleMode!,
    maxSliceNums: imageOptions.maxSliceNums!,
    useImageId,
    long,
    decodeFrames,
    units,
    videoTokens: units.reduce((n, u) => n + u.image.imageTokens, 0),
    markupTokens: units.reduce((n, u) => n + unitMarkupTokens(u.image), 0),
  };
}
