/**
 * Ollama request bodies: the zod schemas of /api/chat, /api/generate and /api/show, and their
 * translation into what the engine takes (a ChatJob, messages with base64 images, options).
 * Pure: nothing here touches the model.
 */

import { z } from "zod";
import type { ToolDef } from "../engine/ts/chat/tool-calls.ts";
import type { ContentPart, Message } from "../engine/ts/minicpmv.ts";
import { toolSchema } from "./body.ts";
import { type ChatJob, parseHistoryArguments, type ToolChoice } from "./chat.ts";
import { limitedArray, promptString, REQUEST_LIMITS, stopList } from "./limits.ts";

// Ollama accepts a loose `options` object; the ones we honour are typed, the rest ignored as Ollama does.
const optionsSchema = z.object({
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  min_p: z.number().min(0).max(1).optional(),
  seed: z.number().int().optional(),
  num_predict: z.number().int().optional(),
  stop: stopList.optional(),
  repeat_penalty: z.number().min(0).max(10).optional(),
  repeat_last_n: z.number().int().min(-1).max(REQUEST_LIMITS.maxRepeatLastN, {
    error: (issue) => `repeat_last_n ${issue.input}; the limit (maxRepeatLastN) is ${REQUEST_LIMITS.maxRepeatLastN}`,
  }).optional(),
  presence_penalty: z.number().min(-2).max(2).optional(),
  frequency_penalty: z.number().min(-2).max(2).optional(),
  downsample_mode: z.enum(["16x", "4x"]).optional(),
  max_slice_nums: z.number().int().min(1).max(64).optional(),
  use_image_id: z.boolean().optional(),
}).catchall(z.unknown()).optional();

const base64 = z.string().regex(/^[A-Za-z0-9+/=\s]*$/, "images must be base64 strings");
const formatSchema = z.union([z.literal(""), z.literal("json"), z.record(z.string(), z.unknown())]).optional();

const messageSchema = z.object({
  role: z.enum(["system", "user", "assistant", "tool"]),
  content: z.string().default(""),
  images: limitedArray(base64, REQUEST_LIMITS.maxContentParts, "images", "maxContentParts").nullish(),
  thinking: z.string().optional(),
  tool_calls: z.array(z.object({ function: z.object({ name: z.string(), arguments: z.unknown() }) })).optional(),
  tool_name: z.string().optional(),
});

const common = {
  model: z.string(),
  stream: z.boolean().default(true),
  format: formatSchema,
  options: optionsSchema,
  think: z.union([z.boolean(), z.enum(["low", "medium", "high"])]).optional(),
  keep_alive: z.union([z.string(), z.number()]).optional(),
};

export const chatSchema = z.object({
  ...common,
  messages: limitedArray(messageSchema, REQUEST_LIMITS.maxMessages, "messages", "maxMessages"),
  tools: limitedArray(toolSchema, REQUEST_LIMITS.maxTools, "tools", "maxTools").optional(),
  /** extension (as in OpenAI): "auto" | "none" | "required" | a function name, to force a call */
  tool_choice: z.string().optional(),
});

export const generateSchema = z.object({
  ...common,
  prompt: promptString.default(""),
  suffix: z.string().optional(),
  system: promptString.optional(),
  images: limitedArray(base64, REQUEST_LIMITS.maxContentParts, "images", "maxContentParts").optional(),
  raw: z.boolean().optional(),
  template: z.string().optional(),
  context: z.array(z.number()).optional(),
});

export const showSchema = z.object({
  model: z.string().optional(),
  name: z.string().optional(),
  verbose: z.boolean().optional(),
});

export type ChatBody = z.infer<typeof chatSchema>;
export type GenerateBody = z.infer<typeof generateSchema>;
type Options = z.infer<typeof optionsSchema>;

/** The engine's chat options from Ollama's `options` (a negative `num_predict`: no limit). */
export function chatOptions(o: Options) {
  return {
    temperature: o?.temperature,
    topP: o?.top_p,
    topK: o?.top_k,
    minP: o?.min_p,
    seed: o?.seed === undefined ? undefined : o.seed >>> 0,
    maxTokens: o?.num_predict === undefined || o.num_predict < 0 ? undefined : o.num_predict,
    stop: o?.stop,
    repeatPenalty: o?.repeat_penalty,
    repeatLastN: o?.repeat_last_n,
    presencePenalty: o?.presence_penalty,
    frequencyPenalty: o?.frequency_penalty,
    downsampleMode: o?.downsample_mode,
    maxSliceNums: o?.max_slice_nums,
    useImageId: o?.use_image_id,
  };
}

/** Text with Ollama's base64 `images`: the images first, then the text. */
export function withImages(text: string, images: string[] | null | undefined): string | ContentPart[] {
  if (!images?.length) return text;
  const parts: ContentPart[] = images.map((b) => ({
    type: "image",
    image: `data:application/octet-stream;base64,${b.replace(/\s/g, "")}`,
  }));
  return [...parts, { type: "text", text }];
}

/** `format`: "json" for any object, a schema object for that schema, else unconstrained. */
export function jsonConstraint(format: ChatBody["format"]): ChatJob["json"] {
  if (format === "json") return { param: "format" };
  return format && typeof format === "object" ? { schema: format, param: "format" } : undefined;
}

/** Ollama `tool_choice` (extension): "auto" | "none" | "required", or the name of the tool to call. */
export function toolChoice(choice: string | undefined): ToolChoice {
  return choice === undefined || ["auto", "none", "required"].includes(choice)
    ? (choice ?? "auto") as ToolChoice
    : { name: choice };
}

/** Ollama chat messages as the engine's (`thinking` is the reasoning, tool arguments become objects). */
export function toMessages(messages: ChatBody["messages"]): Message[] {
  return messages.map((m, i) => {
    if (m.role === "assistant") {
      return {
        role: "assistant",
        content: m.content,
        ...(m.thinking ? { reasoning_content: m.thinking } : {}),
        ...(m.tool_calls?.length
          ? {
            tool_calls: m.tool_calls.map((t, k) => ({
              type: "function",
              function: {
                name: t.function.name,
                arguments: parseHistoryArguments(t.function.arguments, `messages.${i}.tool_calls.${k}`),
              },
            })),
          }
          : {}),
      };
    }
    if (m.role === "tool") return { role: "tool", content: m.content, name: m.tool_name };
    return { role: m.role, content: withImages(m.content, m.images) };
  });
}

/** An /api/chat body as the chat job both APIs run. */
export function chatJob(b: ChatBody, signal: AbortSignal): ChatJob {
  return {
    messages: toMessages(b.messages),
    tools: b.tools as ToolDef[] | undefined,
    toolChoice: toolChoice(b.tool_choice),
    thinking: !!b.think,
    json: jsonConstraint(b.format),
    options: chatOptions(b.options),
    signal,
  };
}

/** A templated /api/generate body as a chat job: `system`, then the prompt with its images. */
export function generateJob(b: GenerateBody, signal: AbortSignal): ChatJob {
  const messages: Message[] = [
    ...(b.system ? [{ role: "system" as const, content: b.system }] : []),
    { role: "user", content: withImages(b.prompt, b.images) },
  ];
  return { messages, thinking: !!b.think, json: jsonConstraint(b.format), options: chatOptions(b.options), signal };
}
