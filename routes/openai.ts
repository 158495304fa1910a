/**
 * OpenAI-compatible routes: /v1/chat/completions, /v1/completions, /v1/models. Each handler
 * parses (openai-request.ts), starts the generation, and renders (openai-render.ts).
 */

import { Hono } from "hono";
import type { SSEStreamingApi } from "hono/streaming";
import { generate, type TokenLogprobs } from "../engine/ts/generate.ts";
import { readBody } from "./body.ts";
import { checkPromptFits, startChat } from "./chat.ts";
import { checkTextCanFit } from "./limits.ts";
import {
  chatChunk,
  chatChunks,
  chatCompletion,
  chatFinishReason,
  chatLastChunk,
  completion,
  completionChunk,
  completionLastChunk,
  legacyLogprobs,
  logprobContent,
  modelList,
  newId,
  unixSeconds,
  usageBody,
  usageChunk,
} from "./openai-render.ts";
import { chatJob, chatSchema, completionOptions, completionPrompt, completionSchema } from "./openai-request.ts";
import { startRerunnable } from "./rerun.ts";
import { RequestScope } from "./scope.ts";
import type { ModelService } from "./service.ts";

/** Writes one server-sent event with a JSON body. */
const sendJson = (stream: SSEStreamingApi, body: unknown) => stream.writeSSE({ data: JSON.stringify(body) });

export function openaiRoutes(service: ModelService): Hono {
  const app = new Hono();

  app.get("/v1/models", (c) => c.json(modelList(service.options.modelId, service.created)));

  app.post("/v1/chat/completions", async (c) => {
    const b = await readBody(c, chatSchema);
    service.checkModel(b.model);
    const scope = new RequestScope(c, service);
    try {
      const { run, output, vocab } = await startChat(service, chatJob(b, service.options.mediaDir, scope.signal));
      const ref = { id: newId("chatcmpl"), created: unixSeconds(), model: service.options.modelId };
      const logprobs = (lps: TokenLogprobs[]) => logprobContent(vocab, lps, b.top_logprobs ?? 0);
      if (!b.stream) {
        const r = await run.generation.result;
        service.metrics.record(r, run.media);
        output.push(r.text);
        output.end();
        const lp = b.logprobs ? logprobs(r.logprobs ?? []) : undefined;
        return c.json(chatCompletion(ref, output.message, r, lp, run.media));
      }
      return scope.sse(async (stream) => {
        await sendJson(stream, chatChunk(ref, { role: "assistant", content: "" }));
        for await (const piece of run.generation) {
          const lp = b.logprobs && piece.logprobs ? logprobs(piece.logprobs) : undefined;
          for (const chunk of chatChunks(ref, output.push(piece.text), lp)) await sendJson(stream, chunk);
        }
        for (const chunk of chatChunks(ref, output.end())) await sendJson(stream, chunk);
        const r = await run.generation.result;
        service.metrics.record(r, run.media);
        await sendJson(stream, chatLastChunk(ref, chatFinishReason(output.message, r), r));
        if (b.stream_options?.include_usage) {
          await sendJson(stream, usageChunk(ref, "chat.completion.chunk", usageBody(r, run.media)));
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
      const text = completionPrompt(b.prompt);
      // runs again on the reloaded model when the engine crashes before it generated (rerun.ts)
      const { generation: gen, mm } = await startRerunnable(service, scope.signal, async (mm) => {
        if (typeof text === "string") checkTextCanFit(text.length, mm.model.vocab, mm.context.sequenceSize, "prompt");
        const prompt = typeof text === "string" ? await mm.model.tokenize(text) : text;
        checkPromptFits(prompt.length, mm.context.sequenceSize);
        return { generation: generate(mm.context, prompt, completionOptions(b, scope.signal)), mm };
      });
      const ref = { id: newId("cmpl"), created: unixSeconds(), model: service.options.modelId };
      const logprobs = (lps?: TokenLogprobs[]) =>
        b.logprobs != null && lps ? legacyLogprobs(mm.model.vocab, lps) : null;
      if (!b.stream) {
        const r = await gen.result;
        service.metrics.record(r);
        return c.json(completion(ref, r, logprobs(r.logprobs)));
      }
      return scope.sse(async (stream) => {
        for await (const piece of gen) {
          await sendJson(stream, completionChunk(ref, piece.text, logprobs(piece.logprobs)));
        }
        const r = await gen.result;
        service.metrics.record(r);
        await sendJson(stream, completionLastChunk(ref, r));
        if (b.stream_options?.include_usage) await sendJson(stream, usageChunk(ref, "text_completion", usageBody(r)));
        await stream.writeSSE({ data: "[DONE]" });
      });
    } finally {
      scope.settle();
    }
  });

  return app;
}
