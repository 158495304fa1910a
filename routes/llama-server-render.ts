/**
 * llama-server's response bodies: /completion (whole and streamed), /props and /slots, in the field names
 * llama-server's UIs and client libraries read. Pure functions of engine results and settings.
 */

import type { GenerationResult, TokenLogprobs } from "../engine/ts/generate.ts";
import { samplerParams } from "../engine/ts/generation.ts";
import type { TokenBytes } from "./openai-render.ts";

/** tokens a /completion generates when it names no n_predict (as every route of this server) */
export const DEFAULT_N_PREDICT = 256;

/** What a /completion response echoes of its request. */
export interface CompletionSettings {
  nPredict: number;
  stop: string[];
  returnTokens: boolean;
}

/** llama-server's `completion_probabilities`: per token, its log-probability and the likeliest alternatives. */
export function completionProbabilities(vocab: TokenBytes, lps: TokenLogprobs[]) {
  const d = new TextDecoder();
  const entry = (token: number, logprob: number) => {
    const bytes = [...vocab.bytes(token)];
    return { id: token, token: d.decode(vocab.bytes(token)), bytes, logprob };
  };
  return lps.map((l) => ({ ...entry(l.token, l.logprob), top_logprobs: l.top.map((t) => entry(t.token, t.logprob)) }));
}

/** llama-server's `timings` of a finished generation. */
export function completionTimings(r: GenerationResult) {
  const rate = (n: number, ms: number) => ({ perToken: n ? ms / n : 0, perSecond: ms > 0 ? (1000 * n) / ms : 0 });
  const promptN = r.usage.promptTokens - (r.usage.cachedTokens ?? 0);
  const p = rate(promptN, r.timings.promptMs);
  const g = rate(r.usage.completionTokens, r.timings.generateMs);
  return {
    cache_n: r.usage.cachedTokens ?? 0,
    prompt_n: promptN,
    prompt_ms: r.timings.promptMs,
    prompt_per_token_ms: p.perToken,
    prompt_per_second: p.perSecond,
    predicted_n: r.usage.completionTokens,
    predicted_ms: r.timings.generateMs,
    predicted_per_token_ms: g.perToken,
    predicted_per_second: g.perSecond,
  };
}

/** One streamed /completion event before the last: the text piece (and its tokens when asked for). */
export function completionChunk(content: string, tokens: number[], s: CompletionSettings, probs?: unknown[]) {
  return {
    index: 0,
    content,
    tokens: s.returnTokens ? tokens : [],
    stop: false,
    id_slot: -1,
    ...(probs ? { completion_probabilities: probs } : {}),
  };
}

/**
 * The whole /completion answer, or the last streamed event (`content` empty). `stop_type`: "limit" when
 * n_predict or the context ended it, "eos" otherwise (an end-of-generation token or a stop string: the
 * engine does not say which, so "word" is never reported).
 */
export function completionBody(
  model: string,
  content: string,
  r: GenerationResult,
  s: CompletionSettings,
  probs?: unknown[],
) {
  return {
    index: 0,
    content,
    tokens: s.returnTokens ? r.tokens : [],
    id_slot: -1,
    stop: true,
    model,
    tokens_predicted: r.usage.completionTokens,
    tokens_evaluated: r.usage.promptTokens,
    tokens_cached: r.usage.cachedTokens ?? 0,
    generation_settings: { n_predict: s.nPredict, stop: s.stop },
    has_new_line: content.includes("\n"),
    truncated: false,
    stop_type: r.finishReason === "length" ? "limit" : "eos",
    stopping_word: "",
    timings: completionTimings(r),
    ...(probs ? { completion_probabilities: probs } : {}),
  };
}

/** The sampling defaults, as llama-server's `params` object names them. */
export function defaultParams() {
  const d = samplerParams({ seed: 0 });
  return {
    n_predict: DEFAULT_N_PREDICT,
    seed: -1,
    temperature: d.temperature,
    top_k: d.topK,
    top_p: d.topP,
    min_p: d.minP,
    repeat_last_n: d.penaltyLastN,
    repeat_penalty: d.repeatPenalty,
    presence_penalty: d.presencePenalty,
    frequency_penalty: d.frequencyPenalty,
    // not in the engine's sampler chain: their neutral values (docs/llama-server-compat.md)
    typical_p: 1,
    xtc_probability: 0,
    xtc_threshold: 0.1,
    mirostat: 0,
    mirostat_tau: 5,
    mirostat_eta: 0.1,
    dry_multiplier: 0,
    dry_base: 1.75,
    dry_allowed_length: 2,
    dry_penalty_last_n: -1,
    top_n_sigma: -1,
    n_keep: 0,
    n_probs: 0,
    ignore_eos: false,
    stream: false,
    cache_prompt: true,
    stop: [] as string[],
    samplers: ["penalties", "top_k", "top_p", "min_p", "temperature"],
  };
}

/** What /props and /slots tell about the server. */
export interface ServerFacts {
  modelId: string;
  modelPath: string;
  chatTemplate: string;
  /** positions of one slot's context */
  nCtx: number;
  slots: number;
  /** slots generating now */
  busy: number;
  vision: boolean;
  buildInfo: string;
}

/** One slot as /slots (and /props' default_generation_settings) shows it. */
function slot(f: ServerFacts, id: number, processing: boolean) {
  return {
    id,
    id_task: -1,
    n_ctx: f.nCtx,
    speculative: false,
    is_processing: processing,
    params: defaultParams(),
    prompt: "",
    next_token: { has_next_token: processing, has_new_line: false, n_remain: -1, n_decoded: 0, stopping_word: "" },
  };
}

/** GET /slots: one entry per parallel sequence; the first `busy` are the ones at work (the engine does not say which). */
export function slotsBody(f: ServerFacts) {
  return Array.from({ length: f.slots }, (_, i) => slot(f, i, i < f.busy));
}

/** GET /props. */
export function propsBody(f: ServerFacts) {
  return {
    default_generation_settings: { ...slot(f, 0, false), model: f.modelId },
    total_slots: f.slots,
    model_alias: f.modelId,
    model_path: f.modelPath,
    chat_template: f.chatTemplate,
    chat_template_caps: {},
    modalities: { vision: f.vision, audio: false },
    build_info: f.buildInfo,
    is_sleeping: false,
  };
}
