/**
 * OpenAI response bodies (chat.completion, chat.completion.chunk, text_completion, usage,
 * llama-server's timings) from engine results. Pure functions, so the field order and content
 * that clients see are fixed by unit tests (tests/unit/render-openai.test.ts).
 */

import type { AssistantMessage, OutputEvent } from "../engine/ts/chat/output.ts";
import type { GenerationResult, TokenLogprobs } from "../engine/ts/generate.ts";
import type { MediaTokens } from "../engine/ts/minicpmv.ts";
import type { Vocabulary } from "../engine/ts/vocab.ts";

/** What identifies one response: every body and chunk of it carries these. */
export interface ResponseRef {
  id: string;
  /** unix seconds */
  created: number;
  model: string;
}

/** The token bytes logprobs show. */
export type TokenBytes = Pick<Vocabulary, "bytes">;

/** One entry of OpenAI `logprobs.content`. */
export interface LogprobEntry {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

export const newId = (prefix: string): string => `${prefix}-${crypto.randomUUID().replaceAll("-", "")}`;

export const unixSeconds = (): number => Math.floor(Date.now() / 1000);

export function usageBody(r: GenerationResult, media?: MediaTokens) {
  const details = media &&
    {
      image_tokens: media.imageTokens,
      ...(media.videoTokens ? { video_tokens: media.videoTokens } : {}),
      cached_tokens: r.usage.cachedTokens ?? 0,
    };
  return {
    prompt_tokens: r.usage.promptTokens,
    completion_tokens: r.usage.completionTokens,
    total_tokens: r.usage.totalTokens,
    ...(details ? { prompt_tokens_details: details } : {}),
  };
}

/** llama-server's `timings` object (server-side prompt and generation time; prompt_n: tokens decoded, not cached). */
export function timingsBody(r: GenerationResult) {
  const { promptMs, generateMs } = r.timings;
  const cached = r.usage.cachedTokens ?? 0;
  return {
    cache_n: cached,
    prompt_n: r.usage.promptTokens - cached,
    prompt_ms: promptMs,
    predicted_n: r.usage.completionTokens,
    predicted_ms: generateMs,
    predicted_per_second: generateMs > 0 ? (r.usage.completionTokens / generateMs) * 1000 : 0,
  };
}

/** OpenAI `logprobs.content` entries from engine token log-probabilities (`top` alternatives each). */
export function logprobContent(vocab: TokenBytes, lps: TokenLogprobs[], top: number): LogprobEntry[] {
  const entry = (token: number, logprob: number) => {
    const bytes = [...vocab.bytes(token)];
    return { token: new TextDecoder().decode(new Uint8Array(bytes)), logprob, bytes };
  };
  return lps.map((lp) => ({
    ...entry(lp.token, lp.logprob),
    top_logprobs: lp.top.slice(0, top).map((t) => entry(t.token, t.logprob)),
  }));
}

/** The legacy completions `logprobs` object. */
export function legacyLogprobs(vocab: TokenBytes, lps: TokenLogprobs[]) {
  const d = new TextDecoder();
  const text = (t: number) => d.decode(vocab.bytes(t));
  return {
    tokens: lps.map((l) => text(l.token)),
    token_logprobs: lps.map((l) => l.logprob),
    top_logprobs: lps.map((l) => Object.fromEntries(l.top.map((t) => [text(t.token), t.logprob]))),
  };
}

/** "tool_calls" when the answer called tools, else why generation stopped. */
export function chatFinishReason(message: AssistantMessage, r: GenerationResult): string {
  return message.tool_calls.length ? "tool_calls" : r.finishReason;
}

/** The non-streamed chat.completion body; `logprobs` undefined when not asked for. */
export function chatCompletion(
  ref: ResponseRef,
  message: AssistantMessage,
  r: GenerationResult,
  logprobs: LogprobEntry[] | undefined,
  media: MediaTokens,
) {
  return {
    id: ref.id,
    object: "chat.completion",
    created: ref.created,
    model: ref.model,
    choices: [{
      index: 0,
      message: {
        role: "assistant",
        content: message.content || (message.tool_calls.length ? null : ""),
        ...(message.reasoning_content ? { reasoning_content: message.reasoning_content } : {}),
        ...(message.tool_calls.length ? { tool_calls: message.tool_calls } : {}),
      },
      logprobs: logprobs === undefined ? null : { content: logprobs },
      finish_reason: chatFinishReason(message, r),
    }],
    usage: usageBody(r, media),
    timings: timingsBody(r),
  };
}

function chunkHead(ref: ResponseRef, object: string) {
  return { id: ref.id, object, created: ref.created, model: ref.model };
}

/** A chat.completion.chunk carrying one delta. */
export function chatChunk(ref: ResponseRef, delta: Record<string, unknown>, logprobs?: LogprobEntry[]) {
  return {
    ...chunkHead(ref, "chat.completion.chunk"),
    choices: [{
      index: 0,
      delta,
      logprobs: logprobs === undefined ? null : { content: logprobs },
      finish_reason: null,
    }],
  };
}

/** An OpenAI chat delta for an output event (tool_call_end has none). */
export function chatDelta(e: OutputEvent): Record<string, unknown> | undefined {
  switch (e.type) {
    case "content":
      return { content: e.text };
    case "reasoning":
      return { reasoning_content: e.text };
    case "tool_call_start":
      return {
        tool_calls: [{ index: e.index, id: e.id, type: "function", function: { name: e.name, arguments: "" } }],
      };
    case "tool_call_args":
      return { tool_calls: [{ index: e.index, function: { arguments: e.text } }] };
    default:
      return undefined;
  }
}

/**
 * The chunks for the output events of one generated piece: one per delta, the piece's logprobs
 * on the first (or on an empty delta when the events give none).
 */
export function chatChunks(ref: ResponseRef, events: OutputEvent[], logprobs?: LogprobEntry[]) {
  const deltas = events.map(chatDelta).filter((d) => d !== undefined);
  if (!deltas.length) return logprobs === undefined ? [] : [chatChunk(ref, {}, logprobs)];
  return deltas.map((d, k) => chatChunk(ref, d, k === 0 ? logprobs : undefined));
}

/** The last chat chunk: an empty delta with the finish reason, and the timings. */
export function chatLastChunk(ref: ResponseRef, finishReason: string, r: GenerationResult) {
  return {
    ...chunkHead(ref, "chat.completion.chunk"),
    choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason }],
    timings: timingsBody(r),
  };
}

