/**
 * What the routes share: the loaded model pair, admission control (parallel + bounded queue),
 * metrics, and recovery from an engine crash (the next request reloads the model).
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
}

export type ServiceState = "loading" | "ready" | "error";

export class Metrics {
  requests = new Map<string, number>();
  promptTokens = 0;
  completionTokens = 0;
  /** wall time with at least one request generating, for aggregate tokens/s */
  busyMs = 0;
  imageTokens = 0;
  videoTokens = 0;

  record(r: GenerationResult, media?: MediaTokens) {
    this.promptTokens += r.usage.promptTokens;
    this.completionTokens += r.usage.completionTokens;
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
  readonly metrics = new Metrics();
  readonly created = Math.floor(Date.now() / 1000);
  private current: Promise<{ engine: Engine; mm: MiniCPMV }> | undefined;
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
        if (this.current === cur) this.current = undefined; // crashed: start over
        l.mm.close();
        return this.loaded();
      });
    }
    this.state = "loading";
    const o = this.options;
    const load = (async () => {
      const engine = await Engine.create({ threads: o.threads, simd: o.simd, logLevel: o.logLevel ?? "error" });
      try {
        const mm = await MiniCPMV.load(engine, { ...o.load, sequences: o.parallel });
        this.state = "ready";
        this.error = undefined;
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
      if (--this.inflight === 0) this.metrics.busyMs += performance.now() - this.busySince;
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
