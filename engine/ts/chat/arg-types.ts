/**
 * Typing of Qwen3-Coder XML tool-call argument values by the tool's JSON schema
 * (docs/chat-format.md, "Output"), after llama.cpp's `value_types()` (common/json-schema.cpp)
 * and its qwen3-coder parser:
 *  - the schema allows only strings -> the raw text is the value;
 *  - it allows no string            -> the text as JSON (Python literals True/False/None and
 *                                      single quotes normalised when strict JSON fails);
 *  - mixed (or no type at all)      -> strict JSON of an allowed non-string kind, else the raw text
 *                                      (a quoted "x" stays the text "x" with its quotes, as in llama.cpp).
 * A value that is not JSON where JSON is required stays a string: the output is never lost
 * (llama.cpp's grammar makes that case impossible when it constrains generation).
 */

export type ValueKind = "string" | "number" | "integer" | "boolean" | "null" | "array" | "object";
export type ArgMode = "string" | "json" | "mixed";

export interface ArgType {
  mode: ArgMode;
  /** the allowed kinds (for "mixed": which JSON kinds to accept before falling back to text) */
  kinds: ReadonlySet<ValueKind>;
}

const ALL: ValueKind[] = ["string", "number", "integer", "boolean", "null", "array", "object"];
type Schema = Record<string, unknown>;

/** The kinds of values a schema admits; `root` resolves local "$ref"s ("#/$defs/x"). */
export function valueKinds(schema: unknown, root: unknown = schema, seen = new Set<unknown>()): Set<ValueKind> {
  if (schema === true || schema === undefined) return new Set(ALL);
  if (!schema || typeof schema !== "object" || Array.isArray(schema)) return new Set();
  const s = schema as Schema;
  if (typeof s.$ref === "string") {
    const target = resolveRef(root, s.$ref);
    if (target === undefined || seen.has(target)) return new Set(); // a cycle contributes nothing
    seen.add(target);
    const kinds = valueKinds(target, root, seen);
    seen.delete(target);
    return kinds;
  }
  const alternatives = s.oneOf ?? s.anyOf;
  if (Array.isArray(alternatives)) {
    const kinds = new Set<ValueKind>();
    for (const a of alternatives) for (const k of valueKinds(a, root, seen)) kinds.add(k);
    return kinds;
  }
  if (Array.isArray(s.type)) {
    const kinds = new Set<ValueKind>();
    for (const t of s.type) for (const k of valueKinds({ ...s, type: t }, root, seen)) kinds.add(k);
    return kinds;
  }
  if ("const" in s) return new Set([kindOf(s.const)]);
  if (Array.isArray(s.enum)) return new Set(s.enum.map(kindOf));
  switch (s.type) {
    case "string":
      return new Set(["string"]);
    case "number":
      return new Set(["number", "integer"]);
    case "integer":
      return new Set(["integer"]);
    case "boolean":
      return new Set(["boolean"]);
    case "null":
      return new Set(["null"]);
    case "array":
      return new Set(["array"]);
    case "object":
      return new Set(["object"]);
  }
  if (s.type === undefined) {
    // without a type the structural keywords decide, as in llama.cpp
    if (s.properties !== undefined || (s.additionalProperties !== undefined && s.additionalProperties !== true)) {
      return new Set(["object"]);
    }
    if (Array.isArray(s.allOf)) {
      let kinds = new Set<ValueKind>(ALL);
      for (const a of s.allOf) {
        const k = valueKinds(a, root, seen);
        kinds = new Set([...kinds].filter((x) => k.has(x)));
      }
      return kinds;
    }
    if (s.items !== undefined || s.prefixItems !== undefined) return new Set(["array"]);
    if (s.pattern !== undefined || s.minLength !== undefined || s.maxLength !== undefined || s.format !== undefined) {
      return new Set(["string"]);
    }
  }
  return new Set(ALL);
}

export function argType(schema: unknown, root?: unknown): ArgType {
  const kinds = valueKinds(schema, root ?? schema);
  const mode: ArgMode = !kinds.has("string") ? "json" : kinds.size === 1 ? "string" : "mixed";
  return { mode, kinds };
}

/**
 * The JSON text of one raw argument value. JSON the model wrote is kept as written (no
 * re-serialisation, so big integers and number formats survive, as in llama.cpp).
 */
export function argumentJson(raw: string, type: ArgType): string {
  if (type.mode === "string") return JSON.stringify(raw);
  const text = raw.trim();
  const v = parseJson(text);
  if (type.mode === "json") {
    if (v !== undefined) return text;
    const py = pythonToJson(text);
    return parseJson(py) !== undefined ? py : JSON.stringify(raw);
  }
  if (v === undefined || typeof v === "string") return JSON.stringify(raw);
  const k = kindOf(v);
  // llama.cpp's mixed rule tries json-number for "number" or "integer" alike
  const isNumber = k === "number" || k === "integer";
  const allowed = isNumber ? type.kinds.has("number") || type.kinds.has("integer") : type.kinds.has(k);
  return allowed ? text : JSON.stringify(raw);
}

/**
 * Python literals to JSON (llama.cpp normalize_quotes_to_json): single-quoted strings become
 * double-quoted, True/False/None outside strings become true/false/null (whole words only).
 */
export function pythonToJson(input: string): string {
  let out = "";
  let inSingle = false;
  let inDouble = false;
  const word = (c: string | undefined) => c !== undefined && /[A-Za-z0-9_]/.test(c);
  for (let i = 0; i < input.length; i++) {
    const c = input[i];
    if (c === "\\" && i + 1 < input.length) {
      const next = input[i + 1];
      if (inSingle) {
        out += next === "'" ? "'" : next === '"' ? '\\"' : c + next;
        i++;
      } else if (inDouble) {
        out += c + next;
        i++;
      } else {
        out += c;
      }
      continue;
    }
    if (c === '"') {
      if (inSingle) out += '\\"';
      else {
        inDouble = !inDouble;
        out += c;
      }
    } else if (c === "'") {
      if (inDouble) out += c;
      else {
        inSingle = !inSingle;
        out += '"';
      }
    } else if (!inSingle && !inDouble && !word(input[i - 1]) && /[TFN]/.test(c)) {
      let n = 0;
      while (word(input[i + n])) n++;
      const lit = { True: "true", False: "false", None: "null" }[input.slice(i, i + n)];
      if (lit) {
        out += lit;
        i += n - 1;
      } else out += c;
    } else {
      out += c;
    }
  }
  return out;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function kindOf(v: unknown): ValueKind {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  switch (typeof v) {
    case "string":
      return "string";
    case "boolean":
      return "boolean";
    case "number":
      return Number.isInteger(v) ? "integer" : "number";
    default:
      return "object";
  }
}

function resolveRef(root: unknown, ref: string): unknown {
  if (!ref.startsWith("#")) return undefined; // only references into the same document
  let cur: unknown = root;
  for (const raw of ref.slice(1).split("/").slice(1)) {
    const key = decodeURIComponent(raw).replaceAll("~1", "/").replaceAll("~0", "~");
    if (!cur || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}
