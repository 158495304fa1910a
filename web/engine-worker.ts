/**
 * "Run in this browser": the engine, off the page's thread. Imports the browser bundle of the
 * library at run time (engine/browser/mod.js next to the page, not bundled into the page's own
 * script), downloads the model pair into the browser's model cache (OPFS: resumable, reused
 * without any request on the next load) with progress, checks it against the 4 GiB a wasm32
 * engine can address, loads it and answers chats with the same output parser as the server.
 * The engine needs cross-origin isolation: its wasm memory is a SharedArrayBuffer (docs/web.md).
 */

import type { Message, MiniCPMV } from "../mod.ts";
import type { ChatMessageRecord } from "./chat-types.ts";
import type { FromEngine, ToEngine } from "./engine-protocol.ts";

type EngineModule = typeof import("../mod.ts");

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post = (m: FromEngine) => scope.postMessage(m);
const runs = new Map<number, AbortController>();
let loaded: Promise<{ lib: EngineModule; mm: MiniCPMV }> | undefined;

function engineModule(): Promise<EngineModule> {
  // a run-time URL: esbuild leaves this import alone, the engine stays its own bundle
  const url = new URL("../engine/browser/mod.js", scope.location.href).href;
  return import(/* @vite-ignore */ url);
}

async function load(m: Extract<ToEngine, { type: "load" }>) {
  const t0 = performance.now();
  const lib = await engineModule();
  if (m.knownBytes !== undefined && m.knownBytes > lib.WASM_MEMORY_LIMIT) {
    throw new Error(
      `the model files (${
        (m.knownBytes / 1024 ** 3).toFixed(2)
      } GiB) exceed the 4 GiB a browser (wasm32) engine can address`,
    );
  }
  const origin = scope.location.origin;
  const fetchWithKey = (url: string | URL, init: RequestInit = {}) => {
    const same = new URL(url, origin).origin === origin;
    const headers = { ...(init.headers as Record<string, string>) };
    if (same && m.apiKey) headers.authorization = `Bearer ${m.apiKey}`;
    return fetch(url, { ...init, headers });
  };
  let started = 0;
  let startBytes = 0;
  const files = await lib.resolveModelRefs({ model: m.model, mmproj: m.mmproj ?? false }, {
    fetch: fetchWithKey,
    onProgress: (p) => {
      const now = performance.now();
      if (!started) [started, startBytes] = [now, p.overallReceived];
      const seconds = (now - started) / 1000;
      const bytesPerSecond = seconds > 0.2 ? (p.overallReceived - startBytes) / seconds : 0;
      post({ type: "progress", received: p.overallReceived, total: p.overallTotal ?? 0, bytesPerSecond });
    },
  });
  if (typeof SharedArrayBuffer === "undefined") {
    // the wasm builds are threaded (shared memory) even when run on one thread
    throw new Error(
      "this page is not cross-origin isolated, so there is no SharedArrayBuffer and the wasm engine cannot start: " +
        "serve it with COOP/COEP headers or let its service worker add them (docs/web.md)",
    );
  }
  const threads = scope.crossOriginIsolated ? Math.min(navigator.hardwareConcurrency || 1, 8) : 1;
  const engine = await lib.Engine.create({ threads, logLevel: "error" });
  const mmproj = files.mmproj?.source;
  // the library checks model + mmproj + context against the wasm32 budget before loading a byte
  const mm = await lib.MiniCPMV.load(engine, {
    model: files.model.source,
    mmproj: Array.isArray(mmproj) ? mmproj[0] : mmproj,
    contextSize: 4096,
  });
  post({
    type: "ready",
    threads: engine.threads,
    simd: engine.simd,
    loadMs: performance.now() - t0,
  });
  return { lib, mm };
}

function libraryMessages(messages: ChatMessageRecord[]): Message[] {
  return messages.map((m) =>
    m.role === "assistant" ? { role: "assistant", content: m.text } : {
      role: "user",
      content: [
        ...(m.attachments ?? []).map((a) =>
          a.type.startsWith("video/")
            ? { type: "video" as const, video: a.blob }
            : { type: "image" as const, image: a.blob }
        ),
        { type: "text" as const, text: m.text },
      ],
    }
  );
}

async function chat(m: Extract<ToEngine, { type: "chat" }>) {
  const { lib, mm } = await loaded!;
  const abort = new AbortController();
  runs.set(m.id, abort);
  try {
    const run = await mm.chat(libraryMessages(m.messages), {
      downsampleMode: m.settings.downsampleMode,
      maxSliceNums: m.settings.maxSliceNums,
      enableThinking: m.settings.thinking,
      signal: abort.signal,
    });
    const output = new lib.AssistantOutputParser({ thinking: m.settings.thinking, repairNewlines: true });
    const send = (events: ReturnType<typeof output.push>) => {
      for (const e of events) {
        if (e.type === "content" || e.type === "reasoning") post({ type: "event", id: m.id, event: e });
        else if (e.type === "tool_call_start") {
          post({ type: "event", id: m.id, event: { type: "tool_call", index: e.index, name: e.name, arguments: "" } });
        } else if (e.type === "tool_call_args") {
          post({ type: "event", id: m.id, event: { type: "tool_call", index: e.index, arguments: e.text } });
        }
      }
    };
    for await (const piece of run.generation) send(output.push(piece.text));
    send(output.end());
    const r = await run.generation.result;
    post({
      type: "event",
      id: m.id,
      event: {
        type: "usage",
        promptTokens: r.usage.promptTokens,
        completionTokens: r.usage.completionTokens,
        imageTokens: run.media.imageTokens,
        videoTokens: run.media.videoTokens,
        tokensPerSecond: r.timings.generateMs > 0 ? r.usage.completionTokens / r.timings.generateMs * 1000 : 0,
      },
    });
    post({ type: "done", id: m.id });
  } finally {
    runs.delete(m.id);
  }
}

scope.onmessage = (e: MessageEvent<ToEngine>) => {
  const m = e.data;
  if (m.type === "load") {
    loaded ??= load(m);
    loaded.catch((err) => {
      loaded = undefined;
      post({ type: "load-error", message: err instanceof Error ? err.message : String(err) });
    });
  } else if (m.type === "chat") {
    chat(m).catch((err) =>
      post({ type: "error", id: m.id, message: err instanceof Error ? err.message : String(err) })
    );
  } else runs.get(m.id)?.abort();
};
