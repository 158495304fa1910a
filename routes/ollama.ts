/**
 * Ollama-compatible routes: /api/chat, /api/generate, /api/tags, /api/ps, /api/show,
 * /api/version. Each handler parses (ollama-request.ts), starts the generation, and renders
 * (ollama-render.ts) a JSON body or newline-delimited JSON lines.
 */

import { Hono } from "hono";
import type { OutputEvent } from "../engine/ts/chat/output.ts";
import { InvalidRequestError } from "../engine/ts/errors.ts";
import { generate, type Generation, type GenerationResult } from "../engine/ts/generate.ts";
import type { MediaTokens, MiniCPMV } from "../engine/ts/minicpmv.ts";
import { readBody } from "./body.ts";
import { startChat } from "./chat.ts";
import { checkTextCanFit } from "./limits.ts";
import {
  chatChunk,
  chatDone,
  chatMessage,
  eventMessages,
  generateChunk,
  generateDone,
  generateFields,
  generateLoaded,
  KEPT_FOREVER,
  modelEntry,
  OLLAMA_VERSION,
  runningModel,
  showBody,
  toolCallMessage,
} from "./ollama-render.ts";
import {
  chatJob,
  chatOptions,
  chatSchema,
  type GenerateBody,
  generateJob,
  generateSchema,
  showSchema,
} from "./ollama-request.ts";
import { type IdleUnloader, keepAliveMs } from "./idle.ts";
import { startRerunnable } from "./rerun.ts";
import { RequestScope } from "./scope.ts";
import type { ModelService } from "./service.ts";

/**
 * /api/generate's run, raw or through the chat template: the generation, its media tokens, and
 * its text as output events (the raw text is all content; templated text is parsed for reasoning).
 */
interface GenerateRun {
  generation: Generation;
  media: MediaTokens;
  output: { push(text: string): OutputEvent[]; end(): OutputEvent[] };
}

/** A raw prompt: tokenized as is, no template, no images; its text is all content. */
async function startRaw(mm: MiniCPMV, b: GenerateBody, signal: AbortSignal): Promise<GenerateRun> {
  if (b.images?.length) throw new InvalidRequestError("raw prompts cannot carry images", "images");
  checkTextCanFit(b.prompt.length, mm.model.vocab, mm.context.sequenceSize, "prompt");
  const tokens = await mm.model.tokenize(b.prompt);
  return {
    generation: generate(mm.context, tokens, { ...chatOptions(b.options), signal }),
    media: { imageTokens: 0, videoTokens: 0 },
    output: { push: (text) => [{ type: "content", text }], end: () => [] },
  };
}

/** A prompt through the chat template (with `system` and images), its output parsed as a chat's. */
async function startTemplated(service: ModelService, b: GenerateBody, signal: AbortSignal): Promise<GenerateRun> {
  const { run, output } = await startChat(service, generateJob(b, signal));
  return { generation: run.generation, media: run.media, output };
}

