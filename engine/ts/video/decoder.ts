/**
 * Video decoding on the current thread with our FFmpeg-subset WASM (decoder-module.ts): container
 * metadata and the frame table (`probeVideo`), then selected frames as RGB24, one at a time
 * (`decodeFrames`, `openVideo`). Decoding blocks the thread, so callers use it from a worker:
 * media/worker.ts runs it there and media/client.ts is the asynchronous client. Policy lives
 * here, not in the C shim: the limits, which errors mean what, the order frames come out in.
 */

import { InvalidRequestError, VideoDecodeError, type VideoDecodeErrorCode } from "../errors.ts";
import { openSyncReader } from "../platform/index.ts";
import {
  bytesReader,
  type FfmpegModule,
  loadFfmpeg,
  type Ptr,
  registerReader,
  SHIM_ERROR,
  type VideoReader,
} from "./decoder-module.ts";

/** A video: its bytes, a Blob/File, or a local path (Deno, Bun, Node.js). */
export type VideoInput = Uint8Array | Blob | string;

/** What the container and the frame table say; durationSeconds, fps, frameCount, width, height feed planVideo. */
export interface VideoInfo {
  /**
   * seconds, as libavformat computes it for the container (PyAV's `container.duration`); from the
   * frame table when the container has none
   */
  durationSeconds: number;
  /** the video stream's own duration in seconds, or null when the container has none */
  streamDurationSeconds: number | null;
  /** `avg_frame_rate` (PyAV's `stream.average_rate`) as a float64 */
  fps: number;
  fpsRational: { num: number; den: number };
  /** video packets read from the container: frames 0 .. frameCount-1 in presentation order */
  frameCount: number;
  keyframeCount: number;
  /** coded frame size of the stream */
  width: number;
  height: number;
  /** FFmpeg's codec name: "h264", "hevc", "vp8", "vp9" */
  codec: string;
  /** libavformat's demuxer name ("mov,mp4,m4a,3gp,3g2,mj2" or "matroska,webm") */
  container: string;
}

export interface DecodedFrame {
  /** frame number, presentation order */
  index: number;
  width: number;
  height: number;
  /** width * height * 3 bytes, rows top to bottom, R G B */
  rgb: Uint8Array;
}

export interface VideoLimits {
  /** largest frame, in pixels (default 4096 * 4096); checked on the header and on every decoded frame */
  maxPixels?: number;
  /** longest video, in seconds (default 12 hours) */
  maxDurationSeconds?: number;
  /** most frames in the frame table (default 2,000,000; bounds its memory, 24 bytes a frame) */
  maxFrames?: number;
}

export const DEFAULT_VIDEO_LIMITS: Required<VideoLimits> = {
  maxPixels: 4096 * 4096,
  maxDurationSeconds: 12 * 3600,
  maxFrames: 2_000_000,
};

/** An open video: metadata known, frames decoded on request. */
export interface OpenVideo {
  readonly info: VideoInfo;
  /** decodes one frame; cheapest in increasing index order (the decoder seeks only when that saves work) */
  decode(index: number): DecodedFrame;
  /**
   * decodes one frame like `decode`, but its `rgb` is the decoder's own buffer, not a copy: valid
   * until the next decode or close (a frame used at once costs no allocation)
   */
  decodeInPlace(index: number): DecodedFrame;
  /** how often the decoder has seeked so far (diagnostics: the seeking policy) */
  seeks(): number;
  close(): void;
}

/** Container metadata and the frame table of a video (scans every video packet, decodes none). */
export async function probeVideo(input: VideoInput, limits: VideoLimits = {}): Promise<VideoInfo> {
  const video = await openVideo(input, limits);
  video.close();
  return video.info;
}

/**
 * Decodes the given frames (numbers in presentation order, any order, repeats allowed) and yields
 * each distinct one once, in increasing order, as RGB24. Only the frame being handed out is held.
 */
export async function* decodeFrames(
  input: VideoInput,
  indices: Iterable<number>,
  limits: VideoLimits = {},
): AsyncGenerator<DecodedFrame> {
  const video = await openVideo(input, limits);
  try {
    for (const index of decodeOrder(indices, video.info.frameCount)) yield video.decode(index);
  } finally {
    video.close();
  }
}

/** The distinct frame numbers in increasing order, each checked against the frame count. */
export function decodeOrder(indices: Iterable<number>, frameCount: number): number[] {
  const order = [...new Set(indices)].sort((a, b) => a - b);
  for (const i of order) {
    if (!Number.isInteger(i) || i < 0 || i >= frameCount) {
      throw new InvalidRequestError(`frame ${i} is not in the video (${frameCount} frames)`, "frames");
    }
  }
  return order;
}

