/**
 * Continuous batching over the sequences of one context. Each step decodes one prompt chunk of
 * one request, then the next token of every generating request in a single batch. Prompts are
 * always cut into the same chunks and every sequence has its own KV stream, so a request gives
 * the same tokens whether it runs alone or beside others.
 *
 * Prefix cache: a sequence keeps what it decoded after its request ends. A request goes to the
 * free sequence that holds the longest prefix of its prompt and prefills only the rest; a hybrid
 * model's recurrent state cannot be trimmed, so it restarts from a saved checkpoint (one per
 * prompt, a few positions before its end) at or before the shared prefix. A conversation whose
 * sequence another request takes is parked (its whole state) and restored when it goes on.
 * Prefills are cut at the same places whether or not they start from the cache (`cuts`), so a
 * cached continuation gives the cold run's numbers. prefix-cache.ts has the bookkeeping;
 * docs/architecture.md, "Prefix cache".
 */

import type { Engine } from "./engine.ts";
import { AbortError, crashOfRunningRequest, EngineError, InvalidRequestError } from "./errors.ts";
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
import { type Checkpoint, CheckpointStore, deepest, type Parked, PromptIdentity } from "./prefix-cache.ts";

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
    readonly info: { readonly nEmbd: number; readonly memoryKind: "attention" | "recurrent" | "hybrid" };
    readonly vocab: Vocabulary;
  };
  /** bytes of recurrent-state checkpoints kept for the prefix cache (default 256 MiB) */
  readonly cacheRamBytes?: number;
  clearSequence(seq: number): Promise<void>;
}

export const DEFAULT_CACHE_RAM_BYTES = 256 * 2 ** 20;
/**
 * Where a prompt's checkpoint goes: this many positions before its end, as llama-server's context
 * checkpoints. A chat's next turn repeats the prompt but not the end of its generation prompt
 * (Qwen3.5: `<think>\n\n</think>\n\n`, four tokens, is not part of the assistant turn in history).
 */
const CHECKPOINT_BEFORE_END = 4;
/**
 * The last batch of a prompt computes the logits in one of two ways by its size: measured on the
 * tiny model, a last batch of 2..63 positions gives other logits (2.8e-3 relative) than one of 1 or
 * of 64 and more, while where earlier batches end changes nothing. So the cut at the checkpoint keeps
 * the last batch in the class a plain cut into `batchSize` chunks gives (see `cuts`).
 */
const LARGE_LAST_BATCH = 64;
/** Positions before a checkpoint that name the place in a chat (Qwen3.5: `<|im_start|>assistant\n`) */
const HEADER_LENGTH = 3;

interface Job {
  input: PromptInput;
  options: GenerateOptions;
  generation: Generation;
}

/** How a sequence can serve a prompt: its first `n` positions, after restoring `checkpoint` if any. */
interface Reuse {
  n: number;
  checkpoint?: Checkpoint;
}

/** A sequence for a request, and the parked conversation to restore into it first (the longest prefix). */
interface SeqChoice {
  seq: number;
  parked?: Parked;
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
  /** prompt positions taken from the prefix cache */
  cached: number;
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
  /** per sequence: what its memory holds (empty: unknown or nothing, cleared before use) */
  private contents: PromptIdentity[];
  /** per sequence: when it was last given to a request (a request with no cached prefix takes the oldest) */
  private lastUsed: number[];
  private clock = 0;
  readonly checkpoints: CheckpointStore;
  /** generated tokens since the scheduler started (for metrics) */
  tokensGenerated = 0;
  /** prompt positions decoded / taken from the prefix cache */
  promptTokensProcessed = 0;
  promptTokensCached = 0;
  /** engine decode calls of requests (prompt chunks and token batches), and the running requests summed over them */
  decodeCalls = 0;
  decodeBusySlots = 0;

  constructor(readonly ctx: SchedulerContext) {
    this.free = Array.from({ length: ctx.sequences }, (_, i) => i);
    this.contents = this.free.map(() => new PromptIdentity());
    this.lastUsed = this.free.map(() => 0);
    this.checkpoints = new CheckpointStore(ctx.cacheRamBytes ?? DEFAULT_CACHE_RAM_BYTES);
  }

  /** whether the model has recurrent state, which a cached prefix must restore from a checkpoint */
  private get recurrent(): boolean {
    return this.ctx.model.info.memoryKind !== "attention";
  }

