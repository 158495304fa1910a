/**
 * One media worker (worker.ts) seen from the calling thread: typed calls (`typeof methods`, so a
 * call and its answer cannot drift apart), the worker started on first use and replaced after a
 * crash. The pool and the public API are client.ts's; this file only carries messages.
 */

import { InvalidRequestError, VideoDecodeError, type VideoDecodeErrorCode } from "../errors.ts";
import { type Port, startWorker } from "../platform/index.ts";
import type { RpcError, RpcResponse } from "../rpc.ts";
import type { MediaWorkerMethods } from "./worker.ts";

// Set by the esbuild bundles (scripts/bundle.mjs); absent when running the TypeScript sources.
declare const MCE_BUNDLE: { workerFile: string; wasmDir: string } | undefined;

function workerUrl(): URL {
  const file = typeof MCE_BUNDLE !== "undefined" ? "./media-worker.js" : "./worker.ts";
  return new URL(file, import.meta.url);
}

export type MediaMethod = keyof MediaWorkerMethods;
export type MediaResult<M extends MediaMethod> = Awaited<ReturnType<MediaWorkerMethods[M]>>;

/** What a call is about: a failure (a crash included) is reported as an image or a video error. */
export type MediaKind = "image" | "video";

interface Pending {
  kind: MediaKind;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export class MediaWorkerConnection {
  private port: Port | undefined;
  private nextId = 1;
  private pending = new Map<number, Pending>();
  private closed = false;
  /** image jobs and open video sessions on this worker (the pool sends new work to the least busy) */
  busy = 0;

  /** `ffmpegDir`: where a fresh worker loads the video decoder from (default: the package's dist/ffmpeg) */
  constructor(private readonly ffmpegDir: string | undefined) {}

  /** Identifies the running worker: a session opened on one is gone once it is replaced. */
  get generation(): Port | undefined {
    return this.port;
  }

  call<M extends MediaMethod>(
    kind: MediaKind,
    method: M,
    ...args: Parameters<MediaWorkerMethods[M]>
  ): Promise<MediaResult<M>> {
    if (this.closed) return Promise.reject(failure(kind, "the media worker was terminated"));
    return this.ensurePort().then((port) =>
      new Promise((resolve, reject) => {
        const id = this.nextId++;
        this.pending.set(id, { kind, resolve: resolve as (v: unknown) => void, reject });
        port.postMessage({ id, method, args }); // copied, never moved: the caller keeps its bytes
      })
    );
  }

  terminate(): void {
    this.closed = true;
    this.stop("the media worker was terminated", false);
  }

  private async ensurePort(): Promise<Port> {
    if (this.port) return this.port;
    const port = this.port = await startWorker(workerUrl());
    port.onMessage((msg) => this.receive(msg as RpcResponse));
    port.onError((err) => {
      if (this.port !== port) return;
      this.stop(`the media worker failed: ${err.message}`, true);
    });
    // every worker, the first and any replacement, loads the same video decoder
    if (this.ffmpegDir) port.postMessage({ id: 0, method: "init", args: [this.ffmpegDir] });
    return port;
  }

  private receive(msg: RpcResponse) {
    if (msg.id === -1 || msg.id === 0) return;
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if ("ok" in msg && msg.ok) return p.resolve(msg.value);
    const e = (msg as { error: RpcError }).error;
    if (e.code === "decoder_crashed") this.stop("the media worker crashed", true); // the next call starts a new one
    p.reject(errorOf(p.kind, e));
  }

  /** Drops the worker; pending calls fail with `reason`. */
  private stop(reason: string, crashed: boolean) {
    this.port?.terminate();
    this.port = undefined;
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(failure(p.kind, reason, crashed));
  }
}

/** A failure of the worker itself, as the error of what the call was about. */
function failure(kind: MediaKind, reason: string, crashed = false): Error {
  if (kind === "image") return new InvalidRequestError(`cannot decode the image: ${reason}`, "image");
  return new VideoDecodeError(crashed ? "decoder_crashed" : "decode_failed", reason);
}

function errorOf(kind: MediaKind, e: RpcError): Error {
  if (e.name === "InvalidRequestError") return new InvalidRequestError(e.message, e.param);
  if (kind === "image") return new InvalidRequestError(`cannot decode the image: ${e.message}`, "image");
  if (e.name === "VideoDecodeError") return new VideoDecodeError(e.code as VideoDecodeErrorCode, e.message);
  return new VideoDecodeError("decode_failed", e.message);
}
