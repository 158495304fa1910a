/**
 * What the routes share: the loaded model pair, admission control (parallel + bounded queue),
 * metrics, recovery from an engine crash (the model reloads at once; requests the crash did not
 * touch run again on it, routes/rerun.ts) and the health of the engine (a step that takes too long).
 */

import { Engine, type EngineOptions } from "../engine/ts/engine.ts";
import type { GenerationResult } from "../engine/ts/generate.ts";
import { MiniCPMV } from "../engine/ts/minicpmv.ts";
import type { LoadOptions, MediaTokens } from "../engine/ts/minicpmv.ts";
import { HttpError } from "./errors.ts";

export interface ServiceOptions {
  load: LoadOptions;
  threads?: number;
  /** which wasm build (see EngineOptions.simd) */
  simd?: EngineOptions["simd"];
  /** requests generating together (llama.cpp sequences) */
  parallel: number;
  /** requests waiting beyond `parallel` before the server answers 429 */
  queue: number;
  /** the model id clients name; other names get 404 */
  modelId: string;
  /** directory local image and video paths may be read from (off when undefined) */
  mediaDir?: string;
  /** turn literal "\n" the model writes into line breaks (docs/chat-format.md) */
  repairNewlines: boolean;
  maxImages: number;
  maxImageBytes: number;
  /** remote images and videos */
  imageFetchTimeoutMs: number;
  maxVideos: number;
  maxVideoBytes: number;
  maxVideoSeconds: number;
  /** fetch image and video URLs on loopback, private, link-local or reserved addresses (off by default: SSRF) */
  allowPrivateUrls?: boolean;
  logLevel?: "debug" | "info" | "warn" | "error" | "none";
  /** /health reports the engine stalled when one engine step has run this long while requests wait (0: never) */
  engineStallMs?: number;
}

/** Where the model is: its files downloading, the mmproj's one-time F16->Q8_0 rewrite, loading, ready or failed. */
export type ServiceState = "downloading" | "converting" | "loading" | "ready" | "error";

export class Metrics {
  requests = new Map<string, number>();
  promptTokens = 0;
  completionTokens = 0;
  /** wall time with at least one request generating, for aggregate tokens/s */
  busyMs = 0;
  imageTokens = 0;
  videoTokens = 0;
  /** engine crashes (each followed by a reload) */
  engineCrashes = 0;
  /** prompt tokens decoded / taken from the prefix cache, and the time spent on prompts (finished requests) */
  promptTokensDecoded = 0;
  promptTokensCached = 0;
  promptMs = 0;
  /** time spent generating (finished requests) */
  generateMs = 0;

  record(r: GenerationResult, media?: MediaTokens) {
    this.promptTokens += r.usage.promptTokens;
    this.completionTokens += r.usage.completionTokens;
    this.promptTokensCached += r.usage.cachedTokens ?? 0;
    this.promptTokensDecoded += r.usage.promptTokens - (r.usage.cachedTokens ?? 0);
    this.promptMs += r.timings.promptMs;
    this.generateMs += r.timings.generateMs;
    this.imageTokens += media?.imageTokens ?? 0;
    this.videoTokens += media?.videoTokens ?? 0;
  }

