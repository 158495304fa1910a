/**
 * Typed access to the glue's mce_* exports (engine/wasm/glue.cpp) and the wasm heap.
 * Used only inside the engine worker; pointers never leave it.
 */

import { EngineError } from "../errors.ts";
import type { SyncReader } from "../platform/index.ts";
import type { LlamaContextParams, SamplerParams } from "../rpc.ts";
import type { EmscriptenModule, Ptr } from "./exports.ts";
import { createSourceFs } from "./source-fs.ts";

const encoder = new TextEncoder();

export class WasmApi {
  private mounts = 0;
  constructor(readonly m: EmscriptenModule) {}

  // ---- heap helpers ----
  private get u8() {
    return new Uint8Array(this.m.wasmMemory.buffer);
  }
  private alloc(bytes: number): Ptr {
    const p = this.m._malloc(Math.max(1, bytes)) >>> 0; // pointers above 2 GiB come back negative
    if (!p) throw new EngineError(`out of wasm memory allocating ${bytes} bytes`, "out_of_memory");
    return p;
  }
  private withBytes<T>(bytes: Uint8Array, f: (p: Ptr) => T): T {
    const p = this.alloc(bytes.length + 1);
    try {
      this.u8.set(bytes, p);
      this.u8[p + bytes.length] = 0;
      return f(p);
    } finally {
      this.m._free(p);
    }
  }
  private withString<T>(s: string, f: (p: Ptr, len: number) => T): T {
    const b = encoder.encode(s);
    return this.withBytes(b, (p) => f(p, b.length));
  }
  private withI32<T>(values: ArrayLike<number>, f: (p: Ptr) => T): T {
    const p = this.alloc(values.length * 4);
    try {
      new Int32Array(this.m.wasmMemory.buffer, p, values.length).set(values);
      return f(p);
    } finally {
      this.m._free(p);
    }
  }
  lastError(fallback: string): string {
    const msg = this.m.UTF8ToString(this.m._mce_last_error()).trim();
    return msg || fallback;
  }

  init(logLevel: number) {
    this.m._mce_init(logLevel);
  }

  // ---- files ----
  /** Mounts host files (read on demand) and returns their paths inside the wasm FS. */
  mount(files: Record<string, SyncReader>): { dir: string; paths: string[] } {
    const dir = `/m${this.mounts++}`;
    this.m.FS.mkdir(dir);
    this.m.FS.mount(createSourceFs(this.m.FS), { files }, dir);
    return { dir, paths: Object.keys(files).map((n) => `${dir}/${n}`) };
  }
  unmount(dir: string) {
    this.m.FS.unmount(dir);
    this.m.FS.rmdir(dir);
  }

  // ---- model ----
  modelLoad(paths: string[]): Ptr {
    const ptrs = paths.map((p) => {
      const b = encoder.encode(p);
      const q = this.alloc(b.length + 1);
      this.u8.set(b, q);
      this.u8[q + b.length] = 0;
      return q;
    });
    try {
      return this.withI32(ptrs, (arr) => this.m._mce_model_load(arr, paths.length) >>> 0);
    } finally {
      ptrs.forEach((p) => this.m._free(p));
    }
  }
  modelFree(model: Ptr) {
    this.m._mce_model_free(model);
  }
  modelInfo(model: Ptr) {
    return {
      nVocab: this.m._mce_model_n_vocab(model),
      nEmbd: this.m._mce_model_n_embd(model),
      nCtxTrain: this.m._mce_model_n_ctx_train(model),
      sizeBytes: this.m._mce_model_size(model),
    };
  }
  modelMeta(model: Ptr, key: string): string | undefined {
    return this.withString(key, (k) => {
      const n = this.m._mce_model_meta(model, k, 0, 0);
      if (n < 0) return undefined;
      const buf = this.alloc(n + 1);
      try {
        this.m._mce_model_meta(model, k, buf, n + 1);
        return this.m.UTF8ToString(buf, n);
      } finally {
        this.m._free(buf);
      }
    });
  }

