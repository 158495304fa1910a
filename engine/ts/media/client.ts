/**
 * Images and videos decoded and cut into tiles off the calling thread: a small pool of media
 * workers (worker.ts), so a large upload never stalls the server's event loop (or a page) and two
 * uploads do not wait for one another. Workers start on first use; each job goes to the least
 * busy one, and a video stays on the worker that opened it. A crashed worker is replaced on the
 * next call (connection.ts). Tiles and frames are moved out of the workers, not copied.
 */

import { hardwareConcurrency } from "../platform/index.ts";
import type { DecodedFrame, VideoInfo, VideoInput, VideoLimits } from "../video/decoder.ts";
import { decodeOrder } from "../video/decoder.ts";
import type { VideoUnit } from "../video/plan.ts";
import type { ImagePlan } from "../vision/plan.ts";
import type { Tile } from "../vision/vision-model.ts";
import { MediaWorkerConnection } from "./connection.ts";
import type { UnitTiles } from "./video-units.ts";
import type { ImageTileOptions } from "./worker.ts";

export type { ImageTileOptions } from "./worker.ts";
export type { UnitTiles } from "./video-units.ts";

/** Two workers: two uploads decode side by side (bench/event-loop-gap.ts), few enough to leave cores to inference. */
export const DEFAULT_MEDIA_WORKERS = 2;

export interface MediaDecoderOptions {
  /** directory holding ffmpeg.{mjs,wasm} (default: dist/ffmpeg of this package) */
  ffmpegDir?: string | URL;
  /** most workers (default DEFAULT_MEDIA_WORKERS, at most the cores) */
  workers?: number;
}

export class MediaDecoder {
  private readonly pool: MediaWorkerConnection[];

  private constructor(ffmpegDir: string | undefined, workers: number) {
    this.pool = Array.from({ length: workers }, () => new MediaWorkerConnection(ffmpegDir));
  }

  /** A pool whose workers start on first use (the video decoder loads with the first video). */
  static create(options: MediaDecoderOptions = {}): MediaDecoder {
    const dir = options.ffmpegDir === undefined ? undefined : new URL(options.ffmpegDir, import.meta.url);
    if (dir && !dir.href.endsWith("/")) dir.href += "/";
    const workers = options.workers ?? Math.min(DEFAULT_MEDIA_WORKERS, hardwareConcurrency());
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError("workers must be a positive integer");
    return new MediaDecoder(dir?.href, workers);
  }

  /**
   * Decodes an image (vision/decode.ts), plans it with `plan` (vision/plan.ts) and cuts it into
   * normalised tiles in embedding order (vision/preprocess.ts), in a worker.
   */
  tileImage(bytes: Uint8Array, options: ImageTileOptions = {}): Promise<{ plan: ImagePlan; tiles: Tile[] }> {
    return this.using((w) => w.call("image", "tileImage", bytes, options));
  }

  /** Container metadata and the frame table (decoder.ts probeVideo), read in a worker. */
  probe(input: VideoInput, limits?: VideoLimits): Promise<VideoInfo> {
    return this.using(async (w) => {
      const { handle, info } = await w.call("video", "open", input, limits);
      await w.call("video", "close", handle);
      return info;
    });
  }

  /**
   * The given frames (presentation order numbers, any order, repeats allowed), each distinct one
   * once, in increasing order, as RGB24 (decoder.ts decodeFrames). `onInfo` sees the metadata
   * before the first frame is decoded.
   */
  decodeFrames(
    input: VideoInput,
    indices: Iterable<number>,
    limits?: VideoLimits,
    onInfo?: (info: VideoInfo) => void,
  ): AsyncGenerator<DecodedFrame> {
    const wanted = [...indices];
    return this.session(input, limits, async function* (w, handle, info) {
      onInfo?.(info);
      for (const index of decodeOrder(wanted, info.frameCount)) yield await w.call("video", "decode", handle, index);
    });
  }

  /**
   * The tiles of each of `units` (a video plan's units, any subset), built in the worker from
   * frames that never leave it (video-units.ts), in the order their last frames are decoded.
   */
  videoUnitTiles(
    input: VideoInput,
    units: VideoUnit[],
    limits?: VideoLimits,
    mean?: number[],
    std?: number[],
  ): AsyncGenerator<UnitTiles> {
    return this.session(input, limits, async function* (w, handle) {
      await w.call("video", "tileUnits", handle, units, mean, std);
      for (let u; (u = await w.call("video", "nextUnit", handle));) yield u;
    });
  }

  /** Stops every worker; calls in flight fail. */
  terminate(): void {
    for (const w of this.pool) w.terminate();
  }

  /** The worker with the fewest jobs (the first on a tie: the others start only when needed). */
  private leastBusy(): MediaWorkerConnection {
    return this.pool.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  /** Runs `job` on the least busy worker. */
  private async using<T>(job: (w: MediaWorkerConnection) => Promise<T>): Promise<T> {
    const w = this.leastBusy();
    w.busy++;
    try {
      return await job(w);
    } finally {
      w.busy--;
    }
  }

  /** An open video on one worker for as long as `body` runs, closed after it. */
  private async *session<T>(
    input: VideoInput,
    limits: VideoLimits | undefined,
    body: (w: MediaWorkerConnection, handle: number, info: VideoInfo) => AsyncGenerator<T>,
  ): AsyncGenerator<T> {
    const w = this.leastBusy();
    w.busy++;
    try {
      const { handle, info } = await w.call("video", "open", input, limits);
      const worker = w.generation;
      try {
        yield* body(w, handle, info);
      } finally {
        // a crashed worker is gone, and its videos with it
        if (w.generation === worker) await w.call("video", "close", handle).catch(() => {});
      }
    } finally {
      w.busy--;
    }
  }
}
