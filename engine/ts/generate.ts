/** Text generation on one sequence of a context: prompt decode, sampling, stop conditions. */

import { AbortError, EngineError, InvalidRequestError } from "./errors.ts";
import type { Context } from "./model.ts";
import { Detokenizer } from "./vocab.ts";
import type { SamplerParams } from "./wasm/api.ts";

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
}

export interface GenerateOptions extends SamplingOptions {
  /** default 256; generation also stops at the end of the context */
  maxTokens?: number;
  stop?: string[];
  signal?: AbortSignal;
  /** sequence of the context to use (default 0) */
  sequence?: number;
}

/** Token ids, some of whose positions carry embeddings instead (image placeholders). */
export interface PromptInput {
  tokens: Int32Array;
  /** each overwrites positions start .. start + data.length / nEmbd - 1 */
  embeddings?: { start: number; data: Float32Array }[];
}

export interface GenerationPiece {
  text: string;
  tokens: number[];
}

export type FinishReason = "stop" | "length";

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

export interface GenerationResult {
  text: string;
  tokens: number[];
  finishReason: FinishReason;
  usage: Usage;
  timings: { promptMs: number; generateMs: number };
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
    penaltyLastN: Math.floor(num(o.repeatLastN, "repeatLastN", 64, -1, 1e9)),
    presencePenalty: num(o.presencePenalty, "presencePenalty", 0, -2, 2),
    frequencyPenalty: num(o.frequencyPenalty, "frequencyPenalty", 0, -2, 2),
    grammar: o.grammar,
  };
}

/** Holds back text that could be the start of a stop string. */
class StopMatcher {
  private pending = "";
  constructor(private stops: string[]) {}

  /** Returns [text safe to emit, whether a stop string was hit]. */
  push(text: string): [string, boolean] {
    this.pending += text;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0) {
        const out = this.pending.slice(0, i);
        this.pending = "";
        return [out, true];
      }
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
 * Generates from `prompt` tokens on a fresh sequence. Yields pieces of text as they become
 * final; the returned promise `result` resolves when generation ends.
 */
export function generate(ctx: Context, prompt: ArrayLike<number> | PromptInput, options: GenerateOptions = {}): Generation {
  const input = "tokens" in prompt ? prompt as PromptInput : { tokens: Int32Array.from(prompt as ArrayLike<number>) };
  return new Generation(ctx, input, options);
}

/**
 * Decodes the prompt on `seq` in batches (text, then embedding spans in place of their
 * placeholders, sequential positions). From the last position it samples with `sampler` (if not 0)
 * and returns the logits when `wantLogits`.
 */
async function prefill(
  ctx: Context,
  input: PromptInput,
  seq: number,
  sampler: number,
  wantLogits: boolean,
  checkAbort: () => void,
): Promise<{ token: number; logits: Float32Array | null }> {
  const engine = ctx.model.engine;
  const { tokens } = input;
  const nEmbd = ctx.model.info.nEmbd;
  const spans = [...(input.embeddings ?? [])].sort((a, b) => a.start - b.start);
  let next = 0;
  for (const e of spans) {
    const n = e.data.length / nEmbd;
    if (!Number.isInteger(n) || e.start < next || e.start + n > tokens.length) {
      throw new InvalidRequestError("image embeddings do not fit the prompt's placeholder positions", "prompt");
    }
    await decodeTokens(next, e.start, false);
    for (let i = 0; i < n; i += ctx.batchSize) {
      checkAbort();
      const rows = Math.min(ctx.batchSize, n - i);
      const r = await engine.call("decodeEmbeddings", ctx.handle, ctx.model.handle,
        e.data.slice(i * nEmbd, (i + rows) * nEmbd), nEmbd,
        Int32Array.from({ length: rows }, (_, k) => e.start + i + k), seq, false);
      if (r.code !== 0) throw new EngineError(`decode failed with code ${r.code}`, "decode_failed");
    }
    next = e.start + n;
  }
  if (next >= tokens.length) throw new InvalidRequestError("the prompt must end with text after its images", "prompt");
  return await decodeTokens(next, tokens.length, true);

  async function decodeTokens(from: number, to: number, isEnd: boolean) {
    let token = -1;
    let logits: Float32Array | null = null;
    for (let start = from; start < to; start += ctx.batchSize) {
      checkAbort();
      const chunk = tokens.slice(start, Math.min(to, start + ctx.batchSize));
      const last = isEnd && start + chunk.length === to;
      const r = await engine.call("step", ctx.handle, ctx.model.handle, {
        tokens: chunk,
        pos: Int32Array.from(chunk, (_, i) => start + i),
        seqIds: new Int32Array(chunk.length).fill(seq),
        outputs: last ? [chunk.length - 1] : [],
        samplers: last ? [sampler] : [],
        wantLogits: [wantLogits],
      });
      if (r.code !== 0) throw new EngineError(`decode failed with code ${r.code}`, "decode_failed");
      if (last) [token, logits] = [r.tokens[0], r.logits[0]];
    }
    return { token, logits };
  }
}

/** Decodes a prompt (text, or text with image embeddings) on a fresh sequence; the logits after it. */
export async function evaluate(ctx: Context, prompt: ArrayLike<number> | PromptInput, seq = 0): Promise<Float32Array> {
  const input = "tokens" in prompt ? prompt as PromptInput : { tokens: Int32Array.from(prompt as ArrayLike<number>) };
  if (input.tokens.length === 0 || input.tokens.length >= ctx.size) {
    throw new InvalidRequestError(`evaluate needs 1..${ctx.size - 1} tokens`, "prompt");
  }
  await ctx.clearSequence(seq);
  return (await prefill(ctx, input, seq, 0, true, () => {})).logits!;
}

export class Generation implements AsyncIterable<GenerationPiece> {
  readonly result: Promise<GenerationResult>;
  private queue: GenerationPiece[] = [];
  private wake: (() => void) | undefined;
  private finished = false;
  private error: unknown;

