/**
 * GBNF grammar (llama.cpp grammar syntax) that forces Qwen3-Coder XML tool calls, for
 * tool_choice "required" or a named function. Mirrors the grammar llama.cpp builds for this
 * format (common/parsers/qwen3-coder.cpp), minus its generation-prompt prefix (our sampler
 * starts after the prompt):
 *  - each call is "<tool_call>\n<function=NAME>\n" args "</function>\n</tool_call>" + space;
 *  - required parameters in any order (permutations up to 6, as llama.cpp), then optional ones;
 *  - only the schema's parameter names; string values are any text up to "\n</parameter>\n";
 *    values without a string type are typed (integer, number, boolean, null, JSON for objects
 *    and arrays, alternatives of an enum/const); string enums/consts are constrained too
 *    (llama.cpp leaves them free); mixed types take free text, as llama.cpp.
 * Differences by option: `allowContent` lets text come before the first call (llama.cpp's
 * "required" grammar allows it; off by default so that a call is really forced), and
 * `thinking` lets the output start with reasoning closed by "</think>".
 */

import { argType, valueKinds } from "./arg-types.ts";
import type { ToolDef } from "./tool-calls.ts";

export interface ToolGrammarOptions {
  /** several calls in a row (default true) */
  parallel?: boolean;
  /** text before the first call, up to "<tool_call>" (default false) */
  allowContent?: boolean;
  /** the prompt opened "<think>\n": reasoning, "</think>", then the calls (default false) */
  thinking?: boolean;
}

const MAX_PERMUTE = 6;

/** The grammar for calls to `tools` (pass only the named tool for tool_choice {function}). */
export function toolCallGrammar(tools: readonly ToolDef[], options: ToolGrammarOptions = {}): string {
  if (!tools.length) throw new Error("toolCallGrammar needs at least one tool");
  const rules = new Map<string, string>();
  const add = (name: string, body: string) => {
    rules.set(name, body);
    return name;
  };

  const fnRules = tools.map((t, fi) => {
    const name = t.function.name;
    const schema = t.function.parameters as { properties?: Record<string, unknown>; required?: unknown } | undefined;
    const props = Object.entries(schema?.properties ?? {});
    const required = new Set(
      Array.isArray(schema?.required) ? schema.required.filter((x) => typeof x === "string") : [],
    );
    const req: string[] = [];
    const opt: string[] = [];
    props.forEach(([param, s], pi) => {
      const rule = add(`fn${fi}-arg${pi}`, `${lit(`<parameter=${param}>\n`)} ${valueRule(s, schema, add)}`);
      (required.has(param) ? req : opt).push(rule);
    });
    const parts = [lit(`<function=${name}>\n`), permute(`fn${fi}-req`, req, add)];
    if (opt.length) parts.push(`(${opt.join(" | ")})*`);
    parts.push(lit("</function>\n"));
    return add(`fn${fi}`, parts.filter((x) => x).join(" "));
  });

  add("tool-call", `${lit("<tool_call>\n")} (${fnRules.join(" | ")}) ${lit("</tool_call>")} space`);
  add("space", `| " " | "\\n"{1,2} [ \\t]{0,20}`);
  const calls = options.parallel === false ? "tool-call" : "tool-call tool-call*";
  let root = calls;
  if (options.allowContent) root = `${until("content", "<tool_call>", add)} ${root}`;
  if (options.thinking) root = `${until("reasoning", "</think>", add)} ${lit("</think>")} space ${root}`;
  rules.set("root", root);

  const order = ["root", ...[...rules.keys()].filter((k) => k !== "root")];
  return order.map((k) => `${k} ::= ${rules.get(k)}`).join("\n") + "\n";
}

type Add = (name: string, body: string) => string;

/** The value after "<parameter=NAME>\n", its closing "\n</parameter>\n" included. */
function valueRule(schema: unknown, root: unknown, add: Add): string {
  const close = lit("\n</parameter>\n");
  const s = (schema ?? {}) as Record<string, unknown>;
  const choices = Array.isArray(s.enum) ? s.enum : "const" in s ? [s.const] : null;
  if (choices && typeof s.$ref !== "string") {
    // an enum or const: its values (strings raw, as the parser reads them back; others as JSON)
    return `(${choices.map((v) => lit(typeof v === "string" ? v : JSON.stringify(v))).join(" | ")}) ${close}`;
  }
  const type = argType(schema, root);
  if (type.mode !== "json") return xmlString(add); // strings, or free text for mixed types
  const kinds = valueKinds(schema, root);
  const alts: string[] = [];
  if (kinds.has("object") || kinds.has("array")) alts.push(jsonValue(add));
  if (kinds.has("number")) {
    alts.push(add("number", `"-"? integral-part ("." [0-9]{1,16})? ([eE] [-+]? integral-part)?`));
  } else if (kinds.has("integer")) alts.push(add("integer", `"-"? integral-part`));
  if (kinds.has("number") || kinds.has("integer")) add("integral-part", `[0] | [1-9] [0-9]{0,15}`);
  if (kinds.has("boolean")) alts.push(`("true" | "false")`);
  if (kinds.has("null")) alts.push(`"null"`);
  if (!alts.length) return xmlString(add); // an impossible schema: do not make the call impossible
  return `(${alts.join(" | ")}) ${close}`;
}

