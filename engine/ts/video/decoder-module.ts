/**
 * Loads the FFmpeg-subset video decoder (dist/ffmpeg/ffmpeg.{mjs,wasm}, built by
 * scripts/build-ffmpeg.sh from engine/video-wasm/shim.c) into the current thread, once, and types
 * its mce_video_* exports. The bytes of a video reach the shim through one read callback
 * (`mceVideoRead`), served here from registered readers, so a video is never copied whole into
 * the wasm heap. Meant for a worker (media/worker.ts): decoding blocks the thread it runs on.
 */

import { prepareEmscripten, readBytes } from "../platform/index.ts";

/** An address in the decoder's wasm heap. */
export type Ptr = number;

/** shim.c's error codes (mce_video_error_code). */
export const SHIM_ERROR = {
  1: "not_a_video",
  2: "no_video_stream",
  3: "unsupported_codec",
  4: "truncated",
  5: "decode_failed",
  6: "out_of_memory",
  7: "too_many_frames",
  8: "too_large",
  9: "bad_argument",
} as const;

/** shim.c's exports, named as emscripten names them (`_` + the C name). */
export interface ShimExports {
  _mce_video_init(logLevel: number): void;
  _mce_video_error_code(): number;
  _mce_video_error_message(): Ptr;
  _mce_video_error_detail(): Ptr;
  /** a handle, or 0 (error code set) */
  _mce_video_open(source: number, size: number, maxPixels: number): Ptr;
  _mce_video_close(v: Ptr): void;
  _mce_video_duration(v: Ptr): number;
  _mce_video_stream_duration(v: Ptr): number;
  _mce_video_fps_num(v: Ptr): number;
  _mce_video_fps_den(v: Ptr): number;
  _mce_video_header_frames(v: Ptr): number;
  _mce_video_width(v: Ptr): number;
  _mce_video_height(v: Ptr): number;
  _mce_video_codec(v: Ptr): Ptr;
  _mce_video_container(v: Ptr): Ptr;
  /** the frame count, or -1 (error code set) */
  _mce_video_scan(v: Ptr, maxFrames: number): number;
  _mce_video_truncated(v: Ptr): number;
  _mce_video_frame_count(v: Ptr): number;
  _mce_video_scanned_duration(v: Ptr): number;
  _mce_video_keyframe_count(v: Ptr): number;
  _mce_video_is_keyframe(v: Ptr, index: number): number;
  /** 0, or -1 (error code set) */
  _mce_video_decode(v: Ptr, index: number): number;
  /** seeks so far on this video */
  _mce_video_seek_count(v: Ptr): number;
  _mce_video_rgb(v: Ptr): Ptr;
  _mce_video_rgb_width(v: Ptr): number;
  _mce_video_rgb_height(v: Ptr): number;
}

export interface FfmpegModule extends ShimExports {
  HEAPU8: Uint8Array;
  UTF8ToString(ptr: Ptr): string;
}

/** Synchronous random reads of one video's bytes. */
export interface VideoReader {
  size: number;
  /** fills `dst` from byte `position` on; returns the count (0 at the end) */
  readInto(dst: Uint8Array, position: number): number;
}

export function bytesReader(bytes: Uint8Array): VideoReader {
  return {
    size: bytes.length,
    readInto(dst, position) {
      const n = Math.max(0, Math.min(dst.length, bytes.length - position));
      dst.set(bytes.subarray(position, position + n));
      return n;
    },
  };
}

// Set by the esbuild bundles (scripts/bundle.mjs); absent when running the TypeScript sources.
declare const MCE_BUNDLE: { workerFile: string; wasmDir: string } | undefined;

/** dist/ffmpeg/ of this package: beside dist/wasm/ when bundled, else from the sources. */
export function defaultFfmpegDir(): URL {
  if (typeof MCE_BUNDLE !== "undefined") return new URL("../ffmpeg/", new URL(MCE_BUNDLE.wasmDir, import.meta.url));
  return new URL("../../../dist/ffmpeg/", import.meta.url);
}

export const FFMPEG_BASENAME = "ffmpeg";
const AV_LOG_QUIET = -8;

const readers = new Map<number, VideoReader>();
let nextSource = 1;
let loading: Promise<FfmpegModule> | undefined;
let loadedModule: FfmpegModule | undefined;

/** Bytes of this thread's decoder wasm memory (0 before it is loaded); it grows and never shrinks. */
export function ffmpegMemoryBytes(): number {
  return loadedModule?.HEAPU8.byteLength ?? 0;
}

/** The decoder module of this thread, instantiated on first use. */
export function loadFfmpeg(dir: URL = defaultFfmpegDir()): Promise<FfmpegModule> {
  return loading ??= instantiate(dir).catch((e) => {
    loading = undefined; // a later call may succeed (e.g. once the build exists)
    throw e;
  });
}

async function instantiate(dir: URL): Promise<FfmpegModule> {
  const mainScript = new URL(`${FFMPEG_BASENAME}.mjs`, dir);
  const wasmBinary = await readBytes(new URL(`${FFMPEG_BASENAME}.wasm`, dir));
  const locateFile = await prepareEmscripten(dir, mainScript);
  const { default: createModule } = await import(mainScript.href);
  const loaded: { m?: FfmpegModule } = {};
  const m = loaded.m = await createModule({
    wasmBinary,
    locateFile,
    print: () => {},
    printErr: () => {},
    mceVideoRead(source: number, dst: Ptr, len: number, pos: number): number {
      const reader = readers.get(source);
      if (!reader || !loaded.m) return -1;
      try {
        return reader.readInto(loaded.m.HEAPU8.subarray(dst >>> 0, (dst >>> 0) + len), pos);
      } catch {
        return -1;
      }
    },
  }) as FfmpegModule;
  m._mce_video_init(AV_LOG_QUIET); // errors are captured by the shim, not printed
  return loadedModule = m;
}

/** Makes `reader` readable by the shim as source id N until the returned function is called. */
export function registerReader(reader: VideoReader): { source: number; release: () => void } {
  const source = nextSource++;
  readers.set(source, reader);
  return { source, release: () => void readers.delete(source) };
}
