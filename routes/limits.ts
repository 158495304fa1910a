/**
 * The server's limits on the shape and size of a request, in one table, with the zod pieces and
 * checks that enforce them. Why: the work a request causes before its first token (template
 * render, tokenization, grammar building) grows with what it sends, and runs ahead of other
 * requests; each limit here refuses an absurd input with a 400 naming the limit, before that work.
 * The limits on JSON schemas and grammars are the engine's (engine/ts/chat/schema-limits.ts).
 */

import { z } from "zod";
import { SCHEMA_LIMITS } from "../engine/ts/chat/schema-limits.ts";
import type { ToolDef } from "../engine/ts/chat/tool-calls.ts";
import type { Message } from "../engine/ts/minicpmv.ts";
import type { Vocabulary } from "../engine/ts/vocab.ts";
import { HttpError } from "./errors.ts";

export const REQUEST_LIMITS = Object.freeze({
  /** messages in one chat request */
  maxMessages: 2_048,
  /** content parts in one message */
  maxContentParts: 64,
  /** tools in one request */
  maxTools: 128,
  /** stop strings in one request */
  maxStopStrings: 16,
  /** characters of one stop string */
  maxStopChars: 256,
  /** characters of text in one request's prompt (messages, tool calls, tool definitions; media not counted) */
  maxPromptChars: 4 * 1024 * 1024,
  /** JSON nesting the request's own fields add around a value (a body nests at most schema.maxJsonDepth + this) */
  bodyEnvelopeDepth: 16,
  /** Ollama `options.repeat_last_n`: the repeat-penalty window in tokens (the engine allocates one slot per token) */
  maxRepeatLastN: 65_536,
  /** token ids in one /detokenize request (a context's worth; the text is built on the event loop) */
  maxDetokenizeTokens: 262_144,
  /** JSON schemas (response_format, format, tool parameters) and the grammars built from them */
  schema: SCHEMA_LIMITS,
});

/** A zod array of at most `max` items; the error names the count and the limit. */
export function limitedArray<T extends z.ZodType>(item: T, max: number, what: string, limit: string) {
  return z.array(item).max(max, {
    error: (issue) => `${(issue.input as unknown[]).length} ${what}; the limit (${limit}) is ${max}`,
  });
}

/** zod refinement of a message list: at most maxContentParts parts in each message's content. */
export function checkContentParts(messages: { content?: unknown }[], ctx: z.RefinementCtx) {
  messages.forEach((m, i) => {
    const n = Array.isArray(m.content) ? m.content.length : 0;
    if (n > REQUEST_LIMITS.maxContentParts) {
      ctx.addIssue({
        code: "custom",
        path: [i, "content"],
        message: `${n} content parts; the limit (maxContentParts) is ${REQUEST_LIMITS.maxContentParts}`,
      });
    }
  });
}

/** One stop string: not empty (it would end every generation at once), at most maxStopChars. */
const stopString = z.string()
  .min(1, "a stop string must not be empty")
  .max(REQUEST_LIMITS.maxStopChars, {
    error: (issue) =>
      `a stop string of ${(issue.input as string).length} characters; the limit (maxStopChars) is ` +
      `${REQUEST_LIMITS.maxStopChars}`,
  });

/** Stop strings as a list (Ollama `options.stop`). */
export const stopList = limitedArray(stopString, REQUEST_LIMITS.maxStopStrings, "stop strings", "maxStopStrings");

/** A string or a list of strings (OpenAI `stop`), as a list (a string is checked as the list of it). */
export const stopSchema = z.preprocess((s) => (typeof s === "string" ? [s] : s), stopList.nullish())
  .transform((s) => s ?? undefined);

/** A prompt string within maxPromptChars (raw completions, Ollama generate). */
export const promptString = z.string().max(REQUEST_LIMITS.maxPromptChars, {
  error: (issue) =>
    `the prompt is ${(issue.input as string).length} characters; the limit (maxPromptChars) is ` +
    `${REQUEST_LIMITS.maxPromptChars}`,
});

/**
 * Characters of `value` as JSON text, counted without recursion (JSON.stringify recurses, and a
 * value nested thousands deep overflows the stack): JSON.stringify's length for text without escapes
 * (strings and keys by length plus their quotes, other scalars as printed, brackets and separators).
 */
export function jsonChars(value: unknown): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length) {
    const v = stack.pop();
    if (typeof v === "string") n += v.length + 2;
    else if (v === null || typeof v !== "object") n += String(v).length;
    else if (Array.isArray(v)) {
      n += 2 + Math.max(0, v.length - 1);
      for (const x of v) stack.push(x);
    } else {
      const entries = Object.entries(v);
      n += 2 + Math.max(0, entries.length - 1);
      for (const [k, x] of entries) {
        n += k.length + 3;
        stack.push(x);
      }
    }
  }
  return n;
}

/** Characters of text a message adds to the prompt: content text, reasoning, tool calls (media not counted). */
function messageChars(m: Message, renderedOnly: boolean): number {
  let n = 0;
  if (typeof m.content === "string") n += m.content.length;
  else if (Array.isArray(m.content)) { for (const p of m.content) if (p.type === "text") n += p.text.length; }
  if (renderedOnly) return n;
  n += m.reasoning_content?.length ?? 0;
  for (const call of m.tool_calls ?? []) n += jsonChars(call);
  return n;
}

/** Refuses a request whose text (messages, tool calls, tool definitions) is over maxPromptChars. */
export function checkPromptChars(messages: readonly Message[], tools: readonly ToolDef[] | undefined) {
  let n = 0;
  for (const m of messages) n += messageChars(m, false);
  for (const t of tools ?? []) n += jsonChars(t);
  if (n > REQUEST_LIMITS.maxPromptChars) {
    throw new HttpError(
      400,
      `the prompt has ${n} characters of text; the limit (maxPromptChars) is ${REQUEST_LIMITS.maxPromptChars}`,
      "invalid_request_error",
      "messages",
      "context_length_exceeded",
    );
  }
}

const longestToken = new WeakMap<Vocabulary, number>();

/** Bytes of the vocabulary's longest token: no token covers more characters of text. */
export function longestTokenBytes(vocab: Vocabulary): number {
  let n = longestToken.get(vocab);
  if (n === undefined) {
    n = 1;
    for (let t = 0; t < vocab.size; t++) n = Math.max(n, vocab.bytes(t).length);
    longestToken.set(vocab, n);
  }
  return n;
}

/**
 * Refuses, before rendering or tokenizing, a prompt that certainly does not fit a sequence: the
 * text every template renders as it is (user, system and tool message content) needs at least
 * its length divided by the longest token's bytes in tokens (a character is at least one byte).
 */
export function checkPromptCanFit(messages: readonly Message[], vocab: Vocabulary, sequenceSize: number) {
  let chars = 0;
  for (const m of messages) if (m.role !== "assistant") chars += messageChars(m, true);
  checkTextCanFit(chars, vocab, sequenceSize);
}

/** The same test for a raw prompt of `chars` characters (completions, raw generate), before tokenizing it. */
export function checkTextCanFit(chars: number, vocab: Vocabulary, sequenceSize: number, param = "messages") {
  const atLeast = Math.ceil(chars / longestTokenBytes(vocab));
  if (atLeast >= sequenceSize) {
    throw new HttpError(
      400,
      `the prompt has ${chars} characters of text, at least ${atLeast} tokens; a request can use at most ` +
        `${sequenceSize - 1} (the context size divided by --parallel)`,
      "invalid_request_error",
      param,
      "context_length_exceeded",
    );
  }
}