  /** Every token's bytes (special tokens rendered), packed, plus attributes and the EOG ids. */
  vocabulary(model: Ptr, nVocab: number) {
    const offsets = this.alloc((nVocab + 1) * 4);
    const attrPtr = this.alloc(nVocab * 4);
    try {
      const total = this.m._mce_vocab_dump(model, 0, 0, 0, 0);
      const buf = this.alloc(total);
      try {
        this.m._mce_vocab_dump(model, buf, total, offsets, attrPtr);
        const mem = this.m.wasmMemory.buffer;
        const attrs = new Int32Array(mem, attrPtr, nVocab).slice();
        const eog: number[] = [];
        for (let t = 0; t < nVocab; t++) if (this.m._mce_token_is_eog(model, t)) eog.push(t);
        return {
          pieces: new Uint8Array(mem, buf, total).slice(),
          offsets: new Uint32Array(mem, offsets, nVocab + 1).slice(),
          attrs,
          eog,
        };
      } finally {
        this.m._free(buf);
      }
    } finally {
      this.m._free(offsets);
      this.m._free(attrPtr);
    }
  }

  tokenize(model: Ptr, text: string, addSpecial: boolean, parseSpecial: boolean): Int32Array {
    return this.withString(text, (p, len) => {
      let cap = len + 16;
      for (;;) {
        const out = this.alloc(cap * 4);
        try {
          const n = this.m._mce_tokenize(model, p, len, out, cap, addSpecial ? 1 : 0, parseSpecial ? 1 : 0);
          if (n >= 0) return new Int32Array(this.m.wasmMemory.buffer, out, n).slice();
          cap = -n;
        } finally {
          this.m._free(out);
        }
      }
    });
  }

  // ---- context ----
  contextNew(model: Ptr, o: LlamaContextParams): Ptr {
    return this.m._mce_context_new(model, o.nCtx, o.nBatch, o.nUbatch, o.nSeqMax, o.threads) >>> 0;
  }
  contextFree(ctx: Ptr) {
    this.m._mce_context_free(ctx);
  }
  contextNCtx(ctx: Ptr): number {
    return this.m._mce_context_n_ctx(ctx);
  }
  contextNCtxSeq(ctx: Ptr): number {
    return this.m._mce_context_n_ctx_seq(ctx);
  }

  decode(ctx: Ptr, tokens: Int32Array, pos: Int32Array, seqIds: Int32Array, logits: Uint8Array): number {
    const n = tokens.length;
    const p = this.alloc(n * 13);
    try {
      const mem = this.m.wasmMemory.buffer;
      new Int32Array(mem, p, n).set(tokens);
      new Int32Array(mem, p + 4 * n, n).set(pos);
      new Int32Array(mem, p + 8 * n, n).set(seqIds);
      new Uint8Array(mem, p + 12 * n, n).set(logits);
      return this.m._mce_decode(ctx, n, p, p + 4 * n, p + 8 * n, p + 12 * n);
    } finally {
      this.m._free(p);
    }
  }

  decodeEmbeddings(ctx: Ptr, embd: Float32Array, nEmbd: number, pos: Int32Array, seqId: number, wantLogits: boolean) {
    const n = pos.length;
    const p = this.alloc(embd.length * 4 + n * 4);
    try {
      const mem = this.m.wasmMemory.buffer;
      new Float32Array(mem, p, embd.length).set(embd);
      new Int32Array(mem, p + embd.length * 4, n).set(pos);
      if (embd.length !== n * nEmbd) {
        throw new EngineError(`embeddings: expected ${n * nEmbd} floats, got ${embd.length}`);
      }
      return this.m._mce_decode_embd(ctx, n, p, p + embd.length * 4, seqId, wantLogits ? 1 : 0);
    } finally {
      this.m._free(p);
    }
  }

  logits(ctx: Ptr, i: number, nVocab: number): Float32Array {
    return this.logitsView(ctx, i, nVocab).slice();
  }
  /** The logits of output i in the heap: valid until the next decode or allocation. */
  logitsView(ctx: Ptr, i: number, nVocab: number): Float32Array {
    const p = this.m._mce_logits(ctx, i) >>> 0;
    if (!p) throw new EngineError(`no logits for output ${i}`);
    return new Float32Array(this.m.wasmMemory.buffer, p, nVocab);
  }
  jsonSchemaToGrammar(schema: string): string | undefined {
    const p = this.withString(schema, (s) => this.m._mce_json_schema_to_grammar(s) >>> 0);
    return p ? this.m.UTF8ToString(p) : undefined;
  }

