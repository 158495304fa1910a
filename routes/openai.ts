/** OpenAI-compatible routes: /v1/chat/completions, /v1/completions, /v1/models. */

import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { z } from "zod";
import type { OutputEvent } from "../engine/ts/chat/output.ts";
import type { ToolDef } from "../engine/ts/chat/tool-calls.ts";
import { generate, type GenerationResult, type TokenLogprobs } from "../engine/ts/generate.ts";
import type { ContentPart, Message } from "../engine/ts/minicpmv.ts";
import type { Vocabulary } from "../engine/ts/vocab.ts";
import { readBody, stopSchema, toolSchema } from "./body.ts";
import { type ChatJob, checkPromptFits, imageSource, parseHistoryArguments, startChat, type ToolChoice } from "./chat.ts";
import { RequestScope } from "./scope.ts";
import type { ModelService } from "./service.ts";

const textPart = z.object({ type: z.literal("text"), text: z.string() });
const imagePart = z.object({
  type: z.literal("image_url"),
  image_url: z.union([z.string(), z.object({ url: z.string(), detail: z.enum(["auto", "low", "high"]).optional() })]),
});
const contentSchema = z.union([z.string(), z.array(z.discriminatedUnion("type", [textPart, imagePart])), z.null()]);

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
  max_tokens: z.number().int().min(0).nullish(),
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
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
  n: z.literal(1).nullish(),
  user: z.string().optional(),
};

const chatSchema = z.strictObject({
  ...sampling,
  messages: z.array(messageSchema).min(1),
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
  tools: z.array(toolSchema).nullish(),
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
  }).nullish(),
  store: z.boolean().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
});

const completionSchema = z.strictObject({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).length(1), z.array(z.number().int()).min(1)]),
  logprobs: z.number().int().min(0).max(20).nullish(),
  echo: z.literal(false).nullish(),
  best_of: z.literal(1).nullish(),
});

type SamplingBody = z.infer<z.ZodObject<typeof sampling>>;

function samplingOptions(b: SamplingBody, maxTokens: number | null | undefined) {
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
  };
}

