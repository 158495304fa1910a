/**
 * OpenAI request bodies: the zod schemas of /v1/chat/completions and /v1/completions, and their
 * translation into what the engine takes (a ChatJob, sampling options, a prompt). Pure: nothing
 * here touches the model, so every error it raises is a 400 before any work starts.
 */

import { z } from "zod";
import type { ToolDef } from "../engine/ts/chat/tool-calls.ts";
import type { ContentPart, Message } from "../engine/ts/minicpmv.ts";
import { MAX_NUM_FRAMES_LIMIT, MAX_STACK_FRAMES } from "../engine/ts/video/plan.ts";
import { toolSchema } from "./body.ts";
import { type ChatJob, parseHistoryArguments, type ToolChoice } from "./chat.ts";
import { checkContentParts, limitedArray, promptString, REQUEST_LIMITS, stopSchema } from "./limits.ts";
import { llamaServerFields, llamaServerOptions, nPredict, tokenLimit } from "./llama-fields.ts";
import { mediaSource } from "./media.ts";

const textPart = z.object({ type: z.literal("text"), text: z.string() });
const imagePart = z.object({
  type: z.literal("image_url"),
  image_url: z.union([z.string(), z.object({ url: z.string(), detail: z.enum(["auto", "low", "high"]).optional() })]),
});
/** vLLM's form */
const videoPart = z.object({
  type: z.literal("video_url"),
  video_url: z.union([z.string(), z.object({ url: z.string() })]),
});
/** llama-server's form: base64 data (or a URL) */
const inputVideoPart = z.object({
  type: z.literal("input_video"),
  input_video: z.union([
    z.object({ data: z.string(), format: z.string().optional() }),
    z.object({ url: z.string() }),
  ]),
});
// at most maxContentParts parts: checked on the message list (a check inside the union would report "Invalid input")
const contentSchema = z.union([
  z.string(),
  z.array(z.discriminatedUnion("type", [textPart, imagePart, videoPart, inputVideoPart])),
  z.null(),
]);

const toolCallSchema = z.object({
  id: z.string().optional(),
  type: z.literal("function").optional(),
  function: z.object({ name: z.string(), arguments: z.union([z.string(), z.record(z.string(), z.unknown())]) }),
});

const messageSchema = z.discriminatedUnion("role", [
  z.object({ role: z.enum(["system", "developer"]), content: contentSchema, name: z.string().optional() }),
  z.object({ role: z.literal("user"), content: contentSchema, name: z.string().optional() }),
  z.object({
    role: z.literal("assistant"),
    content: contentSchema.optional(),
    reasoning_content: z.string().nullish(),
    tool_calls: z.array(toolCallSchema).nullish(),
    name: z.string().optional(),
    refusal: z.string().nullish(),
  }),
  z.object({
    role: z.literal("tool"),
    content: contentSchema,
    tool_call_id: z.string().optional(),
    name: z.string().optional(),
  }),
]);

const sampling = {
  model: z.string(),
  /** -1: no limit but the context (llama-server's web UI sends it) */
  max_tokens: z.number().int().min(-1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().min(0).max(1).nullish(),
  top_k: z.number().int().min(0).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  seed: z.number().int().nullish(),
  stop: stopSchema,
  presence_penalty: z.number().min(-2).max(2).nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  repeat_penalty: z.number().min(0).max(10).nullish(),
  /** llama-server extension: do not stop at end-of-generation tokens */
  ignore_eos: z.boolean().nullish(),
  /** llama-server extension: false prefills the whole prompt instead of continuing a cached prefix */
  cache_prompt: z.boolean().nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  n: z.literal(1).nullish(),
  user: z.string().optional(),
  /** llama-server's extension fields (llama-fields.ts) */
  ...llamaServerFields,
};

export const chatSchema = z.strictObject({
  ...sampling,
  messages: limitedArray(messageSchema, REQUEST_LIMITS.maxMessages, "messages", "maxMessages").min(1)
    .superRefine(checkContentParts),
  max_completion_tokens: z.number().int().min(0).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: z.number().int().min(0).max(20).nullish(),
  response_format: z.discriminatedUnion("type", [
    z.object({ type: z.literal("text") }),
    z.object({ type: z.literal("json_object") }),
    z.object({
      type: z.literal("json_schema"),
      json_schema: z.object({
        name: z.string().optional(),
        schema: z.record(z.string(), z.unknown()),
        strict: z.boolean().nullish(),
        description: z.string().optional(),
      }),
    }),
  ]).nullish(),
  tools: limitedArray(toolSchema, REQUEST_LIMITS.maxTools, "tools", "maxTools").nullish(),
  tool_choice: z.union([
    z.enum(["auto", "none", "required"]),
    z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) }),
  ]).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  chat_template_kwargs: z.object({ enable_thinking: z.boolean().optional() }).catchall(z.unknown()).nullish(),
  mm_processor_kwargs: z.strictObject({
    downsample_mode: z.enum(["16x", "4x"]).optional(),
    max_slice_nums: z.number().int().min(1).max(64).optional(),
    use_image_id: z.boolean().optional(),
    max_num_frames: z.number().int().min(1).max(MAX_NUM_FRAMES_LIMIT).optional(),
    stack_frames: z.number().int().min(1).max(MAX_STACK_FRAMES).optional(),
  }).nullish(),
  store: z.boolean().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
});

