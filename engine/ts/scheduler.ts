/**
 * Continuous batching over the sequences of one context. Each step decodes one prompt chunk of
 * one request, then the next token of every generating request in a single batch. Prompts are
 * always cut into the same chunks and every sequence has its own KV stream, so a request gives
 * the same tokens whether it runs alone or beside others.
 */

import type { Engine } from "./engine.ts";
import { AbortError, EngineError, InvalidRequestError } from "./errors.ts";
import {
  type FinishReason,
  type GenerateOptions,
  Generation,
  type PromptInput,
  samplerParams,
  StopMatcher,
} from "./generation.ts";
import type { TokenLogprobs } from "./rpc.ts";
import { Detokenizer, type Vocabulary } from "./vocab.ts";

/** What the scheduler uses of a context and its model (model.ts's Context). */
export interface SchedulerContext {
  readonly handle: number;
  /** positions one sequence can hold */
  readonly sequenceSize: number;
  readonly batchSize: number;
  readonly sequences: number;
  readonly model: {
    readonly engine: Pick<Engine, "call">;
    readonly handle: number;
    readonly info: { readonly nEmbd: number };
    readonly vocab: Vocabulary;
  };
  clearSequence(seq: number): Promise<void>;
}

interface Job {
  input: PromptInput;
  options: GenerateOptions;
  generation: Generation;
}

/** A running request on a sequence. */
interface Slot {
  seq: number;
  job: Job;
  sampler: number;
  /** prompt decode, one engine call per `next()`; returns the first sampled token */
  prefill?: AsyncGenerator<void, { token: number; logprobs: TokenLogprobs | null }>;
  /** sampled, not yet decoded */
  pending: number;
  pos: number;
  tokens: number[];
  logprobs: TokenLogprobs[];
  /** tokens (and their logprobs) whose text has not been emitted yet */
  unsent: number[];
  text: string;
  detok: Detokenizer;
  stops: StopMatcher;
  t0: number;
  t1: number;
}

const MAX_LOGPROBS = 20;

export class Scheduler {
  private free: number[];
  private waiting: Job[] = [];
  private slots: Slot[] = [];
  private running = false;
  private seqWaiters: ((seq: number) => void)[] = [];
  /** generated tokens since the scheduler started (for metrics) */
  tokensGenerated = 0;
  promptTokensProcessed = 0;

  constructor(readonly ctx: SchedulerContext) {
    this.free = Array.from({ length: ctx.sequences }, (_, i) => i);
  }

  /** requests generating now / waiting for a sequence */
  get active(): number {
    return this.slots.length;
  }
  get queued(): number {
    return this.waiting.length;
  }

  submit(input: PromptInput, options: GenerateOptions): Generation {
    const generation = new Generation();
    try {
      this.validate(input, options);
      samplerParams(options); // throws on bad values now rather than later
    } catch (e) {
      generation.finish(e as Error);
      return generation;
    }
    const job = { input, options, generation };
    this.waiting.push(job);
    // a request cancelled while waiting leaves the queue at once
    options.signal?.addEventListener("abort", () => {
      const i = this.waiting.indexOf(job);
      if (i < 0) return;
      this.waiting.splice(i, 1);
      generation.finish(new AbortError());
    }, { once: true });
    this.kick();
    return generation;
  }

  /** Decodes a prompt on a free sequence and returns the logits after it. */
  async evaluate(input: PromptInput): Promise<Float32Array> {
    this.validate(input, {});
    const seq = await this.acquire();
    try {
      await this.clear(seq);
      const steps = this.prefillSteps(input, seq, 0, true);
      for (;;) {
        const r = await steps.next();
        if (r.done) return r.value.logits!;
      }
    } finally {
      this.release(seq);
    }
  }

  private validate(input: PromptInput, o: GenerateOptions) {
    const { tokens } = input;
    const vocab = this.ctx.model.vocab;
    const maxTokens = o.maxTokens ?? 256;
    if (!Number.isInteger(maxTokens) || maxTokens < 0) {
      throw new InvalidRequestError("maxTokens must be a non-negative integer", "maxTokens");
    }
    const n = o.logprobs;
    if (n !== undefined && (!Number.isInteger(n) || n < 0 || n > MAX_LOGPROBS)) {
      throw new InvalidRequestError(`logprobs must be an integer in [0, ${MAX_LOGPROBS}]`, "logprobs");
    }
    if (tokens.length === 0) throw new InvalidRequestError("the prompt is empty", "prompt");
    if (tokens.length >= this.ctx.sequenceSize) {
      throw new InvalidRequestError(
        `the prompt has ${tokens.length} tokens; a sequence of this context holds ${this.ctx.sequenceSize}`,
        "prompt",
      );
    }
    for (const t of tokens) {
      if (t < 0 || t >= vocab.size) throw new InvalidRequestError(`token id ${t} is outside the vocabulary`, "prompt");
    }
  }

