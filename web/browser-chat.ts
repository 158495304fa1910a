/**
 * The in-browser engine from the page's side: starts engine-worker.js, asks it to load the model
 * pair (reporting download progress) and streams its answers as AnswerEvents, like ServerChat.
 */

import type { AnswerEvent, ChatBackend, ChatMessageRecord, TurnSettings } from "./chat-types.ts";
import type { FromEngine, ToEngine } from "./engine-protocol.ts";

export interface LoadProgress {
  received: number;
  total: number;
  bytesPerSecond: number;
}

export interface BrowserEngineInfo {
  threads: number;
  simd: string;
  loadMs: number;
}

export class BrowserChat implements ChatBackend {
  label = "browser";
  private worker: Worker;
  private nextId = 1;
  private listeners = new Set<(m: FromEngine) => void>();

  constructor() {
    this.worker = new Worker(new URL("./engine-worker.js", import.meta.url), { type: "module" });
    this.worker.onmessage = (e: MessageEvent<FromEngine>) => {
      for (const l of [...this.listeners]) l(e.data);
    };
  }

  private send(m: ToEngine) {
    this.worker.postMessage(m);
  }

  /** Downloads (or takes from the cache) and loads the pair; resolves with what the engine runs on. */
  load(o: Omit<Extract<ToEngine, { type: "load" }>, "type">, onProgress: (p: LoadProgress) => void) {
    return new Promise<BrowserEngineInfo>((resolve, reject) => {
      const listener = (m: FromEngine) => {
        if (m.type === "progress") onProgress(m);
        else if (m.type === "ready" || m.type === "load-error") {
          this.listeners.delete(listener);
          if (m.type === "load-error") return reject(new Error(m.message));
          const threads = `${m.threads} thread${m.threads === 1 ? "" : "s"}`;
          this.label = `browser · ${threads} · ${m.simd === "relaxed" ? "relaxed SIMD" : "SIMD128"}`;
          resolve(m);
        }
      };
      this.listeners.add(listener);
      this.send({ type: "load", ...o });
    });
  }

  async *answer(messages: ChatMessageRecord[], settings: TurnSettings, signal: AbortSignal) {
    const id = this.nextId++;
    const queue: FromEngine[] = [];
    let wake: (() => void) | undefined;
    const listener = (m: FromEngine) => {
      if ("id" in m && m.id === id) {
        queue.push(m);
        wake?.();
      }
    };
    const stop = () => this.send({ type: "stop", id });
    this.listeners.add(listener);
    signal.addEventListener("abort", stop);
    try {
      this.send({ type: "chat", id, messages, settings });
      while (true) {
        if (!queue.length) await new Promise<void>((r) => (wake = r));
        const m = queue.shift()!;
        if (m.type === "event") yield m.event as AnswerEvent;
        else if (m.type === "error") throw new Error(m.message);
        else if (m.type === "done") return;
      }
    } finally {
      this.listeners.delete(listener);
      signal.removeEventListener("abort", stop);
    }
  }
}
