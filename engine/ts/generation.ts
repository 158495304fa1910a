/**
 * What a generation is, apart from running it: options, results, the streamed Generation,
 * stop-string matching and the sampler parameter checks. A module of its own so that
 * generate.ts (which takes a Context) and scheduler.ts (which a Context owns) both use it
 * without importing each other.
 */

import { InvalidRequestError } from "./errors.ts";
import type { SamplerParams, TokenLogprobs } from "./rpc.ts";

export interface SamplingOptions {
  /** 0 = greedy (default 0.8) */
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  seed?: number;
  repeatPenalty?: number;
  repeatLastN?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  /** GBNF grammar the output must follow */
  grammar?: string;
  /** apply the grammar only from this token on (lazy grammar, e.g. the <tool_call> token) */
  grammarTriggerToken?: number;
}

export interface GenerateOptions extends SamplingOptions {
  /** default 256; generation also stops at the end of the sequence's context */
  maxTokens?: number;
  stop?: string[];
  signal?: AbortSignal;
  /** keep generating past end-of-generation tokens (benchmarks, load tests) */
  ignoreEos?: boolean;
  /** report each token's log-probability and this many most likely alternatives (0..20) */
  logprobs?: number;
  /**
   * continue from the longest prefix of this prompt a sequence still holds (default true;
   * llama-server's `cache_prompt`); false prefills the whole prompt
   */
  cachePrompt?: boolean;
}

/** Token ids, some of whose positions carry embeddings instead (image placeholders). */
export interface PromptInput {
  tokens: Int32Array;
  /**
   * each overwrites positions start .. start + data.length / nEmbd - 1. `key` names the content
   * for the prefix cache (equal keys = equal embeddings, e.g. the encode cache's tile key);
   * without one the data's bits are hashed (once per array: not to be changed once given)
   */
  embeddings?: { start: number; data: Float32Array; key?: string }[];
}

export interface GenerationPiece {
  text: string;
  /** the tokens this text completes */
  tokens: number[];
  /** per token, when `logprobs` was asked for */
  logprobs?: TokenLogprobs[];
}

export type FinishReason = "stop" | "length";

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  /** of the prompt tokens, those taken from the prefix cache (not decoded again) */
  cachedTokens?: number;
}

export interface GenerationResult {
  text: string;
  tokens: number[];
  finishReason: FinishReason;
  usage: Usage;
  timings: { promptMs: number; generateMs: number };
  logprobs?: TokenLogprobs[];
}

export function samplerParams(o: SamplingOptions): SamplerParams {
  const num = (v: number | undefined, name: string, def: number, min: number, max: number) => {
    const x = v ?? def;
    if (typeof x !== "number" || !Number.isFinite(x) || x < min || x > max) {
      throw new InvalidRequestError(`${name} must be a number in [${min}, ${max}]`, name);
    }
    return x;
  };
  return {
    temperature: num(o.temperature, "temperature", 0.8, 0, 100),
    topK: Math.floor(num(o.topK, "topK", 40, 0, 1e9)),
    topP: num(o.topP, "topP", 0.95, 0, 1),
    minP: num(o.minP, "minP", 0.05, 0, 1),
    seed: Math.floor(num(o.seed, "seed", Math.floor(Math.random() * 2 ** 32), 0, 2 ** 32 - 1)),
    repeatPenalty: num(o.repeatPenalty, "repeatPenalty", 1, 0, 10),
    // llama.cpp sizes the penalty sampler's ring buffer by it: a huge value is a huge allocation (-1: the context)
    penaltyLastN: Math.floor(num(o.repeatLastN, "repeatLastN", 64, -1, 65_536)),
    presencePenalty: num(o.presencePenalty, "presencePenalty", 0, -2, 2),
    frequencyPenalty: num(o.frequencyPenalty, "frequencyPenalty", 0, -2, 2),
    grammar: o.grammar,
    grammarTriggerToken: o.grammarTriggerToken,
  };
}

/**
 * Holds back text that could be the start of a stop string. When several stop strings complete
 * in the same text, the output ends at the earliest one in the text (as llama-server), whatever
 * their order in the list. An empty stop string would match before any text: it is ignored.
 */
export class StopMatcher {
  private pending = "";
  private stops: string[];
  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  /** Returns [text safe to emit, whether a stop string was hit]. */
  push(text: string): [string, boolean] {
    this.pending += text;
    let first = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (first < 0 || i < first)) first = i;
    }
    if (first >= 0) {
      const out = this.pending.slice(0, first);
      this.pending = "";
      return [out, true];
    }
    let keep = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.pending.length); k > keep; k--) {
        if (this.pending.endsWith(s.slice(0, k))) {
          keep = k;
          break;
        }
      }
    }
    const out = this.pending.slice(0, this.pending.length - keep);
    this.pending = this.pending.slice(this.pending.length - keep);
    return [out, false];
  }

  flush(): string {
    const out = this.pending;
    this.pending = "";
    return out;
  }
}

/**
 * A generation in progress: an async iterable of text pieces as they become final, and
 * `result`, which settles when it ends. Fed by the context's scheduler.
 */
export class Generation implements AsyncIterable<GenerationPiece> {
  readonly result: Promise<GenerationResult>;
  private queue: GenerationPiece[] = [];
  private wake: (() => void) | undefined;
  private finished = false;
  private error: unknown;
  private settle!: { resolve: (r: GenerationResult) => void; reject: (e: unknown) => void };

  constructor() {
    this.result = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.result.catch(() => {}); // reported through iteration or `result`, whichever is used
  }

  /** @internal */
  emit(p: GenerationPiece) {
    this.queue.push(p);
    this.wake?.();
  }

  /** @internal */
  finish(r: GenerationResult | Error) {
    if (this.finished) return;
    this.finished = true;
    if (r instanceof Error) {
      this.error = r;
      this.settle.reject(r);
    } else this.settle.resolve(r);
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerationPiece> {
    for (;;) {
      if (this.queue.length) {
        yield this.queue.shift()!;
        continue;
      }
      if (this.finished) {
        if (this.error) throw this.error;
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}
