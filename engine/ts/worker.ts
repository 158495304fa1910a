/**
 * The engine worker: owns the wasm module and answers RPCs from engine.ts. Inference blocks
 * this thread, never the caller's. A trap inside wasm marks the engine dead; the caller sees
 * EngineError("engine_crashed") and can start a new one.
 */

import { EngineError, InvalidRequestError } from "./errors.ts";
import { openSyncReader, parentPort, type SyncReader } from "./platform/index.ts";
import type {
  LlamaContextParams,
  RpcRequest,
  RpcResponse,
  SamplerParams,
  StepRequest,
  StepResult,
  TokenLogprob,
  TokenLogprobs,
} from "./rpc.ts";
import { transferables } from "./rpc.ts";
import { WasmApi } from "./wasm/api.ts";
import type { Ptr } from "./wasm/exports.ts";
import { instantiate, type SimdLevel } from "./wasm/module.ts";

/** log-softmax of the chosen token and the n most likely tokens (model distribution, T = 1). */
function logprobsOf(logits: Float32Array, chosen: number, n: number): TokenLogprobs {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  const top: TokenLogprob[] = []; // descending; ties keep the lower id first
  for (let i = 0; i < logits.length && n > 0; i++) {
    if (top.length === n && logits[i] <= top[n - 1].logprob) continue;
    let k = top.length < n ? top.length : n - 1;
    while (k > 0 && top[k - 1].logprob < logits[i]) k--;
    top.splice(k, 0, { token: i, logprob: logits[i] });
    if (top.length > n) top.pop();
  }
  for (const t of top) t.logprob -= lse;
  return { token: chosen, logprob: chosen >= 0 ? logits[chosen] - lse : 0, top };
}

let api: WasmApi | undefined;
let dead: string | undefined;
let threadCount = 1;
const models = new Map<Ptr, { dir: string; readers: SyncReader[]; nVocab: number }>();
const visions = new Map<Ptr, { dir: string; reader: SyncReader; nEmbd: number }>();

function need(): WasmApi {
  if (dead) throw new EngineError(`engine crashed earlier (${dead}); create a new engine`, "engine_crashed");
  if (!api) throw new EngineError("engine not initialised");
  return api;
}

