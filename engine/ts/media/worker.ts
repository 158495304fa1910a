/**
 * The media worker: decodes images and videos and cuts them into the vision encoder's tiles, so
 * pixels never cost the calling thread (the server's event loop, a page) or the inference worker
 * any time. Answers RPCs from connection.ts; client.ts runs a small pool of these. Images come in
 * as bytes and go out as tiles; videos stay open between calls by handle and hand out either
 * decoded frames or, for encoding, whole units as tiles (video-units.ts), so their frames never
 * leave the worker. Results are moved, not copied. The FFmpeg-subset wasm is loaded by the first
 * video; a trap inside it poisons this worker: it answers "decoder_crashed" from then on and the
 * connection starts a fresh one.
 */

import { VideoDecodeError } from "../errors.ts";
import { heapBytes, parentPort } from "../platform/index.ts";
import type { RpcRequest, RpcResponse } from "../rpc.ts";
import { transferables } from "../rpc.ts";
import { ffmpegMemoryBytes, loadFfmpeg } from "../video/decoder-module.ts";
import { type DecodedFrame, type OpenVideo, openVideo, type VideoInput, type VideoLimits } from "../video/decoder.ts";
import type { VideoUnit } from "../video/plan.ts";
import { decodeImage } from "../vision/decode.ts";
import { type ImagePlan, planImage, type PlanOptions } from "../vision/plan.ts";
import { imageTiles } from "../vision/preprocess.ts";
import type { Tile } from "../vision/vision-model.ts";
import { VideoUnitBuilder } from "./video-units.ts";

interface Session {
  video: OpenVideo;
  units?: VideoUnitBuilder;
}

const sessions = new Map<number, Session>();
let nextHandle = 1;
let videosOpened = 0;
let heapPeakBytes = 0;
let ffmpegDir: URL | undefined;
let crashed: string | undefined;

function session(handle: number): Session {
  const s = sessions.get(handle);
  if (!s) throw new VideoDecodeError("decode_failed", `no open video ${handle}`);
  return s;
}

/** What a media worker holds (`stats`): for tests of the open-once policy and bench/video-memory.ts. */
export interface MediaWorkerStats {
  /** videos opened since the worker started (each open reads the container and scans the frame table) */
  videosOpened: number;
  /** videos open now */
  videosOpen: number;
  /** the FFmpeg-subset wasm memory (0 before the first video); wasm memory never shrinks */
  ffmpegMemoryBytes: number;
  /** the JS heap + external (ArrayBuffers) of this worker now (0 where unknown) */
  heapBytes: number;
  /** the largest JS heap + external (ArrayBuffers) of this worker seen after a call, since the last reset (0 where unknown) */
  heapPeakBytes: number;
}

export interface ImageTileOptions {
  /** refuse images with more pixels (vision/decode.ts) */
  maxPixels?: number;
  plan?: PlanOptions;
  /** the vision model's normalisation */
  mean?: number[];
  std?: number[];
}

const methods = {
  /** videos load the decoder from `dir` (a URL) instead of the package's dist/ffmpeg/ */
  init(dir?: string) {
    ffmpegDir = dir ? new URL(dir) : undefined;
  },
  /** decodes an image, plans it (reference semantics) and cuts it into normalised tiles */
  async tileImage(bytes: Uint8Array, o: ImageTileOptions): Promise<{ plan: ImagePlan; tiles: Tile[] }> {
    const img = await decodeImage(bytes, { maxPixels: o.maxPixels });
    const plan = planImage({ width: img.width, height: img.height }, o.plan);
    return { plan, tiles: imageTiles(img, plan, o.mean, o.std) };
  },
  async open(input: VideoInput, limits?: VideoLimits) {
    await loadFfmpeg(ffmpegDir);
    const video = await openVideo(input, limits);
    videosOpened++;
    const handle = nextHandle++;
    sessions.set(handle, { video });
    return { handle, info: video.info };
  },
  decode(handle: number, index: number): DecodedFrame {
    return session(handle).video.decode(index);
  },
  /** from now on `nextUnit` builds these units of the open video */
  tileUnits(handle: number, units: VideoUnit[], mean?: number[], std?: number[]) {
    const s = session(handle);
    s.units = new VideoUnitBuilder(units, s.video.info.frameCount, (i) => s.video.decodeInPlace(i), mean, std);
  },
  nextUnit(handle: number) {
    const { units } = session(handle);
    if (!units) throw new VideoDecodeError("decode_failed", `no units to build for video ${handle}`);
    return units.nextUnit();
  },
  close(handle: number) {
    sessions.get(handle)?.video.close();
    sessions.delete(handle);
  },
  /** `resetPeak`: the heap peak starts over from the current heap after this answer */
  stats(resetPeak = false): MediaWorkerStats {
    const now = heapBytes();
    const stats = { videosOpened, videosOpen: sessions.size, ffmpegMemoryBytes: ffmpegMemoryBytes(), heapBytes: now };
    const peak = Math.max(heapPeakBytes, now);
    if (resetPeak) heapPeakBytes = now;
    return { ...stats, heapPeakBytes: peak };
  },
};

export type MediaWorkerMethods = typeof methods;

const port = await parentPort();
port.onMessage(async (msg) => {
  const { id, method, args } = msg as RpcRequest;
  let res: RpcResponse;
  try {
    if (crashed) throw new VideoDecodeError("decoder_crashed", `the video decoder crashed earlier (${crashed})`);
    const fn = (methods as Record<string, (...a: unknown[]) => unknown>)[method];
    if (!fn) throw new VideoDecodeError("decode_failed", `unknown media worker method ${method}`);
    res = { id, ok: true, value: await fn(...args) };
  } catch (e) {
    const err = e as Error & { code?: string; param?: string };
    if (e instanceof WebAssembly.RuntimeError) {
      crashed = err.message;
      const message = `the video decoder crashed: ${err.message}`;
      res = { id, ok: false, error: { name: "VideoDecodeError", message, code: "decoder_crashed" } };
    } else {
      const error = { name: err.name ?? "Error", message: err.message ?? String(e), code: err.code, param: err.param };
      res = { id, ok: false, error };
    }
  }
  heapPeakBytes = Math.max(heapPeakBytes, heapBytes());
  port.postMessage(res, "value" in res ? transferables(res.value) : []);
});