  /** requests generating now / waiting for a sequence */
  get active(): number {
    return this.slots.length;
  }
  get queued(): number {
    return this.waiting.length;
  }
  /** context cells held now: what every sequence's memory holds (a finished request's prefix stays for reuse) */
  get cellsInUse(): number {
    return this.contents.reduce((n, c) => n + c.length, 0);
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

  /**
   * Decodes a prompt on a free sequence and returns the logits after it; from a cached prefix
   * only when `cachePrompt` (default false: a cold prefill, what benchmarks and parity tests measure).
   */
  async evaluate(input: PromptInput, options: { cachePrompt?: boolean } = {}): Promise<Float32Array> {
    this.validate(input, {});
    const id = PromptIdentity.of(input, this.ctx.model.info.nEmbd);
    const cachePrompt = options.cachePrompt ?? false;
    const { seq, parked } = await this.acquire(id, cachePrompt);
    try {
      const from = await this.prepare(seq, id, cachePrompt, parked);
      const steps = this.prefillSteps(input, id, seq, from, 0, true);
      for (;;) {
        const r = await steps.next();
        if (!r.done) continue;
        this.promptTokensProcessed += input.tokens.length - from;
        this.promptTokensCached += from;
        return r.value.logits!;
      }
    } catch (e) {
      this.forget(seq);
      throw e;
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

  private acquire(id: PromptIdentity, cachePrompt: boolean): Promise<SeqChoice> {
    if (this.free.length) return Promise.resolve(this.pick(id, cachePrompt));
    return new Promise((resolve) => this.seqWaiters.push((seq) => resolve({ seq })));
  }

  /**
   * Takes the free sequence holding the longest usable prefix of `id` (with none, the least
   * recently used); when a parked conversation holds a longer one, the least recently used
   * sequence, to restore it into.
   */
  private pick(id: PromptIdentity, cachePrompt: boolean): SeqChoice {
    let best = this.free[0], bestN = -1, lru = this.free[0];
    for (const seq of this.free) {
      const n = cachePrompt ? this.reusable(seq, id).n : 0;
      if (n > bestN || (n === bestN && this.lastUsed[seq] < this.lastUsed[best])) [best, bestN] = [seq, n];
      if (this.lastUsed[seq] < this.lastUsed[lru]) lru = seq;
    }
    let parked: Parked | undefined;
    for (const p of cachePrompt ? this.checkpoints.parked : []) {
      const n = this.reuseOf(p.content, p.checkpoints, id).n;
      if (n > bestN) [parked, best, bestN] = [p, lru, n];
    }
    this.free.splice(this.free.indexOf(best), 1);
    this.lastUsed[best] = ++this.clock;
    return { seq: best, parked };
  }

  /** What `seq` can give a prompt: a prefix it holds, cut back to a checkpoint where its recurrent state must be. */
  private reusable(seq: number, id: PromptIdentity): Reuse {
    return this.reuseOf(this.contents[seq], this.checkpoints.of(seq), id);
  }

  private reuseOf(content: PromptIdentity, checkpoints: Checkpoint[], id: PromptIdentity): Reuse {
    // at most up to the checkpoint position: the positions after it are decoded in the same
    // batches as in a cold prefill (at least one: it gives the logits the first token is sampled from)
    const n = Math.min(content.commonPrefix(id), this.cuts(id).checkpoint);
    if (n <= 0) return { n: 0 };
    if (!this.recurrent || n === content.length) return { n };
    const checkpoint = deepest(checkpoints, n);
    return checkpoint ? { n: checkpoint.n, checkpoint } : { n: 0 };
  }

  /**
   * Makes `seq` hold the first n positions of `id` (the longest it can when `cachePrompt`) and
   * returns n: parks the conversation the sequence holds when checkpoints of it would be lost,
   * restores `parked` into it if given, restores the checkpoint if one is needed, then drops the
   * attention cells past it. Any failure there falls back to a cleared sequence (n = 0).
   */
  private async prepare(seq: number, id: PromptIdentity, cachePrompt: boolean, parked?: Parked): Promise<number> {
    const engine = this.ctx.model.engine, handle = this.ctx.handle;
    let reuse: Reuse = cachePrompt && !parked ? this.reusable(seq, id) : { n: 0 };
    if (this.recurrent && this.checkpoints.of(seq).some((c) => c.n > reuse.n)) {
      try {
        const state = await engine.call("stateGet", handle, seq, false);
        this.checkpoints.park(seq, reuse.n, this.contents[seq], state);
      } catch (e) {
        if (e instanceof EngineError && e.code === "engine_crashed") throw e;
      }
    }
    if (parked) {
      this.checkpoints.unpark(parked, seq);
      try {
        await engine.call("stateSet", handle, seq, parked.state, false);
        this.contents[seq] = parked.content;
        reuse = this.reusable(seq, id);
      } catch (e) {
        if (e instanceof EngineError && e.code === "engine_crashed") throw e;
      }
    }
    if (reuse.n > 0) {
      try {
        if (reuse.checkpoint) {
          this.checkpoints.touch(reuse.checkpoint);
          // a copy: the call moves its arguments' buffers to the worker
          await engine.call("stateSet", handle, seq, reuse.checkpoint.state.slice(), true);
        }
        const content = this.contents[seq];
        const trimmed = reuse.n === content.length || await engine.call("seqRm", handle, seq, reuse.n, -1);
        if (trimmed && (await engine.call("seqPosMax", handle, seq)) === reuse.n - 1) {
          this.contents[seq] = content.slice(reuse.n);
          this.checkpoints.dropAfter(seq, reuse.n);
          return reuse.n;
        }
      } catch (e) {
        if (e instanceof EngineError && e.code === "engine_crashed") throw e;
      }
    }
    this.forget(seq);
    await this.clear(seq);
    return 0;
  }

  /** The sequence's memory is no longer known: nothing of it is reused, its checkpoints go. */
  private forget(seq: number) {
    this.contents[seq] = new PromptIdentity();
    this.checkpoints.dropAfter(seq, 0);
  }

  /** Keeps the recurrent state of `seq` after its first n positions (a request never fails for want of one). */
  private async saveCheckpoint(seq: number, n: number) {
    if (this.checkpoints.budgetBytes <= 0) return;
    try {
      this.checkpoints.add(seq, n, await this.ctx.model.engine.call("stateGet", this.ctx.handle, seq, true));
    } catch (e) {
      if (e instanceof EngineError && e.code === "engine_crashed") throw e;
    }
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
      const t0 = performance.now();
      const id = PromptIdentity.of(job.input, this.ctx.model.info.nEmbd);
      const cachePrompt = job.options.cachePrompt ?? true;
      const { seq, parked } = this.pick(id, cachePrompt);
      const engine = this.ctx.model.engine;
      let sampler = 0, cached = 0;
      try {
        sampler = await engine.call("newSampler", this.ctx.model.handle, samplerParams(job.options));
        cached = await this.prepare(seq, id, cachePrompt, parked);
      } catch (e) {
        if (sampler) await engine.call("freeSampler", sampler).catch(() => {});
        this.forget(seq);
        this.release(seq);
        job.generation.finish(e as Error);
        continue;
      }
      this.slots.push({
        seq,
        job,
        sampler,
        prefill: this.prefillSteps(job.input, id, seq, cached, sampler, false, job.options.logprobs ?? -1),
        pending: -1,
        pos: job.input.tokens.length,
        cached,
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
        [this.decodeCalls, this.decodeBusySlots] = [this.decodeCalls + 1, this.decodeBusySlots + this.slots.length];
        const r = await filling.prefill!.next();
        if (r.done) {
          filling.prefill = undefined;
          filling.t1 = performance.now();
          this.promptTokensProcessed += filling.job.input.tokens.length - filling.cached;
          this.promptTokensCached += filling.cached;
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
      [this.decodeCalls, this.decodeBusySlots] = [this.decodeCalls + 1, this.decodeBusySlots + this.slots.length];
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
      this.contents[s.seq].tokens.push(s.pending);
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
    // a failed decode leaves the sequence's memory unknown (a cancelled request's is what it decoded)
    if (how instanceof Error && !(how instanceof AbortError)) this.forget(s.seq);
    this.release(s.seq);
    // a request that had a sequence ran on the crashed engine: it fails, never re-runs (routes/rerun.ts)
    if (how instanceof Error) return s.job.generation.finish(crashOfRunningRequest(how));
    const t2 = performance.now();
    const promptTokens = s.job.input.tokens.length;
    s.job.generation.finish({
      text: s.text,
      tokens: s.tokens,
      finishReason: how,
      usage: {
        promptTokens,
        completionTokens: s.tokens.length,
        totalTokens: promptTokens + s.tokens.length,
        cachedTokens: s.cached,
      },
      timings: { promptMs: s.t1 - s.t0, generateMs: t2 - s.t1 },
      ...(s.job.options.logprobs !== undefined ? { logprobs: s.logprobs } : {}),
    });
  }

  /**
   * Where a prompt's prefill is cut besides its `batchSize` chunks (counted from the last cut), the
   * same whatever came from the cache, so that a cached continuation decodes what follows its start
   * in the very batches a cold prefill does (where batches end changes the numbers a little):
   * - `checkpoint`: CHECKPOINT_BEFORE_END positions before the end, not inside the last embeddings;
   *   its state is saved, and it is the most a later request reuses;
   * - `earlier`: where the positions just before the checkpoint (a chat's assistant header, with a
   *   control token) occur before in the prompt: the checkpoints of its earlier turns, where a
   *   cached continuation starts;
   * - `last`: where the last batch starts, in the size class of a cold prefill's last chunk
   *   (LARGE_LAST_BATCH), so a prompt without history gives the logits it gave before the cache.
   */
  private cuts(id: PromptIdentity): { checkpoint: number; earlier: number[]; last: number } {
    const { tokens } = id;
    const n = tokens.length;
    const textStart = id.spans.length ? id.spans[id.spans.length - 1].end : 0;
    const coldLast = (n - 1 - textStart) % this.ctx.batchSize + 1; // size of a cold prefill's last chunk
    const last = coldLast === 1 || coldLast >= LARGE_LAST_BATCH ? n - 1 : n - Math.min(coldLast, CHECKPOINT_BEFORE_END);
    const checkpoint = Math.max(textStart, Math.min(last, n - CHECKPOINT_BEFORE_END));
    const header = tokens.slice(Math.max(0, checkpoint - HEADER_LENGTH), checkpoint);
    const earlier: number[] = [];
    // the header is text (not the last embeddings' placeholders) with a control token in it
    if (checkpoint - HEADER_LENGTH >= textStart && header.some((t) => this.ctx.model.vocab.isControl(t))) {
      for (let p = HEADER_LENGTH; p < checkpoint; p++) {
        if (header.every((t, k) => tokens[p - HEADER_LENGTH + k] === t)) earlier.push(p);
      }
    }
    return { checkpoint, earlier, last };
  }

  /**
   * Decodes a prompt on `seq` from position `from` (what it holds before is the prompt's) in
   * batches (text, then embedding spans in place of their placeholders, sequential positions), one
   * engine call per iteration. For a model with recurrent state, a chunk also ends at the
   * checkpoint position, whose state is then saved. From the last position it samples with
   * `sampler` (if not 0) and returns the logits when `wantLogits`.
   */
  private async *prefillSteps(
    input: PromptInput,
    id: PromptIdentity,
    seq: number,
    from: number,
    sampler: number,
    wantLogits: boolean,
    topLogprobs = -1,
  ) {
    const ctx = this.ctx;
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
      next = e.start + n;
    }
    if (next >= tokens.length) {
      throw new InvalidRequestError("the prompt must end with text after its images", "prompt");
    }
    const { checkpoint: mark, earlier, last: lastStart } = this.cuts(id);
    const cutsAt = [...earlier, mark, lastStart];
    const decoded = async (end: number) => {
      this.contents[seq] = id.slice(end);
      if (end === mark && mark > from && this.recurrent) await this.saveCheckpoint(seq, end);
    };
    let result = { token: -1, logits: null as Float32Array | null, logprobs: null as TokenLogprobs | null };
    const decodeTokens = async function* (segmentStart: number, to: number, isEnd: boolean) {
      for (let start = Math.max(segmentStart, from); start < to;) {
        let stop = Math.min(to, start + ctx.batchSize);
        for (const cut of cutsAt) if (cut > start && cut < stop) stop = cut;
        const chunk = tokens.slice(start, stop);
        const last = isEnd && stop === to;
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
        await decoded(stop);
        if (last) result = { token: r.tokens[0], logits: r.logits[0], logprobs: r.logprobs[0] };
        else yield;
        start = stop;
      }
    };
    next = 0;
    for (const e of spans) {
      const n = e.data.length / nEmbd;
      yield* decodeTokens(next, e.start, false);
      for (let i = Math.max(0, from - e.start); i < n; i += ctx.batchSize) {
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
        await decoded(e.start + i + rows);
        yield;
      }
      next = e.start + n;
    }
    yield* decodeTokens(next, tokens.length, true);
    return result;
  }
}