export const completionSchema = z.strictObject({
  ...sampling,
  prompt: z.union([
    promptString,
    z.array(promptString).length(1),
    z.array(z.number().int()).min(1).max(REQUEST_LIMITS.maxPromptChars),
  ]),
  logprobs: z.number().int().min(0).max(20).nullish(),
  echo: z.literal(false).nullish(),
  best_of: z.literal(1).nullish(),
});

export type ChatBody = z.infer<typeof chatSchema>;
export type CompletionBody = z.infer<typeof completionSchema>;
type SamplingBody = z.infer<z.ZodObject<typeof sampling>>;

/** The engine's sampling options from the OpenAI fields (null and absent both mean "default"). */
export function samplingOptions(b: SamplingBody, maxTokens: number | null | undefined) {
  return {
    maxTokens: maxTokens ?? undefined,
    temperature: b.temperature ?? undefined,
    topP: b.top_p ?? undefined,
    topK: b.top_k ?? undefined,
    minP: b.min_p ?? undefined,
    seed: b.seed == null ? undefined : b.seed >>> 0,
    stop: b.stop,
    presencePenalty: b.presence_penalty ?? undefined,
    frequencyPenalty: b.frequency_penalty ?? undefined,
    repeatPenalty: b.repeat_penalty ?? undefined,
    ignoreEos: b.ignore_eos ?? undefined,
    cachePrompt: b.cache_prompt ?? undefined,
    ...llamaServerOptions(b),
  };
}

type RequestPart = Exclude<ChatBody["messages"][number]["content"], string | null | undefined>[number];

/** One content part as the engine's: media references resolved (local paths only inside `mediaDir`). */
function toContentPart(p: RequestPart, mediaDir: string | undefined, param: string): ContentPart {
  const url = (u: string | { url: string }) => typeof u === "string" ? u : u.url;
  switch (p.type) {
    case "text":
      return p;
    case "image_url":
      return { type: "image", image: mediaSource(url(p.image_url), mediaDir, param, "image") };
    case "video_url":
      return { type: "video", video: mediaSource(url(p.video_url), mediaDir, param, "video") };
    case "input_video": {
      const v = p.input_video;
      const source = "data" in v ? `data:video/${v.format ?? "mp4"};base64,${v.data}` : v.url;
      return { type: "video", video: mediaSource(source, mediaDir, param, "video") };
    }
  }
}

/** OpenAI messages as the engine's, media resolved (local paths only inside `mediaDir`). */
export function toMessages(messages: ChatBody["messages"], mediaDir: string | undefined): Message[] {
  return messages.map((m, i) => {
    const param = `messages.${i}.content`;
    const content = Array.isArray(m.content)
      ? m.content.map((p, k) => toContentPart(p, mediaDir, `${param}.${k}`))
      : m.content ?? null;
    if (m.role === "assistant") {
      return {
        role: "assistant",
        content,
        ...(m.reasoning_content ? { reasoning_content: m.reasoning_content } : {}),
        ...(m.tool_calls?.length
          ? {
            tool_calls: m.tool_calls.map((t, k) => ({
              ...t,
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
    if (m.role === "tool") return { role: "tool", content, tool_call_id: m.tool_call_id, name: m.name };
    return { role: m.role === "developer" ? "system" : m.role, content };
  });
}

/** A /v1/chat/completions body as the chat job both APIs run. */
export function chatJob(b: ChatBody, mediaDir: string | undefined, signal: AbortSignal): ChatJob {
  const rf = b.response_format;
  const tc = b.tool_choice;
  return {
    messages: toMessages(b.messages, mediaDir),
    tools: (b.tools ?? undefined) as ToolDef[] | undefined,
    toolChoice: (typeof tc === "object" && tc ? { name: tc.function.name } : tc ?? "auto") as ToolChoice,
    thinking: b.chat_template_kwargs?.enable_thinking ?? false,
    parallelToolCalls: b.parallel_tool_calls ?? undefined,
    json: rf?.type === "json_object" ? {} : rf?.type === "json_schema" ? { schema: rf.json_schema.schema } : undefined,
    options: {
      ...samplingOptions(b, b.max_completion_tokens ?? tokenLimit(b.max_tokens) ?? nPredict(b)),
      logprobs: b.logprobs ? b.top_logprobs ?? 0 : undefined,
      downsampleMode: b.mm_processor_kwargs?.downsample_mode,
      maxSliceNums: b.mm_processor_kwargs?.max_slice_nums,
      useImageId: b.mm_processor_kwargs?.use_image_id,
      maxNumFrames: b.mm_processor_kwargs?.max_num_frames,
      stackFrames: b.mm_processor_kwargs?.stack_frames,
      templateKwargs: b.chat_template_kwargs ?? undefined,
    },
    signal,
  };
}

/** A /v1/completions prompt: text to tokenize, or the token ids themselves. */
export function completionPrompt(prompt: CompletionBody["prompt"]): string | Int32Array {
  if (typeof prompt === "string") return prompt;
  return typeof prompt[0] === "string" ? prompt[0] : Int32Array.from(prompt as number[]);
}

/** The generation options of a /v1/completions body (16 tokens unless `max_tokens` or `n_predict` says otherwise). */
export function completionOptions(b: CompletionBody, signal: AbortSignal) {
  const maxTokens = tokenLimit(b.max_tokens) ?? nPredict(b) ?? 16;
  return { ...samplingOptions(b, maxTokens), logprobs: b.logprobs ?? undefined, signal };
}