const methods = {
  async init(wasmDir: string, simd: SimdLevel | "auto", threads: number, logLevel: number) {
    threadCount = threads;
    const { module: m, simd: level } = await instantiate(
      new URL(wasmDir),
      simd,
      threads,
      (line) => port.postMessage({ id: -1, log: line }),
    );
    m.onAbort = (what: unknown) => (dead = String(what));
    api = new WasmApi(m);
    api.init(logLevel);
    return { threads, simd: level };
  },

  async loadModel(files: { name: string; file: string | Blob }[]) {
    const a = need();
    const readers: Record<string, SyncReader> = {};
    for (const f of files) readers[f.name] = await openSyncReader(f.file);
    const { dir, paths } = a.mount(readers);
    const model = a.modelLoad(paths);
    if (!model) {
      Object.values(readers).forEach((r) => r.close());
      a.unmount(dir);
      throw new EngineError(`cannot load model: ${a.lastError("unknown error")}`, "load_failed");
    }
    const info = a.modelInfo(model);
    models.set(model, { dir, readers: Object.values(readers), nVocab: info.nVocab });
    return {
      model,
      info: { ...info, memoryKind: a.memoryKind(model) },
      vocab: a.vocabulary(model, info.nVocab),
      chatTemplate: a.modelMeta(model, "tokenizer.chat_template"),
      name: a.modelMeta(model, "general.name"),
    };
  },

  freeModel(model: Ptr) {
    const entry = models.get(model);
    if (!entry) return;
    const a = need();
    a.modelFree(model);
    entry.readers.forEach((r) => r.close());
    a.unmount(entry.dir);
    models.delete(model);
  },

  newContext(model: Ptr, o: LlamaContextParams) {
    const a = need();
    const ctx = a.contextNew(model, { ...o, threads: Math.min(o.threads, threadCount) });
    if (!ctx) throw new EngineError(`cannot create context: ${a.lastError("unknown error")}`, "context_failed");
    return { ctx, nCtx: a.contextNCtx(ctx), nCtxSeq: a.contextNCtxSeq(ctx) };
  },

  freeContext(ctx: Ptr) {
    need().contextFree(ctx);
  },

  tokenize(model: Ptr, text: string, addSpecial: boolean, parseSpecial: boolean) {
    return need().tokenize(model, text, addSpecial, parseSpecial);
  },

  newSampler(model: Ptr, params: SamplerParams) {
    const a = need();
    const s = a.samplerNew(model, params);
    if (!s) throw new EngineError(`invalid sampler settings: ${a.lastError("bad grammar")}`, "invalid_grammar");
    return s;
  },

  freeSampler(s: Ptr) {
    need().samplerFree(s);
  },

  step(ctx: Ptr, model: Ptr, r: StepRequest): StepResult {
    const a = need();
    const logitsFlags = new Uint8Array(r.tokens.length);
    for (const i of r.outputs) logitsFlags[i] = 1;
    const code = a.decode(ctx, r.tokens, r.pos, r.seqIds, logitsFlags);
    if (code !== 0) return { code, tokens: [], logits: [], logprobs: [] };
    const nVocab = models.get(model)!.nVocab;
    const tokens: number[] = [];
    const logits: (Float32Array | null)[] = [];
    const logprobs: StepResult["logprobs"] = [];
    r.outputs.forEach((idx, k) => {
      const n = r.topLogprobs?.[k] ?? -1;
      // copied before sampling, which may modify them in place
      const raw = r.wantLogits[k] || n >= 0 ? a.logits(ctx, idx, nVocab) : null;
      logits.push(r.wantLogits[k] ? raw : null);
      const token = r.samplers[k] ? a.samplerSample(r.samplers[k], ctx, idx) : -1;
      tokens.push(token);
      logprobs.push(n >= 0 ? logprobsOf(raw!, token, n) : null);
    });
    return { code, tokens, logits, logprobs };
  },

  decodeEmbeddings(
    ctx: Ptr,
    model: Ptr,
    embd: Float32Array,
    nEmbd: number,
    pos: Int32Array,
    seqId: number,
    want: boolean,
  ) {
    const a = need();
    const code = a.decodeEmbeddings(ctx, embd, nEmbd, pos, seqId, want);
    if (code !== 0 || !want) return { code, logits: null };
    return { code, logits: a.logits(ctx, pos.length - 1, models.get(model)!.nVocab) };
  },

  async loadVision(file: { name: string; file: string | Blob }) {
    const a = need();
    const reader = await openSyncReader(file.file);
    const { dir, paths } = a.mount({ [file.name]: reader });
    const v = a.visionLoad(paths[0]);
    if (!v) {
      reader.close();
      a.unmount(dir);
      throw new EngineError(`cannot load mmproj: ${a.lastError("unknown error")}`, "load_failed");
    }
    const info = a.visionInfo(v);
    visions.set(v, { dir, reader, nEmbd: info.nEmbd });
    return { vision: v, ...info };
  },

  freeVision(v: Ptr) {
    const entry = visions.get(v);
    if (!entry) return;
    const a = need();
    a.visionFree(v);
    entry.reader.close();
    a.unmount(entry.dir);
    visions.delete(v);
  },

  /** One preprocessed tile (h x w x 3 normalised floats) to n_tokens x n_embd embeddings. */
  encodeTile(v: Ptr, merge: number, width: number, height: number, rgb: Float32Array) {
    const a = need();
    const entry = visions.get(v);
    if (!entry) throw new EngineError("unknown vision model");
    const out = a.visionEncode(v, threadCount, merge, width, height, rgb, entry.nEmbd);
    if (!out) throw new EngineError(`vision encode failed: ${a.lastError("unknown error")}`, "encode_failed");
    return out;
  },

  jsonSchemaToGrammar(schema: string) {
    const a = need();
    const g = a.jsonSchemaToGrammar(schema);
    if (g === undefined) {
      throw new InvalidRequestError(`invalid JSON schema: ${a.lastError("conversion failed")}`, "json_schema");
    }
    return g;
  },

  /** Bytes of wasm memory now reserved by the engine (it only grows): for memory measurements. */
  memoryBytes() {
    return need().m.wasmMemory.buffer.byteLength;
  },

  /** Test only: a trap inside wasm, to check the caller survives it. */
  debugCrash() {
    need().debugTrap();
  },

  seqRm(ctx: Ptr, seq: number, p0: number, p1: number) {
    return need().seqRm(ctx, seq, p0, p1);
  },
  seqPosMax(ctx: Ptr, seq: number) {
    return need().seqPosMax(ctx, seq);
  },
  /** A sequence's state (`partial`: the recurrent part only), moved to the caller. */
  stateGet(ctx: Ptr, seq: number, partial: boolean) {
    const a = need();
    const state = a.stateGet(ctx, seq, partial);
    if (!state) throw new EngineError(`cannot save sequence ${seq}: ${a.lastError("unknown error")}`, "state_failed");
    return state;
  },
  /** Restores a state from stateGet; a partial one replaces only the recurrent part. */
  stateSet(ctx: Ptr, seq: number, state: Uint8Array, partial: boolean) {
    const a = need();
    if (!a.stateSet(ctx, seq, state, partial)) {
      throw new EngineError(`cannot restore sequence ${seq}: ${a.lastError("unknown error")}`, "state_failed");
    }
  },
  memoryClear(ctx: Ptr) {
    need().memoryClear(ctx);
  },
};

export type WorkerMethods = typeof methods;

const port = await parentPort();
port.onMessage(async (msg) => {
  const { id, method, args } = msg as RpcRequest;
  let res: RpcResponse;
  try {
    const fn = (methods as Record<string, (...a: unknown[]) => unknown>)[method];
    if (!fn) throw new EngineError(`unknown engine method ${method}`);
    const value = await fn(...args);
    res = { id, ok: true, value };
  } catch (e) {
    const err = e as Error & { code?: string; param?: string };
    if (!(e instanceof EngineError) && (e instanceof WebAssembly.RuntimeError || dead)) {
      dead ??= err.message;
      res = {
        id,
        ok: false,
        error: { name: "EngineError", message: `engine crashed: ${err.message}`, code: "engine_crashed" },
      };
    } else {
      res = {
        id,
        ok: false,
        error: { name: err.name ?? "Error", message: err.message ?? String(e), code: err.code, param: err.param },
      };
    }
  }
  port.postMessage(res, "value" in res ? transferables(res.value) : []);
});
