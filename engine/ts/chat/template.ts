/** Renders a model's own chat template (tokenizer.chat_template) with a real Jinja engine. */

import { Template } from "@huggingface/jinja";
import { InvalidRequestError } from "../errors.ts";
import { usePythonBooleans } from "./jinja-python.ts";

usePythonBooleans();

export interface ChatMessage {
  role: "system" | "user" | "assistant" | "tool";
  /** text, or content parts as the template expects them ({type: "text"|"image", ...}) */
  content: string | Array<Record<string, unknown>> | null;
  reasoning_content?: string;
  tool_calls?: unknown[];
  name?: string;
  tool_call_id?: string;
}

export interface RenderOptions {
  addGenerationPrompt?: boolean;
  /** Qwen3.5 templates: false renders an empty think block (Instruct checkpoints) */
  enableThinking?: boolean;
  tools?: unknown[];
  /** extra variables for the template (chat_template_kwargs) */
  extra?: Record<string, unknown>;
}

const cache = new Map<string, Template>();

/**
 * OpenAI clients send tool-call arguments as a JSON string; the Qwen3.5 template iterates them
 * as a mapping (`arguments|items`). Like llama.cpp (chat.cpp `func_args_not_string`) we parse
 * them first; arguments that are not JSON are a bad request.
 */
function objectArguments(m: ChatMessage): ChatMessage {
  if (!Array.isArray(m.tool_calls)) return m;
  const toolCalls = m.tool_calls.map((c) => {
    const fn = (c as { function?: { arguments?: unknown } })?.function;
    if (typeof fn?.arguments !== "string") return c;
    let args: unknown;
    try {
      args = JSON.parse(fn.arguments);
    } catch {
      throw new InvalidRequestError("tool call arguments must be JSON", "messages");
    }
    return { ...(c as object), function: { ...fn, arguments: args } };
  });
  return { ...m, tool_calls: toolCalls };
}

export function renderChat(templateSource: string, messages: ChatMessage[], o: RenderOptions = {}): string {
  let template = cache.get(templateSource);
  if (!template) {
    template = new Template(templateSource);
    cache.set(templateSource, template);
  }
  try {
    return template.render({
      messages: messages.map(objectArguments),
      add_generation_prompt: o.addGenerationPrompt ?? true,
      enable_thinking: o.enableThinking ?? false,
      ...(o.tools?.length ? { tools: o.tools } : {}),
      ...o.extra,
    });
  } catch (e) {
    if (e instanceof InvalidRequestError) throw e;
    // templates reject bad conversations with raise_exception(...)
    throw new InvalidRequestError(`chat template: ${(e as Error).message}`, "messages");
  }
}
