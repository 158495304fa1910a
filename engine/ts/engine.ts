/**
 * The engine client: starts the engine worker (wasm + its pthreads) and calls it. Works the
 * same from Deno, Bun, Node.js and the browser; inference never runs on the calling thread.
 */

import { AbortError, EngineCrashError, EngineError, InvalidRequestError } from "./errors.ts";
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
  /** when the engine last finished a call, or started on one after being idle */
  private lastProgress = performance.now();
  private reportCrash!: (e: EngineCrashError) => void;

  /** the build in use, known once create() resolves */
  simd: SimdLevel = "simd128";

  /** Settles when the engine crashes (never after a plain terminate): a server reloads its model then. */
  readonly crashed: Promise<EngineCrashError> = new Promise((resolve) => (this.reportCrash = resolve));

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
    port.onError((err) => engine.crash(`engine worker failed: ${err.message}`));
    const wasmDir = new URL(options.wasmDir ?? defaultWasmDir(), import.meta.url);
    if (!wasmDir.href.endsWith("/")) wasmDir.href += "/";
    const r = await engine.call("init", wasmDir.href, simd, threads, LOG_LEVELS[options.logLevel ?? "warn"]);
    engine.simd = r.simd;
    return engine;
  }

  /**
   * Calls a worker method. Rejects with EngineError when the worker fails, and EngineCrashError when
   * the engine crashed during this call (rerunnable false) or before it ran (rerunnable true).
   */
  call<M extends Method>(method: M, ...args: Parameters<WorkerMethods[M]>): Promise<Result<M>> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending.size === 0) this.lastProgress = performance.now();
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

  /** Throws what any call would now reject with, when the engine can no longer take calls. */
  checkAlive(): void {
    if (this.failure) throw this.failure;
  }

  /**
   * Milliseconds since the engine last finished a call while calls are waiting for it (0 when
   * idle): how long the call running now has taken. The worker runs one call at a time, and
   * each is one step (a decode batch, a tile encode, a tokenization), so a large value is a stuck engine.
   */
  get stalledMs(): number {
    return this.pending.size ? performance.now() - this.lastProgress : 0;
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
    this.lastProgress = performance.now();
    if ("ok" in msg && msg.ok) return p.resolve(msg.value);
    const e = (msg as { error: RpcError }).error;
    if (e.code === "engine_crashed") {
      // the worker answers in call order: the first crash answer is the call that crashed
      return this.crash(e.message, p);
    }
    p.reject(
      e.name === "InvalidRequestError"
        ? new InvalidRequestError(e.message, e.param)
        : new EngineError(e.message, e.code),
    );
  }

  /**
   * The engine is gone: the call it was running (`running`, else the oldest pending one: the
   * worker runs them in order) fails as the crash's own, the others as rerunnable, and so does
   * every call from now on.
   */
  private crash(message: string, running?: { reject: (e: Error) => void }) {
    if (this.failure) return running?.reject(this.failure);
    if (!running) {
      const [first] = this.pending;
      if (first) this.pending.delete(first[0]);
      running = first?.[1];
    }
    running?.reject(new EngineCrashError(message, false));
    const queued = new EngineCrashError(`${message} (during an earlier call; this one did not run)`, true);
    this.fail(queued);
    this.reportCrash(queued);
  }

  private fail(err: Error) {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}