/** `stream_options.include_usage`: a chunk with no choices and the usage. */
export function usageChunk(ref: ResponseRef, object: "chat.completion.chunk" | "text_completion", usage: unknown) {
  return { ...chunkHead(ref, object), choices: [], usage };
}

/** A text_completion choice; `logprobs` null when not asked for. */
export function completionChoice(text: string, logprobs: unknown, finishReason: string | null) {
  return { text, index: 0, logprobs, finish_reason: finishReason };
}

/** The non-streamed /v1/completions body. */
export function completion(ref: ResponseRef, r: GenerationResult, logprobs: unknown) {
  return {
    ...chunkHead(ref, "text_completion"),
    choices: [completionChoice(r.text, logprobs, r.finishReason)],
    usage: usageBody(r),
    timings: timingsBody(r),
  };
}

/** A streamed /v1/completions piece. */
export function completionChunk(ref: ResponseRef, text: string, logprobs: unknown) {
  return { ...chunkHead(ref, "text_completion"), choices: [completionChoice(text, logprobs, null)] };
}

/** The last streamed /v1/completions chunk: no text, the finish reason and the timings. */
export function completionLastChunk(ref: ResponseRef, r: GenerationResult) {
  return {
    ...chunkHead(ref, "text_completion"),
    choices: [completionChoice("", null, r.finishReason)],
    timings: timingsBody(r),
  };
}

/** GET /v1/models: the one served model. */
export function modelList(id: string, created: number) {
  return { object: "list", data: [{ id, object: "model", created, owned_by: "minicpmv-edge" }] };
}