  private acquire(): Promise<number> {
    const seq = this.free.shift();
    if (seq !== undefined) return Promise.resolve(seq);
    return new Promise((resolve) => this.seqWaiters.push(resolve));
  }

  private release(seq: number) {
    const waiter = this.seqWaiters.shift();
    if (waiter) waiter(seq);
    else {
      this.free.push(seq);
      this.free.sort((a, b) => a - b);
      this.kick();
    }
  }

  private clear(seq: number): Promise<void> {
    return this.ctx.clearSequence(seq);
  }

  private kick() {
    if (this.running) return;
    this.running = true;
    (async () => {
      try {
        while (this.slots.length || (this.waiting.length && this.free.length)) {
          await this.admit();
          await this.step();
        }
      } catch (e) {
        // not expected (each step handles its errors): fail everything rather than hang
        for (const s of [...this.slots]) await this.end(s, e as Error).catch(() => {});
      } finally {
        this.running = false;
      }
    })();
  }

  /** Gives free sequences to waiting requests (first come, first served). */
  private async admit() {
    while (this.waiting.length && this.free.length && !this.seqWaiters.length) {
      const job = this.waiting.shift()!;
      if (job.options.signal?.aborted) {
        job.generation.finish(new AbortError());
        continue;
      }
      const seq = this.free.shift()!;
      const engine = this.ctx.model.engine;
      let sampler = 0;
      try {
        sampler = await engine.call("newSampler", this.ctx.model.handle, samplerParams(job.options));
        await this.clear(seq);
      } catch (e) {
        if (sampler) await engine.call("freeSampler", sampler).catch(() => {});
        this.release(seq);
        job.generation.finish(e as Error);
        continue;
      }
      const t0 = performance.now();
      this.slots.push({
        seq,
        job,
        sampler,
        prefill: this.prefillSteps(job.input, seq, sampler, false, job.options.logprobs ?? -1),
        pending: -1,
        pos: job.input.tokens.length,
        tokens: [],
        logprobs: [],
        unsent: [],
        text: "",
        detok: new Detokenizer(this.ctx.model.vocab),
        stops: new StopMatcher(job.options.stop ?? []),
        t0,
        t1: t0,
      });
    }
  }

  /** One prompt chunk of the oldest prefilling request, then one token of every generating one. */
  private async step() {
    for (const s of [...this.slots]) {
      if (s.job.options.signal?.aborted) await this.end(s, new AbortError());
    }
    const filling = this.slots.find((s) => s.prefill);
    if (filling) {
      try {
        const r = await filling.prefill!.next();
        if (r.done) {
          filling.prefill = undefined;
          filling.t1 = performance.now();
          this.promptTokensProcessed += filling.job.input.tokens.length;
          await this.accept(filling, r.value.token, r.value.logprobs);
        }
      } catch (e) {
        await this.end(filling, e as Error);
      }
    }
    const decoding = this.slots.filter((s) => !s.prefill && s.pending >= 0);
    if (!decoding.length) return;
    const engine = this.ctx.model.engine;
    let r;
    try {
      r = await engine.call("step", this.ctx.handle, this.ctx.model.handle, {
        tokens: Int32Array.from(decoding, (s) => s.pending),
        pos: Int32Array.from(decoding, (s) => s.pos),
        seqIds: Int32Array.from(decoding, (s) => s.seq),
        outputs: decoding.map((_, i) => i),
        samplers: decoding.map((s) => s.sampler),
        wantLogits: decoding.map(() => false),
        topLogprobs: decoding.map((s) => s.job.options.logprobs ?? -1),
      });
      if (r.code !== 0) throw new EngineError(`decode failed with code ${r.code}`, "decode_failed");
    } catch (e) {
      for (const s of decoding) await this.end(s, e as Error);
      return;
    }
    for (const [i, s] of decoding.entries()) {
      s.pos++;
      s.pending = -1;
      await this.accept(s, r.tokens[i], r.logprobs[i]);
    }
  }

  /** A sampled token: stop conditions, text, and whether to decode it next. */
  private async accept(s: Slot, token: number, lp: TokenLogprobs | null) {
    const o = s.job.options;
    const maxTokens = o.maxTokens ?? 256;
    if (this.ctx.model.vocab.isEog(token) && !o.ignoreEos) return await this.end(s, "stop");
    if (s.tokens.length >= maxTokens) return await this.end(s, "length");
    s.tokens.push(token);
    this.tokensGenerated++;
    s.unsent.push(token);
    if (lp) s.logprobs.push(lp);
    const [out, hit] = s.stops.push(s.detok.push(token));
    if (out) this.send(s, out);
    if (hit) return await this.end(s, "stop", true);
    if (s.tokens.length >= maxTokens || s.pos + 1 >= this.ctx.sequenceSize) return await this.end(s, "length");
    s.pending = token;
  }

