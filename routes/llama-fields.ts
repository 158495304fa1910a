/**
 * llama-server's request extension fields, which its clients send on /v1/chat/completions, /v1/completions
 * and /completion (often with default values). Those the engine's sampler chain can honour become engine
 * options; the others are accepted and ignored, so that a llama-server client is not refused with
 * "Unrecognized request argument" (docs/llama-server-compat.md has the table, field by field). Also the
 * body of llama-server's own POST /completion. Pure.
 */

import { z } from "zod";
import { promptString, REQUEST_LIMITS, stopSchema } from "./limits.ts";

const num = z.number().nullish();
const int = z.number().int().nullish();

/** the fields, as zod shapes to spread into a request schema */
export const llamaServerFields = {
  /** alias of max_tokens; -1 (llama-server's default): until the context or the end of generation */
  n_predict: z.number().int().min(-1).nullish(),
  /** /completion only: log-probabilities of the n most likely tokens (0..20); accepted elsewhere */
  n_probs: z.number().int().min(0).max(20).nullish(),
  /** /completion only: the generated token ids in the response; accepted elsewhere */
  return_tokens: z.boolean().nullish(),
  /** the last n tokens the repetition penalties look at (-1: the whole context, 0: off) */
  repeat_last_n: z.number().int().min(-1).max(REQUEST_LIMITS.maxRepeatLastN, {
    error: (issue) => `repeat_last_n ${issue.input}; the limit (maxRepeatLastN) is ${REQUEST_LIMITS.maxRepeatLastN}`,
  }).nullish(),
  // accepted and ignored (docs/llama-server-compat.md): the scheduler picks the slot, the sampler chain is fixed
  id_slot: int,
  samplers: z.union([z.array(z.string()), z.string()]).nullish(),
  typical_p: num,
  mirostat: z.number().int().min(0).max(2).nullish(),
  mirostat_tau: num,
  mirostat_eta: num,
  dry_multiplier: num,
  dry_base: num,
  dry_allowed_length: int,
  dry_penalty_last_n: int,
  dry_sequence_breakers: z.array(z.string()).nullish(),
  xtc_probability: num,
  xtc_threshold: num,
  top_n_sigma: num,
  dynatemp_range: num,
  dynatemp_exponent: num,
  penalize_nl: z.boolean().nullish(),
  n_keep: int,
  n_discard: int,
  n_indent: int,
  n_cmpl: z.literal(1).nullish(),
  t_max_prompt_ms: int,
  t_max_predict_ms: int,
  timings_per_token: z.boolean().nullish(),
  post_sampling_probs: z.boolean().nullish(),
  return_progress: z.boolean().nullish(),
  reasoning_format: z.string().nullish(),
  logit_bias: z.union([z.record(z.string(), z.unknown()), z.array(z.unknown())]).nullish(),
  lora: z.array(z.unknown()).nullish(),
};

type LlamaServerBody = { [K in keyof typeof llamaServerFields]?: z.infer<(typeof llamaServerFields)[K]> };

/**
 * A token limit as llama-server reads `n_predict` and `max_tokens`: undefined when absent; -1 is no limit but
 * the end of the sequence's context.
 */
export function tokenLimit(v: number | null | undefined): number | undefined {
  if (v == null) return undefined;
  return v < 0 ? Number.MAX_SAFE_INTEGER : v;
}

/** `n_predict` as a token limit (tokenLimit). */
export function nPredict(b: LlamaServerBody): number | undefined {
  return tokenLimit(b.n_predict);
}

/** The engine options the implemented fields map to. */
export function llamaServerOptions(b: LlamaServerBody) {
  return b.repeat_last_n == null ? {} : { repeatLastN: b.repeat_last_n };
}

/** POST /completion (llama-server's native completion): a prompt string or token ids, the sampling fields. */
export const llamaCompletionSchema = z.strictObject({
  prompt: z.union([
    promptString,
    z.array(promptString).length(1),
    z.array(z.number().int()).min(1).max(REQUEST_LIMITS.maxPromptChars),
  ]),
  /** llama-server ignores it on /completion; so do we (one model) */
  model: z.string().nullish(),
  stream: z.boolean().nullish(),
  stop: stopSchema,
  temperature: z.number().min(0).max(100).nullish(),
  top_k: z.number().int().min(0).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  seed: z.number().int().nullish(),
  repeat_penalty: z.number().min(0).max(10).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  ignore_eos: z.boolean().nullish(),
  cache_prompt: z.boolean().nullish(),
  ...llamaServerFields,
});

export type LlamaCompletionBody = z.infer<typeof llamaCompletionSchema>;

/** A /completion prompt: text to tokenize, or the token ids themselves. */
export function llamaPrompt(prompt: LlamaCompletionBody["prompt"]): string | Int32Array {
  if (typeof prompt === "string") return prompt;
  return typeof prompt[0] === "string" ? prompt[0] : Int32Array.from(prompt as number[]);
}

/** The engine's generation options of a /completion body (`maxTokens`: n_predict or the server's default). */
export function llamaCompletionOptions(b: LlamaCompletionBody, defaultMaxTokens: number, signal: AbortSignal) {
  return {
    maxTokens: nPredict(b) ?? defaultMaxTokens,
    temperature: b.temperature ?? undefined,
    topK: b.top_k ?? undefined,
    topP: b.top_p ?? undefined,
    minP: b.min_p ?? undefined,
    seed: b.seed == null || b.seed < 0 ? undefined : b.seed >>> 0,
    stop: b.stop,
    repeatPenalty: b.repeat_penalty ?? undefined,
    presencePenalty: b.presence_penalty ?? undefined,
    frequencyPenalty: b.frequency_penalty ?? undefined,
    ignoreEos: b.ignore_eos ?? undefined,
    cachePrompt: b.cache_prompt ?? undefined,
    logprobs: b.n_probs ? b.n_probs : undefined,
    ...llamaServerOptions(b),
    signal,
  };
}