/** Opens a video and reads its frame table; call close() when done (decode() keeps it open). */
export async function openVideo(input: VideoInput, limits: VideoLimits = {}): Promise<OpenVideo> {
  const lim = { ...DEFAULT_VIDEO_LIMITS, ...limits };
  for (const [name, value] of Object.entries(lim)) {
    if (!(value > 0)) throw new InvalidRequestError(`${name} must be positive`, name);
  }
  const m = await loadFfmpeg();
  const { reader, close: closeReader } = await readerOf(input);
  if (reader.size === 0) {
    closeReader();
    throw new VideoDecodeError("not_a_video", "not a video: the file is empty");
  }
  const { source, release } = registerReader(reader);
  const v = m._mce_video_open(source, reader.size, Math.min(lim.maxPixels, 2 ** 31));
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    if (v) m._mce_video_close(v);
    release();
    closeReader();
  };
  try {
    if (!v) throw shimError(m);
    // before the scan: a long video is refused without reading its packets
    const headerSeconds = m._mce_video_duration(v);
    if (headerSeconds > lim.maxDurationSeconds) throw tooLong(headerSeconds, lim.maxDurationSeconds);
    if (m._mce_video_scan(v, Math.min(lim.maxFrames, 2 ** 31 - 1)) < 0) throw shimError(m);
    const info = readInfo(m, v);
    if (m._mce_video_truncated(v)) {
      const detail = m.UTF8ToString(m._mce_video_error_detail());
      throw new VideoDecodeError(
        "truncated",
        `the video is truncated or damaged${detail ? ` (${detail})` : ""}: ` +
          `${info.frameCount} frames could be read`,
      );
    }
    if (info.frameCount === 0) throw new VideoDecodeError("empty", "the video stream has no frames");
    if (info.durationSeconds > lim.maxDurationSeconds) throw tooLong(info.durationSeconds, lim.maxDurationSeconds);
    if (!(info.fps > 0) || !Number.isFinite(info.fps)) {
      const { num, den } = info.fpsRational;
      throw new VideoDecodeError("bad_metadata", `the video declares no usable frame rate (${num}/${den})`);
    }
    if (!(info.durationSeconds > 0)) throw new VideoDecodeError("bad_metadata", "the video has no duration");
    const decodeInPlace = (index: number): DecodedFrame => {
      if (closed) throw new InvalidRequestError("the video is closed");
      decodeOrder([index], info.frameCount);
      if (m._mce_video_decode(v, index) < 0) throw shimError(m);
      const width = m._mce_video_rgb_width(v), height = m._mce_video_rgb_height(v);
      const at = m._mce_video_rgb(v) >>> 0;
      return { index, width, height, rgb: m.HEAPU8.subarray(at, at + width * height * 3) };
    };
    return {
      info,
      decode(index) {
        const frame = decodeInPlace(index);
        return { ...frame, rgb: frame.rgb.slice() };
      },
      decodeInPlace,
      seeks: () => (closed ? 0 : m._mce_video_seek_count(v)),
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}

function readInfo(m: FfmpegModule, v: Ptr): VideoInfo {
  const num = m._mce_video_fps_num(v), den = m._mce_video_fps_den(v);
  const duration = m._mce_video_duration(v), streamDuration = m._mce_video_stream_duration(v);
  return {
    durationSeconds: duration > 0 ? duration : m._mce_video_scanned_duration(v),
    streamDurationSeconds: streamDuration > 0 ? streamDuration : null,
    fps: den > 0 ? num / den : 0,
    fpsRational: { num, den },
    frameCount: m._mce_video_frame_count(v),
    keyframeCount: m._mce_video_keyframe_count(v),
    width: m._mce_video_width(v),
    height: m._mce_video_height(v),
    codec: m.UTF8ToString(m._mce_video_codec(v)),
    container: m.UTF8ToString(m._mce_video_container(v)),
  };
}

function shimError(m: FfmpegModule): Error {
  const code = m._mce_video_error_code();
  const message = m.UTF8ToString(m._mce_video_error_message()) || "video decoding failed";
  const detail = m.UTF8ToString(m._mce_video_error_detail());
  const full = detail && code !== 3 && code !== 2 ? `${message} (${detail})` : message;
  const name = SHIM_ERROR[code as keyof typeof SHIM_ERROR];
  if (name === "bad_argument" || !name) return new InvalidRequestError(full, "frames");
  return new VideoDecodeError(name as VideoDecodeErrorCode, full);
}

function tooLong(seconds: number, max: number): VideoDecodeError {
  return new VideoDecodeError("too_long", `the video is ${seconds.toFixed(1)} s long; the limit is ${max} s`);
}

async function readerOf(input: VideoInput): Promise<{ reader: VideoReader; close: () => void }> {
  if (input instanceof Uint8Array) return { reader: bytesReader(input), close() {} };
  if (typeof input === "string") {
    const r = await openSyncReader(input).catch((e) => {
      throw new InvalidRequestError(`cannot read the video ${input}: ${(e as Error).message}`, "video");
    });
    return { reader: r, close: () => r.close() };
  }
  if (typeof (globalThis as { FileReaderSync?: unknown }).FileReaderSync === "function") {
    const r = await openSyncReader(input); // a Blob, read in slices (browser workers)
    return { reader: r, close: () => r.close() };
  }
  return { reader: bytesReader(new Uint8Array(await input.arrayBuffer())), close() {} }; // a Blob elsewhere
}
