/**
 * Ollama response bodies (/api/chat and /api/generate lines, the model listing of /api/tags,
 * /api/ps and /api/show) from engine results. Pure functions, so the field order and content
 * that clients see are fixed by unit tests (tests/unit/render-ollama.test.ts).
 */

import type { AssistantMessage, OutputEvent } from "../engine/ts/chat/output.ts";
import type { ToolCall } from "../engine/ts/chat/tool-calls.ts";
import type { GenerationResult } from "../engine/ts/generate.ts";

export const OLLAMA_VERSION = "0.12.0";

/** An assistant message as Ollama writes it (`thinking` is the reasoning, tool arguments are objects). */
export interface OllamaMessage {
  role: "assistant";
  content: string;
  thinking?: string;
  tool_calls?: { function: { name: string; arguments: unknown } }[];
}

/** /api/generate's text fields: the answer, and the reasoning when there is some. */
export interface GenerateFields {
  response: string;
  thinking?: string;
}

/** Ollama's timing fields, in nanoseconds; `totalMs` is the request's wall time so far. */
export function ollamaTimings(r: GenerationResult, totalMs: number) {
  return {
    total_duration: Math.round(totalMs * 1e6),
    load_duration: 0,
    prompt_eval_count: r.usage.promptTokens,
    prompt_eval_duration: Math.round(r.timings.promptMs * 1e6),
    eval_count: r.usage.completionTokens,
    eval_duration: Math.round(r.timings.generateMs * 1e6),
  };
}

/** OpenAI tool calls (JSON-string arguments) as Ollama's (argument objects). */
export function ollamaToolCalls(calls: ToolCall[]): NonNullable<OllamaMessage["tool_calls"]> {
  return calls.map((c) => ({ function: { name: c.function.name, arguments: JSON.parse(c.function.arguments) } }));
}

/** The whole answer of a non-streamed /api/chat. */
export function chatMessage(o: AssistantMessage): OllamaMessage {
  return {
    role: "assistant",
    content: o.content,
    ...(o.reasoning_content ? { thinking: o.reasoning_content } : {}),
    ...(o.tool_calls.length ? { tool_calls: ollamaToolCalls(o.tool_calls) } : {}),
  };
}

/** The streamed messages for output events: content and reasoning (tool calls come whole, at the end). */
export function eventMessages(events: OutputEvent[]): OllamaMessage[] {
  const out: OllamaMessage[] = [];
  for (const e of events) {
    if (e.type === "content") out.push({ role: "assistant", content: e.text });
    else if (e.type === "reasoning") out.push({ role: "assistant", content: "", thinking: e.text });
  }
  return out;
}

/** Ollama sends tool calls whole, in a message of their own. */
export function toolCallMessage(calls: ToolCall[]): OllamaMessage {
  return { role: "assistant", content: "", tool_calls: ollamaToolCalls(calls) };
}

/** A streamed /api/chat line; `at` is its ISO time. */
export function chatChunk(model: string, at: string, message: OllamaMessage) {
  return { model, created_at: at, message, done: false };
}

/** The last /api/chat line (or the whole non-streamed answer): the message, why it ended, timings. */
export function chatDone(model: string, at: string, message: OllamaMessage, r: GenerationResult, totalMs: number) {
  return { model, created_at: at, message, done: true, done_reason: r.finishReason, ...ollamaTimings(r, totalMs) };
}

/** /api/generate's fields for output events: content into `response`, reasoning into `thinking`. */
export function generateFields(events: OutputEvent[]): GenerateFields {
  let response = "", thinking = "";
  for (const e of events) {
    if (e.type === "content") response += e.text;
    else if (e.type === "reasoning") thinking += e.text;
  }
  return { response, ...(thinking ? { thinking } : {}) };
}

/** A streamed /api/generate line, or undefined when the fields are empty (nothing to send). */
export function generateChunk(model: string, at: string, f: GenerateFields) {
  return f.response || f.thinking ? { model, created_at: at, ...f, done: false } : undefined;
}

/** The last /api/generate line (or the whole non-streamed answer). */
export function generateDone(model: string, at: string, f: GenerateFields, r: GenerationResult, totalMs: number) {
  return { model, created_at: at, ...f, done: true, done_reason: r.finishReason, ...ollamaTimings(r, totalMs) };
}

/** Ollama answers an empty /api/generate prompt by loading the model. */
export function generateLoaded(model: string, at: string) {
  return { model, created_at: at, response: "", done: true, done_reason: "load" };
}

/** The served model, as /api/tags lists it (`created`: unix seconds the server started). */
export function modelEntry(modelId: string, created: number, size: number, files: string[]) {
  const file = files[0] ?? "";
  const quant = /(Q\d_K(_[SML])?|Q\d_\d|F16|BF16|F32)/i.exec(file)?.[1]?.toUpperCase() ?? "unknown";
  return {
    name: modelId,
    model: modelId,
    modified_at: new Date(created * 1000).toISOString(),
    size,
    digest: "",
    details: {
      parent_model: "",
      format: "gguf",
      family: "qwen35",
      families: ["qwen35", "clip"],
      parameter_size: "1.3B",
      quantization_level: quant,
    },
  };
}

/** GET /api/ps: the served model while loaded; `expiresAt`: when it unloads if idle (keep_alive; ISO time). */
export function runningModel(
  modelId: string,
  created: number,
  size: number,
  files: string[],
  expiresAt = "0001-01-01T00:00:00Z",
) {
  return { ...modelEntry(modelId, created, size, files), expires_at: expiresAt, size_vram: 0 };
}

/** `expires_at` of a model kept loaded forever: Ollama shows its longest duration from now (~292 years) */
export const KEPT_FOREVER = "2318-01-01T00:00:00Z";

/** What /api/show tells about the loaded language model (a subset of the engine's ModelInfo). */
export interface ShownModel {
  files: string[];
  sizeBytes: number;
  name?: string;
  chatTemplate?: string;
  nCtxTrain: number;
  nEmbd: number;
}

/** POST /api/show. */
export function showBody(modelId: string, created: number, info: ShownModel, vision: boolean) {
  return {
    modelfile: `FROM ${info.files[0]}`,
    parameters: "",
    template: info.chatTemplate ?? "",
    details: modelEntry(modelId, created, info.sizeBytes, info.files).details,
    model_info: {
      "general.architecture": "qwen35",
      "general.name": info.name ?? modelId,
      "qwen35.context_length": info.nCtxTrain,
      "qwen35.embedding_length": info.nEmbd,
    },
    capabilities: ["completion", "tools", "thinking", ...(vision ? ["vision"] : [])],
    modified_at: new Date(created * 1000).toISOString(),
  };
}