export function ollamaRoutes(service: ModelService, idle: IdleUnloader): Hono {
  const app = new Hono();
  const now = () => new Date().toISOString();
  /** Waits for the end of a generation, counts it, and measures the request's time so far. */
  const finish = async (generation: Generation, media: MediaTokens, startedAt: number) => {
    const r: GenerationResult = await generation.result;
    service.metrics.record(r, media);
    return { r, totalMs: performance.now() - startedAt };
  };

  app.get("/api/version", (c) => c.json({ version: OLLAMA_VERSION }));

  /** the model's files and size; while it sleeps (idle.ts), those of its last load, so that listing does not reload it */
  let lastInfo: MiniCPMV["model"]["info"] | undefined;
  const modelInfo = async () =>
    service.sleeping && lastInfo ? lastInfo : (lastInfo = (await service.model()).model.info);

  app.get("/api/tags", async (c) => {
    const { sizeBytes, files } = await modelInfo();
    return c.json({ models: [modelEntry(service.options.modelId, service.created, sizeBytes, files)] });
  });

  app.get("/api/ps", async (c) => {
    if (service.sleeping || service.state !== "ready") return c.json({ models: [] }); // only loaded models
    const { sizeBytes, files } = (await service.model()).model.info;
    const expires = idle.expiresAt()?.toISOString() ?? KEPT_FOREVER;
    return c.json({ models: [runningModel(service.options.modelId, service.created, sizeBytes, files, expires)] });
  });

  app.post("/api/show", async (c) => {
    const b = await readBody(c, showSchema);
    service.checkModel(b.model ?? b.name);
    const mm = await service.model();
    return c.json(showBody(service.options.modelId, service.created, mm.model.info, !!mm.vision));
  });

  app.post("/api/chat", async (c) => {
    const b = await readBody(c, chatSchema);
    service.checkModel(b.model);
    idle.request(keepAliveMs(b.keep_alive));
    const scope = new RequestScope(c, service);
    try {
      const startedAt = performance.now();
      const { run, output } = await startChat(service, chatJob(b, scope.signal));
      if (!b.stream) {
        const { r, totalMs } = await finish(run.generation, run.media, startedAt);
        output.push(r.text);
        output.end();
        return c.json(chatDone(b.model, now(), chatMessage(output.message), r, totalMs));
      }
      return scope.ndjson(async (send) => {
        const emit = async (events: OutputEvent[]) => {
          for (const m of eventMessages(events)) await send(chatChunk(b.model, now(), m));
        };
        for await (const piece of run.generation) await emit(output.push(piece.text));
        await emit(output.end());
        const { r, totalMs } = await finish(run.generation, run.media, startedAt);
        const calls = output.message.tool_calls;
        if (calls.length) await send(chatChunk(b.model, now(), toolCallMessage(calls)));
        await send(chatDone(b.model, now(), { role: "assistant", content: "" }, r, totalMs));
      });
    } finally {
      scope.settle();
    }
  });

  app.post("/api/generate", async (c) => {
    const b = await readBody(c, generateSchema);
    service.checkModel(b.model);
    const keepAlive = keepAliveMs(b.keep_alive);
    idle.request(keepAlive);
    // Ollama's way to unload (`ollama stop`): an empty prompt with keep_alive 0, answered without loading
    if (!b.prompt && !b.images?.length && keepAlive === 0) {
      await service.unload(); // refused while requests run: their end unloads it (keep_alive 0)
      return c.json({ ...generateLoaded(b.model, now()), done_reason: "unload" });
    }
    const scope = new RequestScope(c, service);
    try {
      const startedAt = performance.now();
      await service.model();
      // Ollama answers an empty prompt by loading the model
      if (!b.prompt && !b.images?.length) return c.json(generateLoaded(b.model, now()));
      const run = b.raw // a raw prompt runs again on the reloaded model after a crash, as a chat does (rerun.ts)
        ? await startRerunnable(service, scope.signal, (mm) => startRaw(mm, b, scope.signal))
        : await startTemplated(service, b, scope.signal);
      if (!b.stream) {
        const { r, totalMs } = await finish(run.generation, run.media, startedAt);
        const fields = generateFields([...run.output.push(r.text), ...run.output.end()]);
        return c.json(generateDone(b.model, now(), fields, r, totalMs));
      }
      return scope.ndjson(async (send) => {
        const emit = async (events: OutputEvent[]) => {
          const line = generateChunk(b.model, now(), generateFields(events));
          if (line) await send(line);
        };
        for await (const piece of run.generation) await emit(run.output.push(piece.text));
        await emit(run.output.end());
        const { r, totalMs } = await finish(run.generation, run.media, startedAt);
        await send(generateDone(b.model, now(), { response: "" }, r, totalMs));
      });
    } finally {
      scope.settle();
    }
  });

  return app;
}
