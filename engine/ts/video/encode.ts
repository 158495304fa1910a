/**
 * The embeddings of one video's units, in prompt order: each unit (a main frame or a composite) is
 * built from its decoded frames, cut into tiles like an image and encoded by the vision model.
 * Tiles come from the encode cache when that content was encoded before, so a second question
 * about the same video decodes and encodes nothing. Frames are decoded in increasing order in
 * the decoder's own worker, one ahead of the encoder, and a frame is dropped as soon as every
 * unit that uses it is encoded: memory holds the frames of unfinished units only.
 */

import { VideoDecodeError } from "../errors.ts";
import type { EncodeCache } from "../vision/encode-cache.ts";
import { tileKey } from "../vision/encode-cache.ts";
import { imageTiles } from "../vision/preprocess.ts";
import type { RgbImage } from "../vision/resize.ts";
import type { VisionModel } from "../vision/vision-model.ts";
import { unitImage } from "./composite.ts";
import type { VideoDecoder } from "./decoder-client.ts";
import type { VideoLimits } from "./decoder.ts";
import type { VideoPlan, VideoUnit } from "./plan.ts";

export interface VideoEncodeStats {
  framesDecoded: number;
  tilesCached: number;
  tilesEncoded: number;
  /** time spent waiting for decoded frames (decoding overlaps encoding otherwise) */
  decodeMs: number;
}

export interface VideoEncodeInput {
  bytes: Uint8Array;
  /** content hash of the bytes (encode-cache key) */
  hash: string;
  plan: VideoPlan;
  decoder: VideoDecoder;
  vision: VisionModel;
  cache: EncodeCache;
  limits?: VideoLimits;
}

/** Tile embeddings of every unit, flattened in prompt order (unit by unit, overview then slices). */
export async function encodeVideo(v: VideoEncodeInput, stats: VideoEncodeStats): Promise<Float32Array[]> {
  const { plan, vision, cache } = v;
  const unitContent = (u: VideoUnit) => `${v.hash}#${u.frames.join(",")}`;
  const tileCount = (u: VideoUnit) => 1 + (u.image.grid ? u.image.grid.rows * u.image.grid.cols : 0);
  const out: (Float32Array | undefined)[][] = plan.units.map((u) =>
    Array.from({ length: tileCount(u) }, (_, t) => cache.get(tileKey(unitContent(u), u.image, t, vision.info.file)))
  );
  const todo = plan.units.map((_, k) => k).filter((k) => out[k].some((e) => !e));
  stats.tilesCached += out.flat().filter(Boolean).length;
  if (todo.length === 0) return out.flat() as Float32Array[];

  // frame -> the unfinished units that use it; a unit is encoded as soon as its last frame arrives
  const users = new Map<number, number[]>();
  for (const k of todo) for (const f of plan.units[k].frames) users.set(f, [...(users.get(f) ?? []), k]);
  const frames = new Map<number, RgbImage>();
  const encodeUnit = async (k: number) => {
    const unit = plan.units[k];
    const tiles = imageTiles(unitImage(unit, frames), unit.image, vision.info.imageMean, vision.info.imageStd);
    for (const [t, tile] of tiles.entries()) {
      if (out[k][t]) continue;
      const data = await vision.encodeTile(tile, unit.image.mode);
      cache.set(tileKey(unitContent(unit), unit.image, t, vision.info.file), data);
      out[k][t] = data;
      stats.tilesEncoded++;
    }
  };
  const onFrame = async (f: number) => {
    for (const k of users.get(f)!) {
      if (plan.units[k].frames.every((g) => frames.has(g))) await encodeUnit(k);
    }
    // frames whose units are all encoded are dropped (a unit's frames all precede its last one)
    for (const g of [...frames.keys()]) {
      if (users.get(g)!.every((k) => out[k].every(Boolean))) frames.delete(g);
    }
  };

  const it = v.decoder.decodeFrames(v.bytes, users.keys(), v.limits)[Symbol.asyncIterator]();
  let pending = it.next();
  try {
    while (true) {
      const t0 = performance.now();
      const r = await pending;
      stats.decodeMs += performance.now() - t0;
      if (r.done) break;
      pending = it.next(); // the decoder works on the next frame while this one is encoded
      const { index, width, height, rgb } = r.value;
      frames.set(index, { width, height, data: rgb });
      stats.framesDecoded++;
      await onFrame(index);
    }
  } finally {
    await pending.catch(() => {});
    await it.return?.(undefined);
  }
  const missing = plan.units.findIndex((_, k) => !out[k].every(Boolean));
  if (missing >= 0) {
    throw new VideoDecodeError(
      "decode_failed",
      `frames ${plan.units[missing].frames.join(", ")} of the video were not decoded`,
    );
  }
  return out.flat() as Float32Array[];
}