  constructor(ctx: Context, prompt: PromptInput, options: GenerateOptions) {
    this.result = this.run(ctx, prompt, options);
    this.result.then(
      () => this.end(),
      (e) => {
        this.error = e;
        this.end();
      },
    );
  }

  private emit(p: GenerationPiece) {
    this.queue.push(p);
    this.wake?.();
  }

  private end() {
    this.finished = true;
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

  private async run(ctx: Context, input: PromptInput, o: GenerateOptions): Promise<GenerationResult> {
    const prompt = input.tokens;
    const engine = ctx.model.engine;
    const vocab = ctx.model.vocab;
    const seq = o.sequence ?? 0;
    const maxTokens = o.maxTokens ?? 256;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) throw new InvalidRequestError("maxTokens must be a non-negative integer", "maxTokens");
    if (prompt.length === 0) throw new InvalidRequestError("the prompt is empty", "prompt");
    if (prompt.length >= ctx.size) {
      throw new InvalidRequestError(`the prompt has ${prompt.length} tokens; the context holds ${ctx.size}`, "prompt");
    }
    for (const t of prompt) {
      if (t < 0 || t >= vocab.size) throw new InvalidRequestError(`token id ${t} is outside the vocabulary`, "prompt");
    }
    const checkAbort = () => {
      if (o.signal?.aborted) throw new AbortError();
    };
    checkAbort();

    const sampler = await engine.call("newSampler", ctx.model.handle, samplerParams(o));
    const t0 = performance.now();
    let t1 = t0;
    const tokens: number[] = [];
    let text = "";
    let finishReason: FinishReason = "length";
    try {
      await ctx.clearSequence(seq);
      let { token } = await prefill(ctx, input, seq, sampler, false, checkAbort);
      t1 = performance.now();

      const detok = new Detokenizer(vocab);
      const stops = new StopMatcher(o.stop ?? []);
      let pos = prompt.length;
      let hitStopString = false;
      for (;;) {
        if (vocab.isEog(token)) {
          finishReason = "stop";
          break;
        }
        if (tokens.length >= maxTokens) break;
        tokens.push(token);
        const [out, hit] = stops.push(detok.push(token));
        if (out) {
          text += out;
          this.emit({ text: out, tokens: [token] });
        }
        if (hit) {
          finishReason = "stop";
          hitStopString = true;
          break;
        }
        if (tokens.length >= maxTokens || pos + 1 >= ctx.size) break;
        checkAbort();
        const r = await engine.call("step", ctx.handle, ctx.model.handle, {
          tokens: Int32Array.of(token),
          pos: Int32Array.of(pos++),
          seqIds: Int32Array.of(seq),
          outputs: [0],
          samplers: [sampler],
          wantLogits: [false],
        });
        if (r.code !== 0) throw new EngineError(`decode failed with code ${r.code}`, "decode_failed");
        token = r.tokens[0];
      }
      if (!hitStopString) {
        const rest = stops.push(detok.flush())[0] + stops.flush();
        if (rest) {
          text += rest;
          this.emit({ text: rest, tokens: [] });
        }
      }
    } finally {
      await engine.call("freeSampler", sampler).catch(() => {});
    }
    const t2 = performance.now();
    return {
      text,
      tokens,
      finishReason,
      usage: { promptTokens: prompt.length, completionTokens: tokens.length, totalTokens: prompt.length + tokens.length },
      timings: { promptMs: t1 - t0, generateMs: t2 - t1 },
    };
  }
}
