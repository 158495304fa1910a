/**
 * The asynchronous video decoder: runs decoder.ts in its own worker (decode-worker.ts), so the
 * calling thread (the server's event loop, a page) never blocks on FFmpeg and the inference
 * worker is not involved. Same API shape as decoder.ts; frames arrive one RPC at a time, moved
 * out of the worker, so only the frame being handed out is held on either side. A crashed
 * decoder worker is replaced on the next call.
 */

import { InvalidRequestError, VideoDecodeError, type VideoDecodeErrorCode } from "../errors.ts";
import { type Port, startWorker } from "../platform/index.ts";
import type { RpcError, RpcResponse } from "../rpc.ts";
import type { DecodeWorkerMethods } from "./decode-worker.ts";
import { type DecodedFrame, decodeOrder, type VideoInfo, type VideoInput, type VideoLimits } from "./decoder.ts";

export interface VideoDecoderOptions {
  /** directory holding ffmpeg.{mjs,wasm} (default: dist/ffmpeg of this package) */
  ffmpegDir?: string | URL;
}

// Set by the esbuild bundles (scripts/bundle.mjs); absent when running the TypeScript sources.
declare const MCE_BUNDLE: { workerFile: string; wasmDir: string } | undefined;

function workerUrl(): URL {
  const file = typeof MCE_BUNDLE !== "undefined" ? "./video-decode-worker.js" : "./decode-worker.ts";
  return new URL(file, import.meta.url);
}

type Method = keyof DecodeWorkerMethods;
type Result<M extends Method> = Awaited<ReturnType<DecodeWorkerMethods[M]>>;

export class VideoDecoder {
  private port: Port | undefined;
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private closed = false;

  private constructor(private readonly ffmpegDir: string | undefined) {}

  /** Starts the worker and loads the decoder (fails here if dist/ffmpeg is missing). */
  static async create(options: VideoDecoderOptions = {}): Promise<VideoDecoder> {
    const dir = options.ffmpegDir === undefined ? undefined : new URL(options.ffmpegDir, import.meta.url);
    if (dir && !dir.href.endsWith("/")) dir.href += "/";
    const decoder = new VideoDecoder(dir?.href);
    await decoder.call("init", decoder.ffmpegDir);
    return decoder;
  }

  /** Container metadata and the frame table (decoder.ts probeVideo), decoded in the worker. */
  async probe(input: VideoInput, limits?: VideoLimits): Promise<VideoInfo> {
    const { handle, info } = await this.call("open", input, limits);
    await this.call("close", handle);
    return info;
  }

  /**
   * The given frames (presentation order numbers, any order, repeats allowed), each distinct one
   * once, in increasing order, as RGB24 (decoder.ts decodeFrames). `onInfo` sees the metadata
   * before the first frame is decoded.
   */
  async *decodeFrames(
    input: VideoInput,
    indices: Iterable<number>,
    limits?: VideoLimits,
    onInfo?: (info: VideoInfo) => void,
  ): AsyncGenerator<DecodedFrame> {
    const wanted = [...indices];
    const { handle, info } = await this.call("open", input, limits);
    const port = this.port;
    try {
      onInfo?.(info);
      for (const index of decodeOrder(wanted, info.frameCount)) yield await this.call("decode", handle, index);
    } finally {
      // a crashed worker is gone, and its videos with it
      if (this.port === port) await this.call("close", handle).catch(() => {});
    }
  }

  terminate(): void {
    this.closed = true;
    this.stop(new VideoDecodeError("decode_failed", "the video decoder was terminated"));
  }

  private call<M extends Method>(method: M, ...args: Parameters<DecodeWorkerMethods[M]>): Promise<Result<M>> {
    if (this.closed) return Promise.reject(new VideoDecodeError("decode_failed", "the video decoder was terminated"));
    return this.ensurePort().then((port) =>
      new Promise((resolve, reject) => {
        const id = this.nextId++;
        this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        port.postMessage({ id, method, args }); // copied, never moved: the caller keeps its bytes
      })
    );
  }

  private async ensurePort(): Promise<Port> {
    if (this.port) return this.port;
    const port = this.port = await startWorker(workerUrl());
    port.onMessage((msg) => this.receive(msg as RpcResponse));
    port.onError((err) => {
      if (this.port !== port) return;
      this.stop(new VideoDecodeError("decoder_crashed", `the video decoder worker failed: ${err.message}`));
    });
    // a fresh worker after a crash loads the same decoder
    if (this.ffmpegDir && this.nextId > 1) port.postMessage({ id: 0, method: "init", args: [this.ffmpegDir] });
    return port;
  }

  private receive(msg: RpcResponse) {
    if (msg.id === -1) return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if ("ok" in msg && msg.ok) return p.resolve(msg.value);
    const e = (msg as { error: RpcError }).error;
    if (e.code === "decoder_crashed") this.stop(); // the next call starts a new worker
    p.reject(errorOf(e));
  }

  /** Drops the worker; pending calls fail with `reason`. */
  private stop(reason?: Error) {
    this.port?.terminate();
    this.port = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(reason ?? new VideoDecodeError("decoder_crashed", "the video decoder crashed"));
  }
}

function errorOf(e: RpcError): Error {
  if (e.name === "VideoDecodeError") return new VideoDecodeError(e.code as VideoDecodeErrorCode, e.message);
  if (e.name === "InvalidRequestError") return new InvalidRequestError(e.message, e.param);
  return new VideoDecodeError("decode_failed", e.message);
}
