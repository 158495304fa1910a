/**
 * Splits model output into reasoning and content at "</think>" (Qwen3.5 / MiniCPM-V 4.6
 * templates). With thinking on the prompt already ends in "<think>\n", so the output starts
 * inside the reasoning; with thinking off the template closed the block and everything is
 * content. Reasoning also ends where a "<tool_call>" starts (llama.cpp's qwen3-coder parser),
 * the call itself then belongs to the content. Like llama.cpp, whitespace around the
 * boundaries is dropped: leading whitespace of both parts, and (our choice) the reasoning's
 * trailing whitespace, which llama.cpp keeps ("...\n" before "</think>").
 */

import { leadingSpaceEnd, partialMarkerLength, trailingSpaceStart } from "./markers.ts";

export type ReasoningEvent = { type: "reasoning"; text: string } | { type: "content"; text: string };

const THINK_OPEN = "<think>";
const THINK_CLOSE = "</think>";
const TOOL_CALL = "<tool_call>";
const ENDS = [THINK_CLOSE, TOOL_CALL] as const;

export class ReasoningSplitter {
  /** open: start of reasoning (a repeated "<think>" is dropped); content: after reasoning */
  private state: "open" | "reasoning" | "content";
  private buf = "";
  private contentStarted = false;
  /** a "<think>" repeated by the model at the start was dropped */
  private openDropped = false;

  constructor(thinking: boolean) {
    this.state = thinking ? "open" : "content";
  }

  /** True once the reasoning is over (or there was none). */
  get inContent(): boolean {
    return this.state === "content";
  }

  push(text: string): ReasoningEvent[] {
    this.buf += text;
    return this.run(false);
  }

  end(): ReasoningEvent[] {
    return this.run(true);
  }

  private run(final: boolean): ReasoningEvent[] {
    const out: ReasoningEvent[] = [];
    const emit = (type: "reasoning" | "content", text: string) => {
      if (text) out.push({ type, text });
    };
    for (;;) {
      if (this.state === "open") {
        const rest = this.buf.slice(leadingSpaceEnd(this.buf));
        const maybeOpen = !this.openDropped && THINK_OPEN.startsWith(rest);
        if (!final && (rest.length === 0 || (maybeOpen && rest.length < THINK_OPEN.length))) {
          this.buf = rest;
          return out;
        }
        if (!this.openDropped && rest.startsWith(THINK_OPEN)) {
          this.buf = rest.slice(THINK_OPEN.length);
          this.openDropped = true;
          continue;
        }
        this.buf = rest;
        this.state = "reasoning";
        continue;
      }
      if (this.state === "reasoning") {
        let at = -1;
        let marker = "";
        for (const m of ENDS) {
          const i = this.buf.indexOf(m);
          if (i >= 0 && (at < 0 || i < at)) [at, marker] = [i, m];
        }
        if (at >= 0) {
          emit("reasoning", this.buf.slice(0, trailingSpaceStart(this.buf.slice(0, at))));
          // the call after the reasoning is content; "</think>" itself is dropped
          this.buf = this.buf.slice(marker === THINK_CLOSE ? at + marker.length : at);
          this.state = "content";
          continue;
        }
        if (final) {
          emit("reasoning", this.buf.slice(0, trailingSpaceStart(this.buf)));
          this.buf = "";
          return out;
        }
        // hold back a possible end marker and trailing whitespace
        const safe = this.buf.slice(0, this.buf.length - partialMarkerLength(this.buf, ENDS));
        const cut = trailingSpaceStart(safe);
        emit("reasoning", this.buf.slice(0, cut));
        this.buf = this.buf.slice(cut);
        return out;
      }
      // content
      if (!this.contentStarted) {
        const start = leadingSpaceEnd(this.buf);
        if (start === this.buf.length) {
          this.buf = "";
          return out;
        }
        this.buf = this.buf.slice(start);
        this.contentStarted = true;
      }
      emit("content", this.buf);
      this.buf = "";
      return out;
    }
  }
}

/** Whole-text form of ReasoningSplitter. */
export function splitReasoning(text: string, thinking: boolean): { reasoning: string; content: string } {
  const s = new ReasoningSplitter(thinking);
  const r = { reasoning: "", content: "" };
  for (const e of [...s.push(text), ...s.end()]) r[e.type === "reasoning" ? "reasoning" : "content"] += e.text;
  return r;
}
