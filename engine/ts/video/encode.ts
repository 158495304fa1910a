/**
 * The embeddings of one video's units, in prompt order: each unit (a main frame or a composite) is
 * built from its decoded frames, cut into tiles like an image and encoded by the vision model.
 * Tiles come from the encode cache when that content was encoded before, so a second question
 * about the same video decodes and encodes nothing. Decoding, building the units and cutting the
 * tiles happen in a media worker (media/video-units.ts), where the frames stay; units arrive as
 * tiles as soon as their last frame is decoded, one ahead of the encoder.
 */

import { throwIfAborted, VideoDecodeError } from "../errors.ts";
import type { MediaDecoder } from "../media/client.ts";
import type { EncodeCache } from "../vision/encode-cache.ts";
import { tileKey } from "../vision/encode-cache.ts";
import type { VisionModel } from "../vision/vision-model.ts";
import type { VideoLimits } from "./decoder.ts";
import type { VideoPlan, VideoUnit } from "./plan.ts";

export interface VideoEncodeStats {
  framesDecoded: number;
  tilesCached: number;
  tilesEncoded: number;
  /** time spent waiting for the media worker's units (decoding and tiling overlap encoding otherwise) */
  decodeMs: number;
}

export interface VideoEncodeInput {
  bytes: Uint8Array;
  /** content hash of the bytes (encode-cache key) */
  hash: string;
  plan: VideoPlan;
  media: MediaDecoder;
  vision: VisionModel;
  cache: EncodeCache;
  limits?: VideoLimits;
  /** stops between tile encodes (AbortError) */
  signal?: AbortSignal;
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

  const units = v.media.videoUnitTiles(
    v.bytes,
    todo.map((k) => plan.units[k]),
    v.limits,
    vision.info.imageMean,
    vision.info.imageStd,
  );
  const it = units[Symbol.asyncIterator]();
  let pending = it.next();
  try {
    while (true) {
      const t0 = performance.now();
      const r = await pending;
      stats.decodeMs += performance.now() - t0;
      if (r.done) break;
      pending = it.next(); // the worker builds the next unit while this one is encoded
      const k = todo[r.value.unit];
      const unit = plan.units[k];
      stats.framesDecoded += r.value.framesDecoded;
      for (const [t, tile] of r.value.tiles.entries()) {
        if (out[k][t]) continue;
        throwIfAborted(v.signal);
        const data = await vision.encodeTile(tile, unit.image.mode);
        cache.set(tileKey(unitContent(unit), unit.image, t, vision.info.file), data);
        out[k][t] = data;
        stats.tilesEncoded++;
      }
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
