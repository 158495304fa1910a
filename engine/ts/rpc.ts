/**
 * The engine worker's protocol: the messages between the engine client (any thread) and the
 * worker, and the argument and result types of its methods. The methods themselves are typed by
 * `typeof methods` in worker.ts (`WorkerMethods`), so a call and its answer cannot drift apart.
 */

export interface RpcRequest {
  id: number;
  method: string;
  args: unknown[];
}

export interface RpcError {
  name: string;
  message: string;
  code?: string;
  param?: string;
}

export type RpcResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: RpcError }
  | { id: -1; log: string };

/** llama.cpp context parameters for `newContext` (the public options are model.ts's ContextOptions). */
export interface LlamaContextParams {
  nCtx: number;
  nBatch: number;
  nUbatch: number;
  nSeqMax: number;
  threads: number;
}

/** A sampler chain for `newSampler`, checked and defaulted by generation.ts's samplerParams(). */
export interface SamplerParams {
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  penaltyLastN: number;
  repeatPenalty: number;
  frequencyPenalty: number;
  presencePenalty: number;
  seed: number;
  grammar?: string;
  grammarRoot?: string;
  /** the grammar applies from this token on (lazy grammar; e.g. <tool_call>) */
  grammarTriggerToken?: number;
}

/** One decode step: a batch, then per-output sampling and/or logits. */
export interface StepRequest {
  tokens: Int32Array;
  pos: Int32Array;
  seqIds: Int32Array;
  /** batch indices whose outputs are used */
  outputs: number[];
  /** per output: sampler handle to sample with, or 0 */
  samplers: number[];
  /** per output: return the logits */
  wantLogits: boolean[];
  /** per output: log-probabilities of the sampled token and this many alternatives (-1: none) */
  topLogprobs?: number[];
}

export interface TokenLogprob {
  token: number;
  logprob: number;
}

/** A token's log-probability and the most likely alternatives at its position. */
export interface TokenLogprobs extends TokenLogprob {
  top: TokenLogprob[];
}

export interface StepResult {
  code: number;
  tokens: number[];
  logits: (Float32Array | null)[];
  logprobs: (TokenLogprobs | null)[];
}

/** Typed arrays in a value that can be moved instead of copied. */
export function transferables(value: unknown, out: Transferable[] = []): Transferable[] {
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer && !out.includes(value.buffer)) out.push(value.buffer);
  } else if (Array.isArray(value)) {
    for (const v of value) transferables(v, out);
  } else if (value && typeof value === "object" && !(value instanceof Blob)) {
    for (const v of Object.values(value)) transferables(v, out);
  }
  return out;
}
