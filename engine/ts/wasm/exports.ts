/**
 * The emscripten module's shape: every mce_* export of engine/wasm/glue.cpp with its signature,
 * plus what scripts/build-wasm.sh exports from emscripten's runtime. Typed so that `tsc` catches
 * a call in api.ts that no longer matches the glue; tests/unit/glue-exports.test.ts checks that
 * these lists and glue.cpp / build-wasm.sh name the same functions.
 *
 * C to JS: pointers, int32_t, uint32_t, float and double are all JS numbers. A pointer returned
 * by the glue is a signed i32, so pointers above 2 GiB come back negative (callers use `>>> 0`).
 */

/** An address in the wasm heap (never leaves the engine worker). */
export type Ptr = number;

/** glue.cpp's exports, named as emscripten names them (`_` + the C name). */
export interface GlueExports {
  // ---- process
  _mce_init(logLevel: number): void;
  /** the reason for the most recent failure, a C string ("" when none) */
  _mce_last_error(): Ptr;

  // ---- model
  /** `paths`: an array of `nPaths` C strings (the shards of one split set, in order) */
  _mce_model_load(paths: Ptr, nPaths: number): Ptr;
  _mce_model_free(model: Ptr): void;
  _mce_model_n_vocab(model: Ptr): number;
  _mce_model_n_embd(model: Ptr): number;
  _mce_model_n_ctx_train(model: Ptr): number;
  /** bytes (a C double) */
  _mce_model_size(model: Ptr): number;
  /** the value's length, or -1 when the key is absent */
  _mce_model_meta(model: Ptr, key: Ptr, buf: Ptr, size: number): number;
  /** 1 or 0 */
  _mce_token_is_eog(model: Ptr, token: number): number;
  /** the bytes needed for every token's piece; `buf` is written only when they fit `cap` */
  _mce_vocab_dump(model: Ptr, buf: Ptr, cap: number, offsets: Ptr, attrs: Ptr): number;

  // ---- tokens
  /** the number of tokens, or -(needed) when `capacity` is too small */
  _mce_tokenize(
    model: Ptr,
    text: Ptr,
    len: number,
    out: Ptr,
    capacity: number,
    addSpecial: number,
    parseSpecial: number,
  ): number;

  // ---- context
  _mce_context_new(model: Ptr, nCtx: number, nBatch: number, nUbatch: number, nSeqMax: number, nThreads: number): Ptr;
  _mce_context_free(ctx: Ptr): void;
  _mce_context_n_ctx(ctx: Ptr): number;
  _mce_context_n_ctx_seq(ctx: Ptr): number;
  /** llama_decode's code (0 ok); `logits` is an int8 flag per token */
  _mce_decode(ctx: Ptr, n: number, tokens: Ptr, pos: Ptr, seqIds: Ptr, logits: Ptr): number;
  _mce_decode_embd(ctx: Ptr, n: number, embd: Ptr, pos: Ptr, seqId: number, wantLastLogits: number): number;
  /** output i's logits (n_vocab floats), or 0 */
  _mce_logits(ctx: Ptr, i: number): Ptr;
  _mce_memory_clear(ctx: Ptr): void;
  /** 1 when removed */
  _mce_seq_rm(ctx: Ptr, seq: number, p0: number, p1: number): number;
  /** the sequence's last position, -1 when empty */
  _mce_seq_pos_max(ctx: Ptr, seq: number): number;
  /** 0 attention only, 1 recurrent, 2 hybrid */
  _mce_model_memory_kind(model: Ptr): number;
  /** bytes of a sequence's state (`flags` 1: the recurrent part only); 0 on failure */
  _mce_state_seq_size(ctx: Ptr, seq: number, flags: number): number;
  /** bytes written, 0 on failure */
  _mce_state_seq_get(ctx: Ptr, seq: number, dst: Ptr, size: number, flags: number): number;
  /** bytes read, 0 on failure (reason in mce_last_error) */
  _mce_state_seq_set(ctx: Ptr, seq: number, src: Ptr, size: number, flags: number): number;

  // ---- sampling
  /** 0 on a bad grammar; `triggerToken` >= 0 makes the grammar lazy */
  _mce_sampler_new(
    model: Ptr,
    temp: number,
    topK: number,
    topP: number,
    minP: number,
    penaltyLastN: number,
    penaltyRepeat: number,
    penaltyFreq: number,
    penaltyPresent: number,
    seed: number,
    grammar: Ptr,
    grammarRoot: Ptr,
    triggerToken: number,
  ): Ptr;
  /** the sampled token (also accepted), or -1 */
  _mce_sampler_sample(sampler: Ptr, ctx: Ptr, i: number): number;
  _mce_sampler_free(sampler: Ptr): void;

  // ---- vision
  _mce_vision_load(path: Ptr): Ptr;
  _mce_vision_free(vision: Ptr): void;
  _mce_vision_n_embd(vision: Ptr): number;
  /** n_merge written in the file: 4 = 16x, 2 = 4x */
  _mce_vision_file_merge(vision: Ptr): number;
  /** n_tokens, or -1 */
  _mce_vision_encode(
    vision: Ptr,
    nThreads: number,
    merge: number,
    w: number,
    h: number,
    rgb: Ptr,
    out: Ptr,
    outCapacity: number,
  ): number;

  // ---- tests
  _mce_debug_trap(): void;
  /** the grammar (a C string valid until the next call), or 0 */
  _mce_json_schema_to_grammar(schemaJson: Ptr): Ptr;
}

/** The parts of emscripten's FS used here and by source-fs.ts. */
export interface EmscriptenFs {
  mkdir(path: string): unknown;
  rmdir(path: string): void;
  mount(type: object, opts: object, mountpoint: string): unknown;
  unmount(mountpoint: string): void;
  createNode(parent: unknown, name: string, mode: number): Record<string, unknown>;
  ErrnoError: new (errno: number) => Error;
}

/** build-wasm.sh's -sEXPORTED_FUNCTIONS and -sEXPORTED_RUNTIME_METHODS, one member each. */
export interface RuntimeExports {
  _malloc(bytes: number): Ptr;
  _free(ptr: Ptr): void;
  FS: EmscriptenFs;
  UTF8ToString(ptr: Ptr, maxBytesToRead?: number): string;
}

/** What `createMceModule()` resolves to, as the engine worker uses it. */
export interface EmscriptenModule extends GlueExports, RuntimeExports {
  /** the heap (shared with the pthreads); it can grow, so views are made per use */
  wasmMemory: WebAssembly.Memory;
  /** called when the program aborts (a trap or abort()) */
  onAbort?: (what: unknown) => void;
}
