/**
 * The video decode worker: owns the FFmpeg-subset wasm (decoder.ts) and answers RPCs from
 * decoder-client.ts, so decoding blocks neither the caller (the server's event loop, a page) nor
 * the inference worker. Videos stay open between calls by handle; each `decode` hands out one
 * frame, moved (not copied) to the caller. A trap inside the wasm poisons this worker: it answers
 * "decoder_crashed" from then on and the client starts a fresh one.
 */

import { VideoDecodeError } from "../errors.ts";
import { parentPort } from "../platform/index.ts";
import type { RpcRequest, RpcResponse } from "../rpc.ts";
import { transferables } from "../rpc.ts";
import { loadFfmpeg } from "./decoder-module.ts";
import { type DecodedFrame, type OpenVideo, openVideo, type VideoInput, type VideoLimits } from "./decoder.ts";

const videos = new Map<number, OpenVideo>();
let nextHandle = 1;
let crashed: string | undefined;

function video(handle: number): OpenVideo {
  const v = videos.get(handle);
  if (!v) throw new VideoDecodeError("decode_failed", `no open video ${handle}`);
  return v;
}

const methods = {
  /** loads the decoder from `ffmpegDir` (a URL) instead of the package's dist/ffmpeg/ */
  async init(ffmpegDir?: string) {
    await loadFfmpeg(ffmpegDir ? new URL(ffmpegDir) : undefined);
  },
  async open(input: VideoInput, limits?: VideoLimits) {
    const v = await openVideo(input, limits);
    const handle = nextHandle++;
    videos.set(handle, v);
    return { handle, info: v.info };
  },
  decode(handle: number, index: number): DecodedFrame {
    return video(handle).decode(index);
  },
  close(handle: number) {
    videos.get(handle)?.close();
    videos.delete(handle);
  },
};

export type DecodeWorkerMethods = typeof methods;

const port = await parentPort();
port.onMessage(async (msg) => {
  const { id, method, args } = msg as RpcRequest;
  let res: RpcResponse;
  try {
    if (crashed) throw new VideoDecodeError("decoder_crashed", `the video decoder crashed earlier (${crashed})`);
    const fn = (methods as Record<string, (...a: unknown[]) => unknown>)[method];
    if (!fn) throw new VideoDecodeError("decode_failed", `unknown decoder method ${method}`);
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
  port.postMessage(res, "value" in res ? transferables(res.value) : []);
});
