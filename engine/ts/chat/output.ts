/**
 * The assistant output parser: model text in, OpenAI message parts out, streamed or whole.
 * Composes reasoning.ts (reasoning vs content) -> tool-calls.ts (calls out of the content,
 * only when tools are given) -> newlines.ts (literal "\n" repair, separately on reasoning and
 * content, never on tool arguments). Events map one to one onto chat.completion.chunk deltas.
 */

import { NewlineRepair } from "./newlines.ts";
import { ReasoningSplitter } from "./reasoning.ts";
import { type ToolCall, ToolCallCollector, type ToolCallEvent, ToolCallParser, type ToolDef } from "./tool-calls.ts";

export interface AssistantOutputOptions {
  /** the prompt opened a thinking block ("<think>\n"): the output starts inside the reasoning */
  thinking: boolean;
  /** parse tool calls for these tools; undefined or empty (or tool_choice "none"): no parsing */
  tools?: readonly ToolDef[];
  /** repair literal "\n" (MiniCPM-V; docs/chat-format.md) */
  repairNewlines: boolean;
  /** tool call ids (default: random "call_...") */
  newId?: () => string;
}

export type OutputEvent = { type: "reasoning"; text: string } | ToolCallEvent;

export interface AssistantMessage {
  /** "" when there is none (OpenAI wants null then, with tool calls) */
  content: string;
  reasoning_content: string;
  tool_calls: ToolCall[];
}

export class AssistantOutputParser {
  private readonly splitter: ReasoningSplitter;
  private readonly tools: ToolCallParser | null;
  private readonly reasoningRepair: NewlineRepair | null;
  private readonly contentRepair: NewlineRepair | null;
  private readonly collector = new ToolCallCollector();
  private reasoning = "";
  private reasoningDone = false;

  constructor(options: AssistantOutputOptions) {
    this.splitter = new ReasoningSplitter(options.thinking);
    this.tools = options.tools?.length ? new ToolCallParser(options.tools, { newId: options.newId }) : null;
    this.reasoningRepair = options.repairNewlines ? new NewlineRepair() : null;
    this.contentRepair = options.repairNewlines ? new NewlineRepair() : null;
  }

  /** Feeds generated text; returns the events that are final. */
  push(text: string): OutputEvent[] {
    return this.take(this.splitter.push(text), false);
  }

  /** End of generation: flushes everything held back. */
  end(): OutputEvent[] {
    return this.take(this.splitter.end(), true);
  }

  /** The message so far (complete after end()). */
  get message(): AssistantMessage {
    return { content: this.collector.content, reasoning_content: this.reasoning, tool_calls: this.collector.toolCalls };
  }

  private take(split: ReturnType<ReasoningSplitter["push"]>, final: boolean): OutputEvent[] {
    const out: OutputEvent[] = [];
    const reasoning = (text: string) => {
      if (text) {
        out.push({ type: "reasoning", text });
        this.reasoning += text;
      }
    };
    const endReasoning = () => {
      if (!this.reasoningDone) {
        this.reasoningDone = true;
        reasoning(this.reasoningRepair?.flush() ?? "");
      }
    };
    const flushContent = () => {
      const text = this.contentRepair?.flush() ?? "";
      if (text) out.push({ type: "content", text });
    };
    const emit = (events: ToolCallEvent[]) => {
      for (const e of events) {
        if (e.type === "content") {
          const text = this.contentRepair ? this.contentRepair.push(e.text) : e.text;
          if (text) out.push({ type: "content", text });
        } else {
          // the content before a call is complete: nothing held back may trail behind the call
          if (e.type === "tool_call_start") flushContent();
          out.push(e);
        }
      }
    };

    for (const e of split) {
      if (e.type === "reasoning") {
        reasoning(this.reasoningRepair ? this.reasoningRepair.push(e.text) : e.text);
        continue;
      }
      endReasoning();
      emit(this.tools ? this.tools.push(e.text) : [{ type: "content", text: e.text }]);
    }
    if (final) {
      endReasoning();
      if (this.tools) emit(this.tools.end());
      flushContent();
    }
    this.collector.add(out.filter((e): e is ToolCallEvent => e.type !== "reasoning"));
    return out;
  }
}

/** Whole-text form: the final message. */
export function parseAssistantOutput(text: string, options: AssistantOutputOptions): AssistantMessage {
  const p = new AssistantOutputParser(options);
  p.push(text);
  p.end();
  return p.message;
}
