/**
 * What the page keeps and what both engines (the server's API, the in-browser worker) report while
 * answering, so the view and the stores depend on these shapes only, not on who answered.
 */

export interface Attachment {
  name: string;
  /** MIME type: image/* or video/* */
  type: string;
  blob: Blob;
}

export interface ToolCallView {
  name: string;
  arguments: string;
}

/** The numbers shown under an answer. */
export interface AnswerStats {
  promptTokens: number;
  completionTokens: number;
  imageTokens: number;
  videoTokens: number;
  /** from sending to the first streamed piece */
  firstTokenMs: number;
  tokensPerSecond: number;
  /** "server", or "browser · 2 threads · relaxed SIMD" */
  engine: string;
}

export interface ChatMessageRecord {
  role: "user" | "assistant";
  text: string;
  attachments?: Attachment[];
  reasoning?: string;
  toolCalls?: ToolCallView[];
  stats?: AnswerStats;
  error?: string;
}

/** Per-message settings from the composer. */
export interface TurnSettings {
  downsampleMode: "16x" | "4x";
  maxSliceNums: number;
  thinking: boolean;
}

/** One streamed event of an answer. */
export type AnswerEvent =
  | { type: "content"; text: string }
  | { type: "reasoning"; text: string }
  | { type: "tool_call"; index: number; name?: string; arguments: string }
  | {
    type: "usage";
    promptTokens: number;
    completionTokens: number;
    imageTokens: number;
    videoTokens: number;
    /** the engine's own decode speed, when it reports one */
    tokensPerSecond?: number;
  };

/** An engine the page can ask: the server or the browser worker. */
export interface ChatBackend {
  readonly label: string;
  answer(messages: ChatMessageRecord[], settings: TurnSettings, signal: AbortSignal): AsyncIterable<AnswerEvent>;
}
