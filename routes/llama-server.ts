/**
 * llama-server's own routes, which its web UI, client libraries and tools use: POST /completion (and its
 * alias /completions), GET /props and GET /slots (read-only). Parse (llama-fields.ts), run, render
 * (llama-server-render.ts).
 */

import { type Context, Hono } from "hono";
import type { SSEStreamingApi } from "hono/streaming";
import { generate, type TokenLogprobs } from "../engine/ts/generate.ts";
import type { MiniCPMV } from "../engine/ts/minicpmv.ts";
import { readBody } from "./body.ts";
import { checkPromptFits } from "./chat.ts";
import { checkTextCanFit } from "./limits.ts";
import { llamaCompletionOptions, llamaCompletionSchema, llamaPrompt } from "./llama-fields.ts";
import {
  completionBody,
  completionChunk,
  completionProbabilities,
  type CompletionSettings,
  DEFAULT_N_PREDICT,
  propsBody,
  type ServerFacts,
  slotsBody,
} from "./llama-server-render.ts";
import { startRerunnable } from "./rerun.ts";
import { RequestScope } from "./scope.ts";
import type { ModelService } from "./service.ts";

const BUILD_INFO = "minicpmv-edge (llama.cpp, wasm)";

const sendJson = (stream: SSEStreamingApi, body: unknown) => stream.writeSSE({ data: JSON.stringify(body) });

export function llamaServerRoutes(service: ModelService): Hono {
  const app = new Hono();
  /** the facts of the last loaded model: /props and /slots answer from them while it sleeps (no reload) */
  let facts: Omit<ServerFacts, "busy"> | undefined;
  const factsOf = (mm: MiniCPMV) => ({
    modelId: service.options.modelId,
    modelPath: mm.model.info.files[0] ?? "",
    chatTemplate: mm.model.info.chatTemplate ?? "",
    nCtx: mm.context.sequenceSize,
    slots: service.options.parallel,
    vision: !!mm.vision,
    buildInfo: BUILD_INFO,
  });
  const serverFacts = async (): Promise<{ f: ServerFacts; sleeping: boolean }> => {
    if (service.sleeping && facts) return { f: { ...facts, busy: 0 }, sleeping: true };
    const mm = await service.model();
    facts = factsOf(mm);
    return { f: { ...facts, busy: mm.context.scheduler.active }, sleeping: false };
  };

  app.get("/props", async (c) => {
    const { f, sleeping } = await serverFacts();
    return c.json({ ...propsBody(f), is_sleeping: sleeping });
  });

  app.get("/slots", async (c) => c.json(slotsBody((await serverFacts()).f)));

  const completion = async (c: Context) => {
    const b = await readBody(c, llamaCompletionSchema);
    const scope = new RequestScope(c, service);
    try {
      const text = llamaPrompt(b.prompt);
      const options = llamaCompletionOptions(b, DEFAULT_N_PREDICT, scope.signal);
      const { generation: gen, mm } = await startRerunnable(service, scope.signal, async (mm) => {
        if (typeof text === "string") checkTextCanFit(text.length, mm.model.vocab, mm.context.sequenceSize, "prompt");
        const prompt = typeof text === "string" ? await mm.model.tokenize(text) : text;
        checkPromptFits(prompt.length, mm.context.sequenceSize);
        return { generation: generate(mm.context, prompt, options), mm };
      });
      const settings: CompletionSettings = {
        nPredict: b.n_predict ?? DEFAULT_N_PREDICT,
        stop: b.stop ?? [],
        returnTokens: !!b.return_tokens,
      };
      const probs = (lps?: TokenLogprobs[]) =>
        b.n_probs && lps ? completionProbabilities(mm.model.vocab, lps) : undefined;
      if (!b.stream) {
        const r = await gen.result;
        service.metrics.record(r);
        return c.json(completionBody(service.options.modelId, r.text, r, settings, probs(r.logprobs)));
      }
      return scope.sse(async (stream) => {
        for await (const piece of gen) {
          await sendJson(stream, completionChunk(piece.text, piece.tokens, settings, probs(piece.logprobs)));
        }
        const r = await gen.result;
        service.metrics.record(r);
        await sendJson(stream, completionBody(service.options.modelId, "", r, settings));
      });
    } finally {
      scope.settle();
    }
  };
  app.post("/completion", completion);
  app.post("/completions", completion);

  return app;
}