  memoryClear(ctx: Ptr) {
    this.m._mce_memory_clear(ctx);
  }
  seqRm(ctx: Ptr, seq: number, p0: number, p1: number): boolean {
    return this.m._mce_seq_rm(ctx, seq, p0, p1) === 1;
  }
  seqPosMax(ctx: Ptr, seq: number): number {
    return this.m._mce_seq_pos_max(ctx, seq);
  }
  /** "attention": any suffix can be trimmed; "recurrent"/"hybrid": the recurrent state only saved and restored */
  memoryKind(model: Ptr): "attention" | "recurrent" | "hybrid" {
    return (["attention", "recurrent", "hybrid"] as const)[this.m._mce_model_memory_kind(model)];
  }
  /** A copy of a sequence's state (`partial`: the recurrent part only); null on failure. */
  stateGet(ctx: Ptr, seq: number, partial: boolean): Uint8Array | null {
    const flags = partial ? 1 : 0;
    const size = this.m._mce_state_seq_size(ctx, seq, flags) >>> 0;
    if (!size) return null;
    const p = this.alloc(size);
    try {
      const n = this.m._mce_state_seq_get(ctx, seq, p, size, flags) >>> 0;
      return n ? new Uint8Array(this.m.wasmMemory.buffer, p, n).slice() : null;
    } finally {
      this.m._free(p);
    }
  }
  /** Restores what stateGet returned (with the same `partial`) into `seq`; false on failure. */
  stateSet(ctx: Ptr, seq: number, state: Uint8Array, partial: boolean): boolean {
    const p = this.alloc(state.length);
    try {
      this.u8.set(state, p);
      return (this.m._mce_state_seq_set(ctx, seq, p, state.length, partial ? 1 : 0) >>> 0) > 0;
    } finally {
      this.m._free(p);
    }
  }

  // ---- sampling ----
  samplerNew(model: Ptr, s: SamplerParams): Ptr {
    return this.withString(
      s.grammar ?? "",
      (g) =>
        this.withString(s.grammarRoot ?? "root", (r) =>
          this.m._mce_sampler_new(
            model,
            s.temperature,
            s.topK,
            s.topP,
            s.minP,
            s.penaltyLastN,
            s.repeatPenalty,
            s.frequencyPenalty,
            s.presencePenalty,
            s.seed >>> 0,
            g,
            r,
            s.grammarTriggerToken ?? -1,
          ) >>> 0),
    );
  }
  samplerSample(sampler: Ptr, ctx: Ptr, i: number): number {
    return this.m._mce_sampler_sample(sampler, ctx, i);
  }
  samplerFree(sampler: Ptr) {
    this.m._mce_sampler_free(sampler);
  }

  // ---- vision ----
  visionLoad(path: string): Ptr {
    return this.withString(path, (p) => this.m._mce_vision_load(p) >>> 0);
  }
  visionFree(v: Ptr) {
    this.m._mce_vision_free(v);
  }
  visionInfo(v: Ptr) {
    return { nEmbd: this.m._mce_vision_n_embd(v), fileMerge: this.m._mce_vision_file_merge(v) };
  }
  /** Encodes one tile (h x w x 3 normalised floats); merge 4 = 16x, 2 = 4x. Null on failure. */
  visionEncode(v: Ptr, threads: number, merge: number, w: number, h: number, rgb: Float32Array, nEmbd: number) {
    const cap = Math.ceil((w / 14) * (h / 14) / (merge * merge)) * nEmbd;
    const inp = this.alloc(rgb.length * 4);
    const out = this.alloc(cap * 4);
    try {
      new Float32Array(this.m.wasmMemory.buffer, inp, rgb.length).set(rgb);
      const n = this.m._mce_vision_encode(v, threads, merge, w, h, inp, out, cap);
      if (n < 0) return null;
      return new Float32Array(this.m.wasmMemory.buffer, out, n * nEmbd).slice();
    } finally {
      this.m._free(inp);
      this.m._free(out);
    }
  }

  /** Test only: traps inside wasm. */
  debugTrap() {
    this.m._mce_debug_trap();
  }
}
