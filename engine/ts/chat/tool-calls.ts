/**
 * Parser for Qwen3-Coder XML tool calls (docs/chat-format.md, "Output"), the format of
 * Qwen3.5 / MiniCPM-V 4.6:
 *
 *   <tool_call>\n<function=NAME>\n<parameter=ARG>\nVALUE\n</parameter>\n</function>\n</tool_call>
 *
 * Incremental: push() text pieces, get events that map onto OpenAI streaming deltas (content,
 * call start with index/id/name, argument JSON fragments, call end). Text that may be the start
 * of a marker ("<tool_") is held back, never emitted as content. The whole-text parse is the
 * same machine fed once, so streamed and non-streamed results are identical.
 *
 * Arguments become a JSON object in emission order, compact like llama.cpp's, e.g.
 * {"city":"Paris","days":2} (values typed by the tool's schema, arg-types.ts); string values
 * stream as they arrive, other values when complete.
 *
 * Where we differ from llama.cpp (common/parsers/qwen3-coder.cpp), on output that llama.cpp's
 * lazy grammar would not have allowed in the first place:
 *  - a call to a function not in `tools`, or any other "<tool_call>" not followed by
 *    "<function=KNOWN>", stays content verbatim (llama.cpp silently drops it and all text after);
 *  - text after the calls is content (llama.cpp drops it); whitespace between calls is skipped;
 *  - an unknown parameter name is kept, its value as a string (llama.cpp drops the call);
 *  - a call cut off by the end of the stream is closed into valid JSON (llama.cpp leaves the
 *    string and object open); a dangling partial marker at the very end is flushed as content.
 * Like llama.cpp, whitespace between content and the first call is not content (llama.cpp
 * keeps the content's trailing newlines; we drop them, as the template's `trim` would).
 */

import { type ArgType, argType, argumentJson } from "./arg-types.ts";
import { leadingSpaceEnd, partialMarkerLength, trailingSpaceStart } from "./markers.ts";

/** An OpenAI tool definition ({type: "function", function: {name, parameters}}). */
export interface ToolDef {
  type?: "function";
  function: { name: string; description?: string; parameters?: unknown; [k: string]: unknown };
}

/** An OpenAI assistant tool call. */
export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export type ToolCallEvent =
  | { type: "content"; text: string }
  | { type: "tool_call_start"; index: number; id: string; name: string }
  /** a fragment of the arguments JSON; the fragments of one call concatenate to it */
  | { type: "tool_call_args"; index: number; text: string }
  | { type: "tool_call_end"; index: number };

export interface ToolCallParserOptions {
  /** tool call ids (default: "call_" + 24 random characters) */
  newId?: () => string;
}

const CALL_OPEN = "<tool_call>";
const CALL_CLOSE = "</tool_call>";
const FUNC_OPEN = "<function=";
const FUNC_CLOSE = "</function>";
const PARAM_OPEN = "<parameter=";
const PARAM_CLOSE = "</parameter>";
/** the newline before "</parameter>" is a delimiter, not part of the value */
const VALUE_ENDS = ["\n" + PARAM_CLOSE, PARAM_CLOSE];
const MAX_NAME = 256;

interface FunctionInfo {
  params: Map<string, ArgType>;
}
const UNKNOWN_PARAM: ArgType = { mode: "string", kinds: new Set(["string"]) };

export class ToolCallParser {
  private readonly functions = new Map<string, FunctionInfo>();
  private readonly newId: () => string;
  private state: "text" | "call" | "body" | "value" | "close" = "text";
  private buf = "";
  /** skip whitespace before further text (after a call) */
  private skipSpace = false;
  /** whitespace before "<tool_call>", given back as content if it is not a valid call */
  private heldSpace = "";
  private index = -1;
  private fn: FunctionInfo | null = null;
  private argCount = 0;
  private valueType: ArgType = UNKNOWN_PARAM;
  private valueStarted = false;

