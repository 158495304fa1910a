/** Ollama-compatible routes: /api/chat, /api/generate, /api/tags, /api/show, /api/version. */

import { Hono } from "hono";
import { z } from "zod";
import type { OutputEvent } from "../engine/ts/chat/output.ts";
import type { ToolCall, ToolDef } from "../engine/ts/chat/tool-calls.ts";
import { InvalidRequestError } from "../engine/ts/errors.ts";
import { generate, type GenerationResult } from "../engine/ts/generate.ts";
import type { ContentPart, Message } from "../engine/ts/minicpmv.ts";
import { readBody, toolSchema } from "./body.ts";
import { type ChatJob, parseHistoryArguments, startChat, type ToolChoice } from "./chat.ts";
import { RequestScope } from "./scope.ts";
import type { ModelService } from "./service.ts";

export const OLLAMA_VERSION = "0.12.0";

// Ollama accepts a loose `options` object; the ones we honour are typed, the rest ignored as Ollama does.
const optionsSchema = z.object({
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  min_p: z.number().min(0).max(1).optional(),
  seed: z.number().int().optional(),
  num_predict: z.number().int().optional(),
  stop: z.array(z.string()).optional(),
  repeat_penalty: z.number().min(0).max(10).optional(),
  repeat_last_n: z.number().int().min(-1).optional(),
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
  images: z.array(base64).nullish(),
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

const chatSchema = z.object({
  ...common,
  messages: z.array(messageSchema),
  tools: z.array(toolSchema).optional(),
  /** extension (as in OpenAI): "auto" | "none" | "required" | a function name, to force a call */
  tool_choice: z.string().optional(),
});
const generateSchema = z.object({
  ...common,
  prompt: z.string().default(""),
  suffix: z.string().optional(),
  system: z.string().optional(),
  images: z.array(base64).optional(),
  raw: z.boolean().optional(),
  template: z.string().optional(),
  context: z.array(z.number()).optional(),
});

type Options = z.infer<typeof optionsSchema>;

function chatOptions(o: Options) {
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

function imagesOf(images: string[] | null | undefined): ContentPart[] {
  return (images ?? []).map((b) => ({
    type: "image",
    image: `data:application/octet-stream;base64,${b.replace(/\s/g, "")}`,
  }));
}

function withImages(text: string, images: string[] | null | undefined): string | ContentPart[] {
  return images?.length ? [...imagesOf(images), { type: "text", text }] : text;
}

function json(format: z.infer<typeof formatSchema>): ChatJob["json"] {
  if (format === "json") return {};
  return format && typeof format === "object" ? { schema: format } : undefined;
}

/** Ollama's timing fields, in nanoseconds. */
function timings(r: GenerationResult, startedAt: number) {
  return {
    total_duration: Math.round((performance.now() - startedAt) * 1e6),
    load_duration: 0,
    prompt_eval_count: r.usage.promptTokens,
    prompt_eval_duration: Math.round(r.timings.promptMs * 1e6),
    eval_count: r.usage.completionTokens,
    eval_duration: Math.round(r.timings.generateMs * 1e6),
  };
}

function ollamaToolCalls(calls: ToolCall[]) {
  return calls.map((c) => ({ function: { name: c.function.name, arguments: JSON.parse(c.function.arguments) } }));
}

export function ollamaRoutes(service: ModelService): Hono {
  const app = new Hono();
  const now = () => new Date().toISOString();

  app.get("/api/version", (c) => c.json({ version: OLLAMA_VERSION }));

  app.get("/api/tags", async (c) => {
    const mm = await service.model();
    return c.json({ models: [modelEntry(service, mm.model.info.sizeBytes, mm.model.info.files)] });
  });

  app.get("/api/ps", async (c) => {
    const mm = await service.model();
    return c.json({
      models: [{
        ...modelEntry(service, mm.model.info.sizeBytes, mm.model.info.files),
        expires_at: "0001-01-01T00:00:00Z",
        size_vram: 0,
      }],
    });
  });

  app.post("/api/show", async (c) => {
    const b = await readBody(
      c,
      z.object({ model: z.string().optional(), name: z.string().optional(), verbose: z.boolean().optional() }),
    );
    service.checkModel(b.model ?? b.name);
    const mm = await service.model();
    const info = mm.model.info;
    return c.json({
      modelfile: `FROM ${info.files[0]}`,
      parameters: "",
      template: info.chatTemplate ?? "",
      details: modelEntry(service, info.sizeBytes, info.files).details,
      model_info: {
        "general.architecture": "qwen35",
        "general.name": info.name ?? service.options.modelId,
        "qwen35.context_length": info.nCtxTrain,
        "qwen35.embedding_length": info.nEmbd,
      },
      capabilities: ["completion", "tools", "thinking", ...(mm.vision ? ["vision"] : [])],
      modified_at: new Date(service.created * 1000).toISOString(),
    });
  });

  app.post("/api/chat", async (c) => {
    const b = await readBody(c, chatSchema);
    service.checkModel(b.model);
    const scope = new RequestScope(c, service);
    try {
      const startedAt = performance.now();
      const messages: Message[] = b.messages.map((m, i) => {
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
      const { run, output } = await startChat(service, {
        messages,
        tools: b.tools as ToolDef[] | undefined,
        toolChoice: b.tool_choice === undefined || ["auto", "none", "required"].includes(b.tool_choice)
          ? (b.tool_choice ?? "auto") as ToolChoice
          : { name: b.tool_choice },
        thinking: !!b.think,
        json: json(b.format),
        options: chatOptions(b.options),
        signal: scope.signal,
      });
      const message = (e: OutputEvent) =>
        e.type === "content"
          ? { role: "assistant", content: e.text }
          : e.type === "reasoning"
          ? { role: "assistant", content: "", thinking: e.text }
          : undefined;
      const final = (r: GenerationResult) => {
        service.metrics.record(r, run.images.imageTokens);
        const calls = output.message.tool_calls;
        return { done: true, done_reason: r.finishReason, ...timings(r, startedAt), calls };
      };
      if (!b.stream) {
        const r = await run.generation.result;
        output.push(r.text);
        output.end();
        const o = output.message;
        const { calls, ...done } = final(r);
        return c.json({
          model: b.model,
          created_at: now(),
          message: {
            role: "assistant",
            content: o.content,
            ...(o.reasoning_content ? { thinking: o.reasoning_content } : {}),
            ...(calls.length ? { tool_calls: ollamaToolCalls(calls) } : {}),
          },
          ...done,
        });
      }
      return scope.ndjson(async (send) => {
        const emit = async (events: OutputEvent[]) => {
          for (const e of events) {
            const m = message(e);
            if (m) await send({ model: b.model, created_at: now(), message: m, done: false });
          }
        };
        for await (const piece of run.generation) await emit(output.push(piece.text));
        await emit(output.end());
        const { calls, ...done } = final(await run.generation.result);
        // Ollama sends tool calls whole, in a message of their own
        if (calls.length) {
          await send({
            model: b.model,
            created_at: now(),
            message: { role: "assistant", content: "", tool_calls: ollamaToolCalls(calls) },
            done: false,
          });
        }
        await send({ model: b.model, created_at: now(), message: { role: "assistant", content: "" }, ...done });
      });
    } finally {
      scope.settle();
    }
  });

  app.post("/api/generate", async (c) => {
    const b = await readBody(c, generateSchema);
    service.checkModel(b.model);
    const scope = new RequestScope(c, service);
    try {
      const startedAt = performance.now();
      const mm = await service.model();
      if (!b.prompt && !b.images?.length) {
        // Ollama answers an empty prompt by loading the model
        return c.json({ model: b.model, created_at: now(), response: "", done: true, done_reason: "load" });
      }
      let run;
      if (b.raw) {
        if (b.images?.length) throw new InvalidRequestError("raw prompts cannot carry images", "images");
        const tokens = await mm.model.tokenize(b.prompt);
        run = {
          generation: generate(mm.context, tokens, { ...chatOptions(b.options), signal: scope.signal }),
          images: { imageTokens: 0 },
        };
      } else {
        const messages: Message[] = [
          ...(b.system ? [{ role: "system" as const, content: b.system }] : []),
          { role: "user", content: withImages(b.prompt, b.images) },
        ];
        const started = await startChat(service, {
          messages,
          thinking: !!b.think,
          json: json(b.format),
          options: chatOptions(b.options),
          signal: scope.signal,
        });
        run = { ...started.run, output: started.output };
      }
      const output = "output" in run ? run.output : undefined;
      const fields = (events: OutputEvent[]) => {
        let response = "", thinking = "";
        for (const e of events) {
          if (e.type === "content") response += e.text;
          else if (e.type === "reasoning") thinking += e.text;
        }
        return { response, ...(thinking ? { thinking } : {}) };
      };
      const parse = (text: string) => output ? fields(output.push(text)) : { response: text };
      const flush = () => output ? fields(output.end()) : { response: "" };
      if (!b.stream) {
        const r = await run.generation.result;
        service.metrics.record(r, run.images.imageTokens);
        const a = parse(r.text), z2 = flush();
        return c.json({
          model: b.model,
          created_at: now(),
          response: a.response + z2.response,
          ...(a.thinking || z2.thinking ? { thinking: (a.thinking ?? "") + (z2.thinking ?? "") } : {}),
          done: true,
          done_reason: r.finishReason,
          ...timings(r, startedAt),
        });
      }
      return scope.ndjson(async (send) => {
        for await (const piece of run.generation) {
          const f = parse(piece.text);
          if (f.response || f.thinking) await send({ model: b.model, created_at: now(), ...f, done: false });
        }
        const f = flush();
        if (f.response || f.thinking) await send({ model: b.model, created_at: now(), ...f, done: false });
        const r = await run.generation.result;
        service.metrics.record(r, run.images.imageTokens);
        await send({
          model: b.model,
          created_at: now(),
          response: "",
          done: true,
          done_reason: r.finishReason,
          ...timings(r, startedAt),
        });
      });
    } finally {
      scope.settle();
    }
  });

  return app;
}

function modelEntry(service: ModelService, size: number, files: string[]) {
  const file = files[0] ?? "";
  const quant = /(Q\d_K(_[SML])?|Q\d_\d|F16|BF16|F32)/i.exec(file)?.[1]?.toUpperCase() ?? "unknown";
  return {
    name: service.options.modelId,
    model: service.options.modelId,
    modified_at: new Date(service.created * 1000).toISOString(),
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
