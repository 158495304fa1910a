/**
 * The engine client: starts the engine worker (wasm + its pthreads) and calls it. Works the
 * same from Deno, Bun, Node.js and the browser; inference never runs on the calling thread.
 */

import { AbortError, EngineError, InvalidRequestError } from "./errors.ts";
import { hardwareConcurrency, type Port, startWorker } from "./platform/index.ts";
import type { RpcError, RpcResponse } from "./rpc.ts";
import { transferables } from "./rpc.ts";
import type { SimdLevel } from "./wasm/module.ts";
import type { WorkerMethods } from "./worker.ts";

export type LogLevel = "debug" | "info" | "warn" | "error" | "none";
const LOG_LEVELS: Record<LogLevel, number> = { debug: 1, info: 2, warn: 3, error: 4, none: 9 };

export interface EngineOptions {
  /** compute threads; default: the hardware concurrency */
  threads?: number;
  /** directory holding minicpmv-edge.{mjs,wasm} (default: dist/wasm of this package) */
  wasmDir?: string | URL;
  /**
   * "auto" (default): the relaxed-SIMD build (`relaxed/` in wasmDir) where the runtime supports
   * it, else the plain SIMD128 build; or force one of them
   */
  simd?: SimdLevel | "auto";
  /** llama.cpp log messages at or above this level are printed (default "warn") */
  logLevel?: LogLevel;
  /** where engine log lines go (default: console.error) */
  onLog?: (line: string) => void;
}

// Set by the esbuild bundles (scripts/bundle.mjs); absent when running the TypeScript sources.
declare const MCE_BUNDLE: { workerFile: string; wasmDir: string } | undefined;
const bundled = typeof MCE_BUNDLE !== "undefined" ? MCE_BUNDLE : undefined;

function defaultWasmDir(): URL {
  return new URL(bundled?.wasmDir ?? "../../dist/wasm/", import.meta.url);
}
function workerUrl(): URL {
  return new URL(bundled?.workerFile ?? "./worker.ts", import.meta.url);
}

type Method = keyof WorkerMethods;
type Result<M extends Method> = Awaited<ReturnType<WorkerMethods[M]>>;

export class Engine {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private failure: Error | undefined;

  /** the build in use, known once create() resolves */
  simd: SimdLevel = "simd128";

  private constructor(private port: Port, readonly threads: number) {}

  static async create(options: EngineOptions = {}): Promise<Engine> {
    const threads = Math.max(1, Math.floor(options.threads ?? hardwareConcurrency()));
    if (threads > 64) throw new InvalidRequestError("threads must be at most 64", "threads");
    const simd = options.simd ?? "auto";
    if (!["auto", "relaxed", "simd128"].includes(simd)) {
      throw new InvalidRequestError("simd must be auto, relaxed or simd128", "simd");
    }
    const port = await startWorker(workerUrl());
    const engine = new Engine(port, threads);
    const onLog = options.onLog ?? ((line: string) => console.error(line));
    port.onMessage((msg) => engine.receive(msg as RpcResponse, onLog));
    port.onError((err) => engine.fail(new EngineError(`engine worker failed: ${err.message}`, "engine_crashed")));
    const wasmDir = new URL(options.wasmDir ?? defaultWasmDir(), import.meta.url);
    if (!wasmDir.href.endsWith("/")) wasmDir.href += "/";
    const r = await engine.call("init", wasmDir.href, simd, threads, LOG_LEVELS[options.logLevel ?? "warn"]);
    engine.simd = r.simd;
    return engine;
  }

  /** Calls a worker method. Rejects with EngineError when the worker fails or has crashed. */
  call<M extends Method>(method: M, ...args: Parameters<WorkerMethods[M]>): Promise<Result<M>> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.port.postMessage({ id, method, args }, transferables(args));
    });
  }

  /** Whether the engine can still take calls (false after a crash or terminate). */
  get alive(): boolean {
    return !this.failure;
  }

  terminate(): void {
    this.fail(new AbortError("engine terminated"));
    this.port.terminate();
  }

  private receive(msg: RpcResponse, onLog: (line: string) => void) {
    if (msg.id === -1) return onLog((msg as { log: string }).log);
    const p = this.pending.get(msg.id);
    if (!p) return;
    this.pending.delete(msg.id);
    if ("ok" in msg && msg.ok) return p.resolve(msg.value);
    const e = (msg as { error: RpcError }).error;
    const err = e.name === "InvalidRequestError"
      ? new InvalidRequestError(e.message, e.param)
      : new EngineError(e.message, e.code);
    if (e.code === "engine_crashed") this.failure = err;
    p.reject(err);
  }

  private fail(err: Error) {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}