  constructor(tools: readonly ToolDef[], options: ToolCallParserOptions = {}) {
    for (const t of tools) {
      const params = new Map<string, ArgType>();
      const schema = t.function.parameters as { properties?: Record<string, unknown> } | undefined;
      for (const [name, s] of Object.entries(schema?.properties ?? {})) params.set(name, argType(s, schema));
      this.functions.set(t.function.name, { params });
    }
    this.newId = options.newId ?? newToolCallId;
  }

  push(text: string): ToolCallEvent[] {
    this.buf += text;
    return this.run(false);
  }

  /** End of the output: flushes held text and closes a call cut off mid-way. */
  end(): ToolCallEvent[] {
    return this.run(true);
  }

  private run(final: boolean): ToolCallEvent[] {
    const out: ToolCallEvent[] = [];
    const content = (text: string) => text && out.push({ type: "content", text });
    const args = (text: string) => text && out.push({ type: "tool_call_args", index: this.index, text });
    const endCall = () => {
      args("}");
      out.push({ type: "tool_call_end", index: this.index });
      this.fn = null;
    };

    for (;;) {
      switch (this.state) {
        case "text": {
          if (this.skipSpace) {
            const i = leadingSpaceEnd(this.buf);
            this.buf = this.buf.slice(i);
            if (!this.buf) return out;
            this.skipSpace = false;
          }
          const at = this.buf.indexOf(CALL_OPEN);
          if (at >= 0) {
            const ws = trailingSpaceStart(this.buf.slice(0, at));
            content(this.buf.slice(0, ws));
            this.heldSpace = this.buf.slice(ws, at);
            this.buf = this.buf.slice(at + CALL_OPEN.length);
            this.state = "call";
            continue;
          }
          if (final) {
            content(this.buf);
            this.buf = "";
            return out;
          }
          // hold back a possible "<tool_call>" and the whitespace that may precede it
          const safe = this.buf.length - partialMarkerLength(this.buf, [CALL_OPEN]);
          const ws = trailingSpaceStart(this.buf.slice(0, safe));
          content(this.buf.slice(0, ws));
          this.buf = this.buf.slice(ws);
          return out;
        }

        case "call": {
          const r = this.buf.slice(leadingSpaceEnd(this.buf));
          let name: Scan = "bad";
          if (r.startsWith(FUNC_OPEN)) name = scanName(r, FUNC_OPEN.length, final);
          else if (!final && FUNC_OPEN.startsWith(r)) name = "wait";
          if (name === "wait") return out;
          const fn = name !== "bad" ? this.functions.get(name.name) : undefined;
          if (name === "bad" || !fn) {
            // not a call we know: the marker is content, and scanning goes on after it
            content(this.heldSpace + CALL_OPEN);
            this.heldSpace = "";
            this.state = "text";
            continue;
          }
          this.index++;
          out.push({ type: "tool_call_start", index: this.index, id: this.newId(), name: name.name });
          args("{");
          this.fn = fn;
          this.argCount = 0;
          this.heldSpace = "";
          this.buf = r.slice(name.end);
          this.state = "body";
          continue;
        }

        case "body": {
          const r = this.buf.slice(leadingSpaceEnd(this.buf));
          if (r.startsWith(PARAM_OPEN)) {
            const name = scanName(r, PARAM_OPEN.length, final);
            if (name === "wait") {
              this.buf = r;
              return out;
            }
            if (name !== "bad") {
              args((this.argCount++ ? "," : "") + JSON.stringify(name.name) + ":");
              this.valueType = this.fn!.params.get(name.name) ?? UNKNOWN_PARAM;
              this.valueStarted = false;
              this.buf = r.slice(name.end);
              this.state = "value";
              continue;
            }
          } else if (r.startsWith(FUNC_CLOSE)) {
            endCall();
            this.buf = r.slice(FUNC_CLOSE.length);
            this.state = "close";
            continue;
          } else if (r.startsWith(CALL_CLOSE)) {
            // "</function>" left out: the call still ends here
            endCall();
            this.buf = r.slice(CALL_CLOSE.length);
            this.state = "text";
            this.skipSpace = true;
            continue;
          } else if ([PARAM_OPEN, FUNC_CLOSE, CALL_CLOSE].some((m) => m.startsWith(r))) {
            if (!final) {
              this.buf = r;
              return out;
            }
            endCall(); // cut off inside a closing marker
            this.buf = "";
            this.state = "text";
            continue;
          }
          // anything else ends the call; the rest is content
          endCall();
          this.buf = r;
          this.state = "text";
          continue;
        }

        case "value": {
          const isString = this.valueType.mode === "string";
          if (!this.valueStarted) {
            if (!this.buf && !final) return out;
            if (this.buf[0] === "\n") this.buf = this.buf.slice(1);
            this.valueStarted = true;
            if (isString) args('"');
          }
          let at = this.buf.indexOf(PARAM_CLOSE);
          const rest = at >= 0 ? this.buf.slice(at + PARAM_CLOSE.length) : "";
          // cut off inside the value: it ends before a partial terminator
          if (at < 0 && final) at = this.buf.length - partialMarkerLength(this.buf, VALUE_ENDS);
          if (at >= 0) {
            let raw = this.buf.slice(0, at);
            if (raw.endsWith("\n")) raw = raw.slice(0, -1);
            args(isString ? jsonInner(raw) + '"' : argumentJson(raw, this.valueType));
            this.buf = rest;
            this.state = "body";
            continue;
          }
          if (isString) {
            // stream what cannot be the end of the value (nor half of a surrogate pair)
            let safe = this.buf.length - partialMarkerLength(this.buf, VALUE_ENDS);
            const c = this.buf.charCodeAt(safe - 1);
            if (c >= 0xd800 && c <= 0xdbff) safe--;
            args(jsonInner(this.buf.slice(0, safe)));
            this.buf = this.buf.slice(safe);
          }
          return out;
        }

        case "close": {
          const r = this.buf.slice(leadingSpaceEnd(this.buf));
          if (!final && CALL_CLOSE.startsWith(r)) {
            this.buf = r;
            return out;
          }
          // "</tool_call>" is expected; without it the text goes on as content
          this.buf = r.startsWith(CALL_CLOSE) ? r.slice(CALL_CLOSE.length) : CALL_CLOSE.startsWith(r) ? "" : r;
          this.state = "text";
          this.skipSpace = true;
          continue;
        }
      }
    }
  }
}