  private send(s: Slot, text: string) {
    s.text += text;
    const tokens = s.unsent;
    s.unsent = [];
    const piece = s.logprobs.length
      ? { text, tokens, logprobs: s.logprobs.slice(s.logprobs.length - tokens.length) }
      : { text, tokens };
    s.job.generation.emit(piece);
  }

  /** Ends a request: flushes held-back text, frees its sampler and sequence. */
  private async end(s: Slot, how: FinishReason | Error, hitStopString = false) {
    this.slots.splice(this.slots.indexOf(s), 1);
    if (!(how instanceof Error) && !hitStopString) {
      const rest = s.stops.push(s.detok.flush())[0] + s.stops.flush();
      if (rest || s.unsent.length) this.send(s, rest);
    }
    await this.ctx.model.engine.call("freeSampler", s.sampler).catch(() => {});
    this.release(s.seq);
    if (how instanceof Error) return s.job.generation.finish(how);
    const t2 = performance.now();
    const promptTokens = s.job.input.tokens.length;
    s.job.generation.finish({
      text: s.text,
      tokens: s.tokens,
      finishReason: how,
      usage: { promptTokens, completionTokens: s.tokens.length, totalTokens: promptTokens + s.tokens.length },
      timings: { promptMs: s.t1 - s.t0, generateMs: t2 - s.t1 },
      ...(s.job.options.logprobs !== undefined ? { logprobs: s.logprobs } : {}),
    });
  }

  /**
   * Decodes a prompt on `seq` in batches (text, then embedding spans in place of their
   * placeholders, sequential positions), one engine call per iteration. From the last position
   * it samples with `sampler` (if not 0) and returns the logits when `wantLogits`.
   */
  private async *prefillSteps(input: PromptInput, seq: number, sampler: number, wantLogits: boolean, topLogprobs = -1) {
    const ctx = this.ctx;
    const engine = ctx.model.engine;
    const { tokens } = input;
    const nEmbd = ctx.model.info.nEmbd;
    const spans = [...(input.embeddings ?? [])].sort((a, b) => a.start - b.start);
    let next = 0;
    let result = { token: -1, logits: null as Float32Array | null, logprobs: null as TokenLogprobs | null };
    const decodeTokens = async function* (from: number, to: number, isEnd: boolean) {
      for (let start = from; start < to; start += ctx.batchSize) {
        const chunk = tokens.slice(start, Math.min(to, start + ctx.batchSize));
        const last = isEnd && start + chunk.length === to;
        const r = await engine.call("step", ctx.handle, ctx.model.handle, {
          tokens: chunk,
          pos: Int32Array.from(chunk, (_, i) => start + i),
          seqIds: new Int32Array(chunk.length).fill(seq),
          outputs: last ? [chunk.length - 1] : [],
          samplers: last ? [sampler] : [],
          wantLogits: [wantLogits],
          topLogprobs: [topLogprobs],
        });
        if (r.code !== 0) throw new EngineError(`decode failed with code ${r.code}`, "decode_failed");
        if (last) result = { token: r.tokens[0], logits: r.logits[0], logprobs: r.logprobs[0] };
        if (!last) yield;
      }
    };
    for (const e of spans) {
      const n = e.data.length / nEmbd;
      if (!Number.isInteger(n) || e.start < next || e.start + n > tokens.length) {
        throw new InvalidRequestError("image embeddings do not fit the prompt's placeholder positions", "prompt");
      }
      yield* decodeTokens(next, e.start, false);
      for (let i = 0; i < n; i += ctx.batchSize) {
        const rows = Math.min(ctx.batchSize, n - i);
        const r = await engine.call(
          "decodeEmbeddings",
          ctx.handle,
          ctx.model.handle,
          e.data.slice(i * nEmbd, (i + rows) * nEmbd),
          nEmbd,
          Int32Array.from({ length: rows }, (_, k) => e.start + i + k),
          seq,
          false,
        );
        if (r.code !== 0) throw new EngineError(`decode failed with code ${r.code}`, "decode_failed");
        yield;
      }
      next = e.start + n;
    }
    if (next >= tokens.length) {
      throw new InvalidRequestError("the prompt must end with text after its images", "prompt");
    }
    yield* decodeTokens(next, tokens.length, true);
    return result;
  }
}
