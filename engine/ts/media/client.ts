/**
 * Images and videos decoded and cut into tiles off the calling thread: a small pool of media
 * workers (worker.ts), so a large upload never stalls the server's event loop (or a page) and two
 * uploads do not wait for one another. Workers start on first use; each job goes to the least
 * busy one, and a video stays on the worker that opened it. A crashed worker is replaced on the
 * next call (connection.ts). Tiles and frames are moved out of the workers, not copied.
 *
 * Memory of a long video: its bytes are shared with the worker (a SharedArrayBuffer), never
 * cloned into it, and a video `probe` opened stays open for the decode that follows (the same
 * bytes object or path, the same limits), so a question opens each video once: one container
 * read, one frame-table scan. At most PROBED_VIDEOS_KEPT such videos wait; older ones are closed.
 */

import { shareableBytes } from "../media-source.ts";
import { hardwareConcurrency, type Port } from "../platform/index.ts";
import type { DecodedFrame, VideoInfo, VideoInput, VideoLimits } from "../video/decoder.ts";
import { decodeOrder } from "../video/decoder.ts";
import type { VideoUnit } from "../video/plan.ts";
import type { ImagePlan } from "../vision/plan.ts";
import type { Tile } from "../vision/vision-model.ts";
import { MediaWorkerConnection } from "./connection.ts";
import type { UnitTiles } from "./video-units.ts";
import type { ImageTileOptions, MediaWorkerStats } from "./worker.ts";

export type { ImageTileOptions, MediaWorkerStats } from "./worker.ts";
export type { UnitTiles } from "./video-units.ts";

/** Two workers: two uploads decode side by side (bench/event-loop-gap.ts), few enough to leave cores to inference. */
export const DEFAULT_MEDIA_WORKERS = 2;

/** Probed videos kept open for their decode (a question probes, plans, then decodes; a few may interleave). */
export const PROBED_VIDEOS_KEPT = 2;

/** A video `probe` opened and left open for the decode that follows. */
interface ProbedVideo {
  input: VideoInput;
  limits: string;
  worker: MediaWorkerConnection;
  generation: Port | undefined;
  handle: number;
  info: VideoInfo;
}

export interface MediaDecoderOptions {
  /** directory holding ffmpeg.{mjs,wasm} (default: dist/ffmpeg of this package) */
  ffmpegDir?: string | URL;
  /** most workers (default DEFAULT_MEDIA_WORKERS, at most the cores) */
  workers?: number;
}

export class MediaDecoder {
  private readonly pool: MediaWorkerConnection[];
  /** oldest first */
  private probed: ProbedVideo[] = [];

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

  /**
   * Container metadata and the frame table (decoder.ts probeVideo), read in a worker. The video
   * stays open there for a decode of the same `input` (the same bytes object or path) with the
   * same limits, until that decode or until PROBED_VIDEOS_KEPT later probes.
   */
  async probe(input: VideoInput, limits?: VideoLimits): Promise<VideoInfo> {
    this.probed = this.probed.filter((p) => p.worker.generation === p.generation); // a crashed worker's are gone
    const known = this.probed.find((p) => p.input === input && p.limits === limitsKey(limits));
    if (known) return known.info;
    return await this.using(async (w) => {
      const { handle, info } = await w.call("video", "open", shareableBytes(input), limits);
      this.probed.push({ input, limits: limitsKey(limits), worker: w, generation: w.generation, handle, info });
      while (this.probed.length > PROBED_VIDEOS_KEPT) closeProbed(this.probed.shift()!);
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

  /** What each started worker holds and has done (MediaWorkerStats), for tests and benchmarks; `resetPeak` restarts the heap peaks. */
  stats(resetPeak = false): Promise<MediaWorkerStats[]> {
    return Promise.all(this.pool.filter((w) => w.generation).map((w) => w.call("video", "stats", resetPeak)));
  }

  /** Stops every worker; calls in flight fail. */
  terminate(): void {
    this.probed = [];
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

  /** The open video `probe` left for this input and limits (taken: the caller closes it), if its worker still runs. */
  private takeProbed(input: VideoInput, limits: VideoLimits | undefined): ProbedVideo | undefined {
    const at = this.probed.findIndex((p) => p.input === input && p.limits === limitsKey(limits));
    if (at < 0) return undefined;
    const [p] = this.probed.splice(at, 1);
    return p.worker.generation === p.generation ? p : undefined;
  }

  /** An open video on one worker (the one `probe` left it open on, if any) for as long as `body` runs, closed after it. */
  private async *session<T>(
    input: VideoInput,
    limits: VideoLimits | undefined,
    body: (w: MediaWorkerConnection, handle: number, info: VideoInfo) => AsyncGenerator<T>,
  ): AsyncGenerator<T> {
    const probed = this.takeProbed(input, limits);
    const w = probed?.worker ?? this.leastBusy();
    w.busy++;
    try {
      const { handle, info } = probed ?? await w.call("video", "open", shareableBytes(input), limits);
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

function limitsKey(limits: VideoLimits | undefined): string {
  return JSON.stringify(limits ?? {});
}

/** Closes a probed video nobody decoded (on a worker that still runs: a crashed one took it along). */
function closeProbed(p: ProbedVideo): void {
  if (p.worker.generation === p.generation) p.worker.call("video", "close", p.handle).catch(() => {});
}