type Scan = "wait" | "bad" | { name: string; end: number };

/** A name from `from` up to ">" (exclusive; `end` is after it): no newline, bounded length. */
function scanName(s: string, from: number, final: boolean): Scan {
  for (let i = from; i < s.length; i++) {
    if (s[i] === ">") return { name: s.slice(from, i).trim(), end: i + 1 };
    if (s[i] === "\n" || i - from >= MAX_NAME) return "bad";
  }
  return final ? "bad" : "wait";
}

/** JSON string escaping without the quotes; per-piece escaping concatenates to the whole. */
function jsonInner(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

export function newToolCallId(): string {
  const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return "call_" + Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

/** Folds tool-call events into content and OpenAI tool calls. */
export class ToolCallCollector {
  content = "";
  readonly toolCalls: ToolCall[] = [];

  add(events: readonly ToolCallEvent[]): void {
    for (const e of events) {
      if (e.type === "content") this.content += e.text;
      else if (e.type === "tool_call_start") {
        this.toolCalls[e.index] = { id: e.id, type: "function", function: { name: e.name, arguments: "" } };
      } else if (e.type === "tool_call_args") this.toolCalls[e.index].function.arguments += e.text;
    }
  }
}

/** Whole-text parse: content (text outside calls) and the calls. */
export function parseToolCalls(
  text: string,
  tools: readonly ToolDef[],
  options: ToolCallParserOptions = {},
): { content: string; toolCalls: ToolCall[] } {
  const p = new ToolCallParser(tools, options);
  const c = new ToolCallCollector();
  c.add(p.push(text));
  c.add(p.end());
  return { content: c.content, toolCalls: c.toolCalls };
}