function toMessages(messages: z.infer<typeof messageSchema>[], service: ModelService): Message[] {
  return messages.map((m, i) => {
    const param = `messages.${i}.content`;
    const content = Array.isArray(m.content)
      ? m.content.map((p, k): ContentPart =>
        p.type === "text" ? p : {
          type: "image",
          image: imageSource(
            typeof p.image_url === "string" ? p.image_url : p.image_url.url,
            service,
            `${param}.${k}`,
          ),
        }
      )
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

/** OpenAI `logprobs.content` entries from engine token log-probabilities. */
function logprobContent(vocab: Vocabulary, lps: TokenLogprobs[], top: number) {
  const entry = (token: number, logprob: number) => {
    const bytes = [...vocab.bytes(token)];
    return { token: new TextDecoder().decode(new Uint8Array(bytes)), logprob, bytes };
  };
  return lps.map((lp) => ({
    ...entry(lp.token, lp.logprob),
    top_logprobs: lp.top.slice(0, top).map((t) => entry(t.token, t.logprob)),
  }));
}

function usage(r: GenerationResult, imageTokens?: number) {
  return {
    prompt_tokens: r.usage.promptTokens,
    completion_tokens: r.usage.completionTokens,
    total_tokens: r.usage.totalTokens,
    ...(imageTokens !== undefined ? { prompt_tokens_details: { image_tokens: imageTokens, cached_tokens: 0 } } : {}),
  };
}

/** llama-server's `timings` object (server-side prompt and generation time). */
function timings(r: GenerationResult) {
  const { promptMs, generateMs } = r.timings;
  return {
    prompt_n: r.usage.promptTokens,
    prompt_ms: promptMs,
    predicted_n: r.usage.completionTokens,
    predicted_ms: generateMs,
    predicted_per_second: generateMs > 0 ? (r.usage.completionTokens / generateMs) * 1000 : 0,
  };
}

const newId = (prefix: string) => `${prefix}-${crypto.randomUUID().replaceAll("-", "")}`;

export function openaiRoutes(service: ModelService): Hono {
  const app = new Hono();

  app.get("/v1/models", (c) =>
    c.json({
      object: "list",
      data: [{ id: service.options.modelId, object: "model", created: service.created, owned_by: "minicpmv-edge" }],
    }));

  app.post("/v1/chat/completions", async (c) => {
    const b = await readBody(c, chatSchema);
    service.checkModel(b.model);
    const scope = new RequestScope(c, service);
    try {
      const rf = b.response_format;
      const tc = b.tool_choice;
      const job: ChatJob = {
        messages: toMessages(b.messages, service),
        tools: (b.tools ?? undefined) as ToolDef[] | undefined,
        toolChoice: (typeof tc === "object" && tc ? { name: tc.function.name } : tc ?? "auto") as ToolChoice,
        thinking: b.chat_template_kwargs?.enable_thinking ?? false,
        parallelToolCalls: b.parallel_tool_calls ?? undefined,
        json: rf?.type === "json_object"
          ? {}
          : rf?.type === "json_schema"
          ? { schema: rf.json_schema.schema }
          : undefined,
        options: {
          ...samplingOptions(b, b.max_completion_tokens ?? b.max_tokens),
          logprobs: b.logprobs ? b.top_logprobs ?? 0 : undefined,
          downsampleMode: b.mm_processor_kwargs?.downsample_mode,
          maxSliceNums: b.mm_processor_kwargs?.max_slice_nums,
          useImageId: b.mm_processor_kwargs?.use_image_id,
          templateKwargs: b.chat_template_kwargs ?? undefined,
        },
        signal: scope.signal,
      };
      const { run, output, vocab } = await startChat(service, job);
      const id = newId("chatcmpl");
      const created = Math.floor(Date.now() / 1000);
      const head = { id, object: "chat.completion.chunk", created, model: service.options.modelId };
      const topN = b.top_logprobs ?? 0;
      const finishReason = (r: GenerationResult) => output.message.tool_calls.length ? "tool_calls" : r.finishReason;
      const finished = (r: GenerationResult) => service.metrics.record(r, run.images.imageTokens);

      if (!b.stream) {
        const r = await run.generation.result;
        finished(r);
        output.push(r.text);
        output.end();
        const o = output.message;
        return c.json({
          id,
          object: "chat.completion",
          created,
          model: service.options.modelId,
          choices: [{
            index: 0,
            message: {
              role: "assistant",
              content: o.content || (o.tool_calls.length ? null : ""),
              ...(o.reasoning_content ? { reasoning_content: o.reasoning_content } : {}),
              ...(o.tool_calls.length ? { tool_calls: o.tool_calls } : {}),
            },
            logprobs: b.logprobs ? { content: logprobContent(vocab, r.logprobs ?? [], topN) } : null,
            finish_reason: finishReason(r),
          }],
          usage: usage(r, run.images.imageTokens),
          timings: timings(r),
        });
      }

      return scope.sse(async (stream) => {
        const send = (delta: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
          stream.writeSSE({
            data: JSON.stringify({
              ...head,
              choices: [{ index: 0, delta, logprobs: null, finish_reason: null, ...extra }],
            }),
          });
        await send({ role: "assistant", content: "" });
        for await (const piece of run.generation) {
          const events = output.push(piece.text).map(chatDelta).filter((d) => d !== undefined);
          const lp = b.logprobs && piece.logprobs
            ? { logprobs: { content: logprobContent(vocab, piece.logprobs, topN) } }
            : {};
          if (!events.length && "logprobs" in lp) await send({}, lp);
          for (const [k, d] of events.entries()) await send(d, k === 0 ? lp : {});
        }
        for (const d of output.end().map(chatDelta)) if (d) await send(d);
        const r = await run.generation.result;
        finished(r);
        await stream.writeSSE({
          data: JSON.stringify({ ...head, choices: [{ index: 0, delta: {}, logprobs: null, finish_reason: finishReason(r) }], timings: timings(r) }),
        });
        if (b.stream_options?.include_usage) {
          await stream.writeSSE({
            data: JSON.stringify({ ...head, choices: [], usage: usage(r, run.images.imageTokens) }),
          });
        }
        await stream.writeSSE({ data: "[DONE]" });
      });
    } finally {
      scope.settle();
    }
  });

  app.post("/v1/completions", async (c) => {
    const b = await readBody(c, completionSchema);
    service.checkModel(b.model);
    const scope = new RequestScope(c, service);
    try {
      const mm = await service.model();
      const vocab = mm.model.vocab;
      const prompt = typeof b.prompt === "string"
        ? await mm.model.tokenize(b.prompt)
        : typeof b.prompt[0] === "string"
        ? await mm.model.tokenize(b.prompt[0] as string)
        : Int32Array.from(b.prompt as number[]);
      checkPromptFits(prompt.length, mm.context.sequenceSize);
      const gen = generate(mm.context, prompt, {
        ...samplingOptions(b, b.max_tokens ?? 16),
        logprobs: b.logprobs ?? undefined,
        signal: scope.signal,
      });
      const head = {
        id: newId("cmpl"),
        object: "text_completion",
        created: Math.floor(Date.now() / 1000),
        model: service.options.modelId,
      };
      const choice = (text: string, lps: TokenLogprobs[] | undefined, finish: string | null) => ({
        text,
        index: 0,
        logprobs: b.logprobs != null && lps ? legacyLogprobs(vocab, lps) : null,
        finish_reason: finish,
      });
      if (!b.stream) {
        const r = await gen.result;
        service.metrics.record(r);
        return c.json({ ...head, choices: [choice(r.text, r.logprobs, r.finishReason)], usage: usage(r), timings: timings(r) });
      }
      return scope.sse(async (stream) => {
        for await (const piece of gen) {
          await stream.writeSSE({
            data: JSON.stringify({ ...head, choices: [choice(piece.text, piece.logprobs, null)] }),
          });
        }
        const r = await gen.result;
        service.metrics.record(r);
        await stream.writeSSE({ data: JSON.stringify({ ...head, choices: [choice("", undefined, r.finishReason)], timings: timings(r) }) });
        if (b.stream_options?.include_usage) {
          await stream.writeSSE({ data: JSON.stringify({ ...head, choices: [], usage: usage(r) }) });
        }
        await stream.writeSSE({ data: "[DONE]" });
      });
    } finally {
      scope.settle();
    }
  });

  return app;
}

/** An OpenAI chat delta for an output event (tool_call_end has none). */
function chatDelta(e: OutputEvent): Record<string, unknown> | undefined {
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

/** The legacy completions `logprobs` object. */
function legacyLogprobs(vocab: Vocabulary, lps: TokenLogprobs[]) {
  const d = new TextDecoder();
  const text = (t: number) => d.decode(vocab.bytes(t));
  return {
    tokens: lps.map((l) => text(l.token)),
    token_logprobs: lps.map((l) => l.logprob),
    top_logprobs: lps.map((l) => Object.fromEntries(l.top.map((t) => [text(t.token), t.logprob]))),
  };
}
