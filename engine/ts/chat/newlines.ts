/**
 * Repairs the literal "\n" that MiniCPM-V sometimes writes instead of a line break
 * (docs/chat-format.md, "Literal \n repair", after vLLM's EscapedNewlineNormalizer): outside
 * code and math spans a single backslash + n/r becomes a newline. Streaming holds back
 * incomplete sequences so that any split of the text gives the same result as the whole.
 * Apply to reasoning and content separately, never to tool-call arguments.
 */

export class NewlineRepair {
  /** closing marker of the protected span we are in (code or math), if any */
  private closing: string | null = null;
  private pending = "";

  /** Feeds a piece; returns the repaired text that is final. `final` flushes held text. */
  push(text: string, final = false): string {
    const s = this.pending + text;
    this.pending = "";
    let out = "";
    let i = 0;
    while (i < s.length) {
      const rest = s.slice(i, i + 4); // every decision looks at most 4 characters ahead
      if (this.closing !== null) {
        const m = this.closing;
        if (s.startsWith(m, i)) {
          out += m;
          i += m.length;
          this.closing = null;
        } else if (!final && i + m.length > s.length && m.startsWith(s.slice(i))) {
          this.pending = s.slice(i);
          break;
        } else {
          out += s[i++];
        }
        continue;
      }
      const c = s[i];
      if (c === "`") {
        if (!final && (s.length - i === 1 || (s.length - i === 2 && s[i + 1] === "`"))) {
          this.pending = s.slice(i);
          break;
        }
        const fence = s.startsWith("```", i);
        out += fence ? "```" : "`";
        i += fence ? 3 : 1;
        this.closing = fence ? "```" : "`";
        continue;
      }
      if (c === "$") {
        if (!final && s.length - i === 1) {
          this.pending = "$";
          break;
        }
        const display = s.startsWith("$$", i);
        out += display ? "$$" : "$";
        i += display ? 2 : 1;
        this.closing = display ? "$$" : "$";
        continue;
      }
      if (c !== "\\") {
        out += c;
        i++;
        continue;
      }
      let end = i + 1;
      while (end < s.length && s[end] === "\\") end++;
      // a run that reaches the end may still grow (vLLM emits it early, which can differ from
      // the whole-text result: "\\" + "\n" vs "\\\n"); hold it back instead
      if (!final && end === s.length) {
        this.pending = s.slice(i);
        break;
      }
      if (end - i > 1) {
        out += s.slice(i, end); // escaped backslashes stay as they are
        i = end;
        continue;
      }
      if (!final && (rest === "\\r" || rest === "\\r\\")) {
        this.pending = rest;
        break;
      }
      if (rest === "\\r\\n") {
        out += "\n";
        i += 4;
      } else if (rest.startsWith("\\n") || rest.startsWith("\\r")) {
        out += "\n";
        i += 2;
      } else if (rest.startsWith("\\(") || rest.startsWith("\\[")) {
        out += rest.slice(0, 2);
        i += 2;
        this.closing = rest[1] === "(" ? "\\)" : "\\]";
      } else {
        out += "\\";
        i++;
      }
    }
    if (final && this.pending) {
      out += this.pending;
      this.pending = "";
    }
    return out;
  }

  /** Emits whatever is held back (end of the stream or of this text segment). */
  flush(): string {
    return this.push("", true);
  }
}

/** Whole-text form of NewlineRepair. */
export function repairNewlines(text: string): string {
  if (!text.includes("\\")) return text;
  return new NewlineRepair().push(text, true);
}
