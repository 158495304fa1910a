/**
 * Will model + mmproj + context fit in the 4 GiB a wasm32 engine can address? Checked from
 * the GGUF headers before any byte is loaded, with a message that says what to change.
 * Estimates follow llama.cpp's allocations: weights as stored, F16 KV cache for the attention
 * layers, F32 recurrent state for the linear-attention layers, compute buffers for one ubatch
 * and one 448x448 vision tile, plus the runtime (module, stacks, allocator slack).
 */

import { MemoryBudgetError } from "./errors.ts";
import type { ModelFiles } from "./gguf/model-files.ts";
import { metaNumber } from "./gguf/reader.ts";

/** -sMAXIMUM_MEMORY=4GB (scripts/build-wasm.sh): the wasm32 address space. */
export const WASM_MEMORY_LIMIT = 4 * 1024 ** 3;
/** module, thread stacks, allocator slack and host-side buffers inside the heap */
const RUNTIME_BYTES = 192 * 1024 ** 2;

export interface BudgetInput {
  model: ModelFiles;
  mmproj?: ModelFiles;
  /** context tokens (default 4096) */
  contextSize?: number;
  batchSize?: number;
  sequences?: number;
}

export interface MemoryEstimate {
  weights: number;
  mmproj: number;
  kvCache: number;
  recurrentState: number;
  compute: number;
  runtime: number;
  total: number;
}

export function estimateMemory(i: BudgetInput): MemoryEstimate {
  const h = i.model.headers[0];
  const a = i.model.architecture;
  const n = (key: string, dflt = 0) => metaNumber(h, `${a}.${key}`) ?? dflt;
  const nCtx = Math.min(i.contextSize ?? 4096, n("context_length", 4096) || 4096);
  const nBatch = Math.min(i.batchSize ?? 512, nCtx);
  const seqs = i.sequences ?? 1;
  const embd = n("embedding_length");
  const layers = n("block_count");
  const heads = n("attention.head_count", 1);
  const headsKv = n("attention.head_count_kv", heads);
  const kLen = n("attention.key_length", embd / heads);
  const vLen = n("attention.value_length", embd / heads);
  const interval = n("full_attention_interval", 1);
  const attnLayers = Math.floor(layers / interval);
  const kvCache = nCtx * attnLayers * headsKv * (kLen + vLen) * 2;
  const linear = layers - attnLayers;
  const state = n("ssm.state_size");
  const convDim = 2 * state * n("ssm.group_count") + n("ssm.inner_size");
  const recurrentState = seqs * linear * 4 * ((n("ssm.conv_kernel") - 1) * convDim + state * n("ssm.inner_size"));
  const ff = n("feed_forward_length");
  const vocab = h.tensors.find((t) => t.name === "token_embd.weight")?.shape[1] ?? 0;
  let compute = nBatch * 4 * (3 * ff + 10 * embd) + nBatch * nCtx * heads * 4 + vocab * 4 * seqs;
  if (i.mmproj) {
    const vh = i.mmproj.headers[0];
    const width = metaNumber(vh, "clip.vision.embedding_length") ?? 0;
    const vff = metaNumber(vh, "clip.vision.feed_forward_length") ?? 0;
    const vheads = metaNumber(vh, "clip.vision.attention.head_count") ?? 1;
    const patches = (448 / 14) ** 2;
    compute += patches * 4 * (12 * width + 2 * vff) + vheads * patches * patches * 4;
  }
  const weights = i.model.totalBytes;
  const mmproj = i.mmproj?.totalBytes ?? 0;
  const total = weights + mmproj + kvCache + recurrentState + compute + RUNTIME_BYTES;
  return { weights, mmproj, kvCache, recurrentState, compute, runtime: RUNTIME_BYTES, total };
}

const gb = (b: number) => `${(b / 1024 ** 3).toFixed(2)} GiB`;
const mb = (b: number) => `${Math.round(b / 1024 ** 2)} MiB`;

/** Throws MemoryBudgetError, saying what to change, when the estimate exceeds the limit. */
export function checkMemoryBudget(i: BudgetInput, limit = WASM_MEMORY_LIMIT): MemoryEstimate {
  const e = estimateMemory(i);
  if (e.total <= limit) return e;
  const parts = [
    `model ${gb(e.weights)} (${i.model.paths[0]})`,
    ...(i.mmproj ? [`mmproj ${gb(e.mmproj)} (${i.mmproj.paths[0]})`] : []),
    `context of ${i.contextSize ?? 4096} tokens ${mb(e.kvCache + e.recurrentState)}`,
    `compute buffers ${mb(e.compute)}`,
    `runtime ${mb(e.runtime)}`,
  ];
  const advice: string[] = [];
  if (e.weights > limit / 2) {
    advice.push("use a smaller quantization of the language model (e.g. Q4_K_M instead of F16/Q8_0)");
  }
  if (e.mmproj > 0) advice.push("load without --mmproj (text only)");
  if (e.kvCache > 256 * 1024 ** 2) advice.push("lower --ctx-size");
  advice.push("or run native llama.cpp, which has no 4 GiB limit");
  throw new MemoryBudgetError(
    `the model does not fit in WebAssembly memory: ${parts.join(" + ")} = ${gb(e.total)}, ` +
      `over the ${gb(limit)} a wasm32 engine can address. To fit: ${advice.join("; ")}.`,
    e.total,
    limit,
  );
}
