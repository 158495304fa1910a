/** Messages between the page (browser-chat.ts) and the in-browser engine worker (engine-worker.ts). */

import type { AnswerEvent, ChatMessageRecord, TurnSettings } from "./chat-types.ts";

export type ToEngine =
  | {
    type: "load";
    /** model and mmproj references: URLs (the server's /files/...) or hf:owner/repo/file.gguf */
    model: string;
    mmproj: string | null;
    /** bytes of the files when known (the server's listing): checked against the wasm32 budget first */
    knownBytes?: number;
    /** sent with downloads from the page's own server (its /files/ route is behind the key) */
    apiKey?: string;
  }
  | { type: "chat"; id: number; messages: ChatMessageRecord[]; settings: TurnSettings }
  | { type: "stop"; id: number };

export type FromEngine =
  | { type: "progress"; received: number; total: number; bytesPerSecond: number }
  | { type: "ready"; threads: number; simd: string; loadMs: number }
  | { type: "load-error"; message: string }
  | { type: "event"; id: number; event: AnswerEvent }
  | { type: "done"; id: number }
  | { type: "error"; id: number; message: string };