/** Any text that does not contain "\n</parameter>\n", then that terminator. */
function xmlString(add: Add): string {
  return until("xml-arg-string", "\n</parameter>\n", add, true);
}

/**
 * Any text up to the first `delim`: a KMP automaton, one rule per matched prefix length
 * (the shape of llama.cpp's generated "until"/"ac" rules). With `consume` the delimiter is
 * part of the match, otherwise the text just stops before it (the caller then writes it).
 */
function until(name: string, delim: string, add: Add, consume = false): string {
  const n = delim.length;
  const fail = new Array<number>(n).fill(0);
  for (let i = 1, k = 0; i < n; i++) {
    while (k > 0 && delim[i] !== delim[k]) k = fail[k - 1];
    if (delim[i] === delim[k]) k++;
    fail[i] = k;
  }
  const next = (state: number, c: string) => {
    while (state > 0 && delim[state] !== c) state = fail[state - 1];
    return delim[state] === c ? state + 1 : 0;
  };
  const state = (i: number) => (i === 0 ? name : `${name}-${String(i).padStart(2, "0")}`);
  for (let i = 0; i < n; i++) {
    const alts: string[] = [];
    // the characters that lead somewhere else than back to the start
    const chars = [...new Set([...delim])].filter((c) => next(i, c) > 0);
    for (const c of chars) {
      const to = next(i, c);
      if (to === n) {
        if (consume) alts.push(charClass([c]));
        // without consume a full match cannot happen: the text stops before the delimiter
      } else alts.push(`${charClass([c])} ${state(to)}`);
    }
    alts.push(`${charClass(chars, true)} ${name}`);
    if (!consume) alts.unshift(""); // the text may stop anywhere before the delimiter
    add(state(i), alts.join(" | "));
  }
  return name;
}

/** Generic JSON (llama.cpp's json-value rules from its PEG grammar). */
function jsonValue(add: Add): string {
  add("json-ws", `[ \\t\\n]{0,20}`);
  add("json-string", `"\\"" ( [^"\\\\\\x7F\\x00-\\x1F] | "\\\\" ( ["\\\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\\""`);
  add("json-number", `"-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,4})?`);
  add(
    "json-object",
    `"{" json-ws ( json-string json-ws ":" json-ws json-value ( json-ws "," json-ws json-string json-ws ":" json-ws json-value )* json-ws )? "}"`,
  );
  add("json-array", `"[" json-ws ( json-value ( json-ws "," json-ws json-value )* json-ws )? "]"`);
  return add("json-value", `json-object | json-array | json-string | json-number | "true" | "false" | "null"`);
}

/** Required parameters in any order (llama.cpp permute()): a rule per remaining subset. */
function permute(prefix: string, parsers: string[], add: Add): string {
  if (parsers.length === 0) return "";
  if (parsers.length === 1 || parsers.length > MAX_PERMUTE) return parsers.join(" ");
  const memo = new Map<number, string>();
  const remaining = (mask: number): string => {
    if (mask === 0) return "";
    const cached = memo.get(mask);
    if (cached) return cached;
    const alts: string[] = [];
    parsers.forEach((p, i) => {
      if (mask & (1 << i)) alts.push(`${p} ${remaining(mask & ~(1 << i))}`.trim());
    });
    const name = add(`${prefix}-${mask}`, alts.join(" | "));
    memo.set(mask, name);
    return name;
  };
  return remaining((1 << parsers.length) - 1);
}

/** A GBNF string literal. */
function lit(s: string): string {
  return JSON.stringify(s).replace(/\\u00([0-9a-f]{2})/g, "\\x$1");
}

/** A GBNF character class of `chars` (negated: anything else). */
function charClass(chars: string[], negate = false): string {
  const esc = (c: string) =>
    c === "\n" ? "\\n" : c === "\t" ? "\\t" : c === "\r" ? "\\r" : /[\]\\^-]/.test(c) ? "\\" + c : c;
  return `[${negate ? "^" : ""}${chars.map(esc).join("")}]`;
}