  count(route: string, status: number) {
    const key = `route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }
}

export class ModelService {
  state: ServiceState = "loading";
  error: string | undefined;
  /** while downloading: bytes of the model files present and their total (when known) */
  download: { received: number; total?: number } | undefined;
  /** set by drain(): the app refuses new requests (503) while the admitted ones finish */
  draining = false;
  /** the model was unloaded for being idle (routes/idle.ts); the next request loads it again */
  sleeping = false;
  /** called each time the last request in flight ends (routes/idle.ts schedules the idle unload) */
  onIdle: (() => void) | undefined;
  readonly metrics = new Metrics();
  readonly created = Math.floor(Date.now() / 1000);
  private current: Promise<{ engine: Engine; mm: MiniCPMV }> | undefined;
  /** the engine of the loaded model, once loaded */
  private engine: Engine | undefined;
  private inflight = 0;
  private busySince = 0;

  constructor(readonly options: ServiceOptions) {}

  /** The loaded model; loads it first (again after an engine crash). */
  model(): Promise<MiniCPMV> {
    return this.loaded().then((l) => l.mm);
  }

  private loaded(): Promise<{ engine: Engine; mm: MiniCPMV }> {
    const cur = this.current;
    if (cur) {
      return cur.then((l) => {
        if (l.engine.alive) return l;
        this.drop(cur, l); // crashed: start over
        return this.loaded();
      });
    }
    this.state = "loading";
    this.sleeping = false;
    const o = this.options;
    const load = (async () => {
      const engine = await Engine.create({ threads: o.threads, simd: o.simd, logLevel: o.logLevel ?? "error" });
      try {
        const mm = await MiniCPMV.load(engine, {
          ...o.load,
          sequences: o.parallel,
          onProgress: (p) => {
            this.state = p.filesDone < p.files ? "downloading" : "loading";
            this.download = this.state === "downloading"
              ? { received: p.overallReceived, total: p.overallTotal }
              : undefined;
            o.load.onProgress?.(p);
          },
          onStage: (stage) => {
            this.state = stage;
            o.load.onStage?.(stage);
          },
        });
        this.state = "ready";
        this.error = undefined;
        this.engine = engine;
        engine.crashed.then(() => this.reloadAfterCrash(load));
        return { engine, mm };
      } catch (e) {
        engine.terminate();
        throw e;
      }
    })();
    this.current = load;
    load.catch((e) => {
      this.state = "error";
      this.error = (e as Error).message;
      if (this.current === load) this.current = undefined;
    });
    return load;
  }

  /**
   * A crash fails the calls in flight (routes/rerun.ts re-runs the requests it did not touch):
   * the dead engine is dropped and the model loads again at once, so /health says "loading".
   */
  private async reloadAfterCrash(crashed: Promise<{ engine: Engine; mm: MiniCPMV }>) {
    this.metrics.engineCrashes++;
    const wasCurrent = this.current === crashed;
    if (wasCurrent) this.state = "loading";
    this.drop(crashed, await crashed);
    // (a request may have started the reload already); a failure is reported by /health and the next request
    if (wasCurrent && !this.current) this.loaded().catch(() => {});
  }

  /** Lets go of a crashed engine: its worker and wasm memory, and its media workers once their requests are done. */
  private drop(load: Promise<{ engine: Engine; mm: MiniCPMV }>, l: { engine: Engine; mm: MiniCPMV }) {
    if (this.current === load) this.current = undefined;
    if (this.engine === l.engine) this.engine = undefined;
    l.mm.close();
    l.engine.terminate();
  }

  /**
   * Why the engine is stuck, when it is: one engine step (a decode batch, a tile encode, a
   * tokenization) has run longer than `engineStallMs` while requests wait for it.
   */
  stall(): string | undefined {
    const limit = this.options.engineStallMs ?? 0;
    const ms = this.engine?.stalledMs ?? 0;
    if (limit <= 0 || ms <= limit) return undefined;
    return `engine stalled: one engine step has run for ${(ms / 1000).toFixed(1)} s (limit ${limit / 1000} s) ` +
      `with ${this.inflight} requests in flight`;
  }

  /** Stops admitting requests (SIGTERM): /health says "draining", the app answers 503 to new requests. */
  drain() {
    this.draining = true;
  }

  /**
   * Unloads the model (its engine, worker and wasm memory) when no request is in flight and it is loaded;
   * /health and /api/ps then say so, and the next request loads it again. Returns whether it unloaded.
   */
  async unload(): Promise<boolean> {
    const cur = this.current;
    if (!cur || this.inflight > 0 || this.state !== "ready") return false;
    this.sleeping = true;
    this.current = undefined; // at once: a request arriving now loads a new one rather than get this one
    this.drop(cur, await cur);
    return true;
  }

  /** requests admitted and not finished (generating, preparing, or waiting for a sequence) */
  get inFlight(): number {
    return this.inflight;
  }

  /**
   * Admits a request or refuses it with 429 when `parallel + queue` are taken. The returned
   * function must be called once the request is over.
   */
  admit(): () => void {
    if (this.inflight >= this.options.parallel + this.options.queue) {
      throw new HttpError(
        429,
        `the server is busy: ${this.inflight} requests are running or queued; retry later`,
        "rate_limit_error",
        null,
        "server_busy",
        { "retry-after": "1" },
      );
    }
    if (this.inflight++ === 0) this.busySince = performance.now();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.inflight === 0) {
        this.metrics.busyMs += performance.now() - this.busySince;
        this.onIdle?.();
      }
    };
  }

  /** busy time including the current busy period */
  busyMs(): number {
    return this.metrics.busyMs + (this.inflight ? performance.now() - this.busySince : 0);
  }

  checkModel(name: unknown, param = "model") {
    if (typeof name !== "string" || name === "") {
      throw new HttpError(400, "you must provide a model parameter", "invalid_request_error", param);
    }
    if (name !== this.options.modelId) {
      throw new HttpError(
        404,
        `The model '${name}' does not exist; this server serves '${this.options.modelId}'`,
        "not_found_error",
        param,
        "model_not_found",
      );
    }
  }

  async close() {
    const cur = this.current;
    this.current = undefined;
    const l = cur && await cur.catch(() => undefined);
    l?.mm.close();
    l?.engine.terminate();
  }
}
