/**
 * Limits on request-derived JSON schemas (response_format, Ollama `format`, tool parameters),
 * checked before any conversion to a grammar. Why: the cost of a grammar is not its text but
 * what llama.cpp's grammar sampler does with it. Every alternative that can start at the same
 * position (an enum value, an anyOf branch, an optional property) is one parse stack, and the
 * sampler deduplicates its stacks pairwise at every accepted token, so n alternatives cost n^2
 * per token (an enum of 100,000 strings froze the engine for minutes). Deep nesting overflows
 * recursive walkers (the converter's, the template's), and `$ref`s can multiply a small document
 * into a huge one. The walk here is iterative, follows `$ref`s as the converter does (counting what
 * they expand to) and stops at the first limit, so its own cost is bounded by the limits.
 */

import { InvalidRequestError } from "../errors.ts";

export interface SchemaLimits {
  /** nesting of subschemas (through properties, items, anyOf..., and `$ref`s as expanded) */
  maxDepth: number;
  /** nesting of the JSON document itself (arrays and objects, anywhere, `$defs` and `const` included) */
  maxJsonDepth: number;
  /** the schema serialized as JSON, in characters */
  maxSchemaChars: number;
  /** subschemas visited, `$ref`s expanded where they are used */
  maxNodes: number;
  /** values of one enum, branches of one anyOf/oneOf/allOf, types of one type list, properties of one object */
  maxAlternatives: number;
  /** the sum of all of those over the expanded schema: a bound on the grammar's parse stacks */
  maxTotalAlternatives: number;
  /** enum and const values and property names, as JSON text, in characters */
  maxLiteralChars: number;
  /** length of one `pattern` */
  maxPatternChars: number;
  /**
   * optional atoms in one `pattern`: each `?` plus, for each `{m,n}`, n - m. llama.cpp's grammar sampler keeps
   * a parse stack per way of skipping them, so the cost of a step grows steeply with their number (measured on
   * the tiny model: 16 optional character classes 0.05 s a token, 32 over 7 s; 300 optional letters froze it)
   */
  maxPatternOptionals: number;
  /** minLength / minItems (llama.cpp's grammar parser refuses more repetitions: MAX_REPETITION_THRESHOLD) */
  maxMinRepetitions: number;
  /** the GBNF grammar built from a schema (or from tools), in characters */
  maxGrammarChars: number;
}

export const SCHEMA_LIMITS: Readonly<SchemaLimits> = Object.freeze({
  maxDepth: 32,
  maxJsonDepth: 128,
  maxSchemaChars: 256 * 1024,
  maxNodes: 10_000,
  maxAlternatives: 256,
  maxTotalAlternatives: 256,
  maxLiteralChars: 64 * 1024,
  maxPatternChars: 1_024,
  maxPatternOptionals: 16,
  maxMinRepetitions: 2_000,
  maxGrammarChars: 256 * 1024,
});

type Schema = Record<string, unknown>;

interface Visit {
  schema: unknown;
  depth: number;
  /** JSON pointer of the subschema, for messages */
  path: string;
  /** `$ref`s being expanded above this subschema (a repeat is recursion: the converter makes a rule) */
  refs: readonly string[];
  /** `$ref`s followed since the last subschema that consumes input (a repeat is left recursion) */
  leftRefs: readonly string[];
}

const COUNT_KEYS = ["minLength", "maxLength", "minItems", "maxItems"] as const;
const BOUND_KEYS = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] as const;
const INT32_MAX = 2 ** 31 - 1;

/**
 * Refuses (InvalidRequestError naming `param` and the limit) a JSON schema over any of `limits`.
 * Returns the schema's JSON text, which the caller hands to the converter.
 */
export function checkJsonSchema(schema: unknown, param: string, limits: SchemaLimits = SCHEMA_LIMITS): string {
  const refuse = (what: string) => {
    throw new InvalidRequestError(`${param}: ${what}`, param);
  };
  const depth = jsonDepth(schema, limits.maxJsonDepth);
  if (depth > limits.maxJsonDepth) {
    refuse(`the schema nests more than ${limits.maxJsonDepth} levels of JSON (limit maxJsonDepth)`);
  }

  let nodes = 0;
  let alternatives = 0;
  let literalChars = 0;
  /** `copies`: the converter builds a subschema with a type list once per type */
  const countAlternatives = (n: number, what: string, path: string, copies = 1) => {
    if (n > limits.maxAlternatives) {
      refuse(`${what} at ${path} has ${n} entries; the limit (maxAlternatives) is ${limits.maxAlternatives}`);
    }
    alternatives += n * copies;
    if (alternatives > limits.maxTotalAlternatives) {
      refuse(
        `the schema has more than ${limits.maxTotalAlternatives} alternatives in total (enum values, anyOf/oneOf/` +
          `allOf branches, types, properties; $refs counted where used): limit maxTotalAlternatives`,
      );
    }
  };
  const countLiteral = (chars: number) => {
    literalChars += chars;
    if (literalChars > limits.maxLiteralChars) {
      refuse(
        `the schema's enum/const values and property names are more than ${limits.maxLiteralChars} characters ` +
          "of JSON (limit maxLiteralChars)",
      );
    }
  };

  const stack: Visit[] = [{ schema, depth: 1, path: "#", refs: [], leftRefs: [] }];
  while (stack.length) {
    const v = stack.pop()!;
    if (++nodes > limits.maxNodes) {
      refuse(`the schema has more than ${limits.maxNodes} subschemas ($refs counted where used): limit maxNodes`);
    }
    if (v.depth > limits.maxDepth) {
      refuse(`the schema nests deeper than ${limits.maxDepth} subschemas at ${v.path} (limit maxDepth)`);
    }
    if (typeof v.schema === "boolean") continue;
    if (!isObject(v.schema)) refuse(`the subschema at ${v.path} is not an object`);
    const s = v.schema as Schema;
    // children that start where this subschema starts (no input consumed in between)
    const inPlace = (child: unknown, key: string): Visit => ({
      schema: child,
      depth: v.depth + 1,
      path: `${v.path}/${key}`,
      refs: v.refs,
      leftRefs: v.leftRefs,
    });
    // children behind a "{", "[" or a property name
    const nested = (child: unknown, key: string): Visit => ({ ...inPlace(child, key), leftRefs: [] });

    if ("$ref" in s) {
      const ref = s.$ref;
      if (typeof ref !== "string") refuse(`$ref at ${v.path} is not a string`);
      const target = resolveRef(schema, ref as string);
      if (target === undefined) continue; // the converter says what is wrong with it
      if (v.leftRefs.includes(ref as string)) {
        refuse(`$ref ${ref} at ${v.path} refers back to itself before any input (a $ref cycle)`);
      }
      if (v.refs.includes(ref as string)) continue; // recursion: one rule, not an expansion
      stack.push({
        schema: target,
        depth: v.depth + 1,
        path: ref as string,
        refs: [...v.refs, ref as string],
        leftRefs: [...v.leftRefs, ref as string],
      });
      continue;
    }
    for (const key of ["anyOf", "oneOf", "allOf"] as const) {
      if (!(key in s)) continue;
      const list = s[key];
      if (!Array.isArray(list)) refuse(`${key} at ${v.path} is not an array`);
      countAlternatives((list as unknown[]).length, key, v.path);
      (list as unknown[]).forEach((child, i) => stack.push(inPlace(child, `${key}/${i}`)));
    }
    let copies = 1;
    if (Array.isArray(s.type)) {
      if (new Set(s.type).size !== s.type.length) refuse(`the type list at ${v.path} repeats a type`);
      countAlternatives(s.type.length, "the type list", v.path);
      copies = s.type.length;
    }
    if ("enum" in s) {
      if (!Array.isArray(s.enum)) refuse(`enum at ${v.path} is not an array`);
      const values = s.enum as unknown[];
      countAlternatives(values.length, "enum", v.path, copies);
      for (const value of values) countLiteral(copies * (JSON.stringify(value)?.length ?? 0));
    }
    if ("const" in s) countLiteral(copies * (JSON.stringify(s.const)?.length ?? 0));
    if ("properties" in s) {
      if (!isObject(s.properties)) refuse(`properties at ${v.path} is not an object`);
      const entries = Object.entries(s.properties as Schema);
      countAlternatives(entries.length, "properties", v.path);
      for (const [name, child] of entries) {
        countLiteral(JSON.stringify(name).length);
        stack.push(nested(child, `properties/${escapePointer(name)}`));
      }
    }
    if (isObject(s.additionalProperties)) stack.push(nested(s.additionalProperties, "additionalProperties"));
    for (const key of ["items", "prefixItems"] as const) {
      const items = s[key];
      if (Array.isArray(items)) items.forEach((child, i) => stack.push(nested(child, `${key}/${i}`)));
      else if (items !== undefined) stack.push(nested(items, key));
    }
    if ("pattern" in s) {
      if (typeof s.pattern !== "string") refuse(`pattern at ${v.path} is not a string`);
      const n = (s.pattern as string).length;
      if (n > limits.maxPatternChars) {
        refuse(`pattern at ${v.path} is ${n} characters; the limit (maxPatternChars) is ${limits.maxPatternChars}`);
      }
      const optionals = patternOptionals(s.pattern as string);
      if (optionals > limits.maxPatternOptionals) {
        refuse(
          `pattern at ${v.path} has ${optionals} optional atoms; the limit (maxPatternOptionals) is ` +
            limits.maxPatternOptionals,
        );
      }
    }
    for (const key of COUNT_KEYS) {
      if (!(key in s)) continue;
      const n = s[key];
      if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > INT32_MAX) {
        refuse(`${key} at ${v.path} must be a non-negative integer below 2^31`);
      }
      if (key.startsWith("min") && (n as number) > limits.maxMinRepetitions) {
        refuse(`${key} at ${v.path} is ${n}; the limit (maxMinRepetitions) is ${limits.maxMinRepetitions}`);
      }
    }
    const types = Array.isArray(s.type) ? s.type : [s.type];
    if (types.includes("integer")) {
      // the converter reads integer bounds as int64 and spells out their digits in the grammar
      for (const key of BOUND_KEYS) {
        if (!(key in s)) continue;
        const b = s[key];
        if (typeof b !== "number" || !Number.isFinite(b) || Math.abs(b) > Number.MAX_SAFE_INTEGER) {
          refuse(`${key} at ${v.path} must be a number between -(2^53-1) and 2^53-1`);
        }
      }
    }
  }
  const text = JSON.stringify(schema) ?? "null";
  if (text.length > limits.maxSchemaChars) {
    refuse(`the schema is ${text.length} characters of JSON; the limit (maxSchemaChars) is ${limits.maxSchemaChars}`);
  }
  return text;
}

/**
 * Refuses tool definitions whose parameters the grammar, the parser or the chat template could
 * not take: `parameters` and its `properties` must be objects, each property a schema, and every
 * tool's parameters within the schema limits.
 */
export function checkToolSchemas(
  tools: readonly { function: { parameters?: unknown } }[],
  param = "tools",
  limits: SchemaLimits = SCHEMA_LIMITS,
): void {
  tools.forEach((t, i) => {
    const p = t.function.parameters;
    const where = `${param}.${i}.function.parameters`;
    if (p === undefined || p === null) return;
    if (!isObject(p)) throw new InvalidRequestError(`${where} must be a JSON schema object`, where);
    const props = (p as Schema).properties;
    if (props !== undefined) {
      if (!isObject(props)) throw new InvalidRequestError(`${where}.properties must be an object`, where);
      for (const [name, s] of Object.entries(props as Schema)) {
        if (!isObject(s) && typeof s !== "boolean") {
          throw new InvalidRequestError(`${where}.properties.${name} must be a JSON schema object`, where);
        }
      }
    }
    const required = (p as Schema).required;
    if (required !== undefined && !(Array.isArray(required) && required.every((r) => typeof r === "string"))) {
      throw new InvalidRequestError(`${where}.required must be an array of property names`, where);
    }
    checkJsonSchema(p, where, limits);
  });
}

/** Refuses a grammar built from request input that is over the size limit. */
export function checkGrammarSize(grammar: string, param: string, limits: SchemaLimits = SCHEMA_LIMITS): void {
  if (grammar.length > limits.maxGrammarChars) {
    throw new InvalidRequestError(
      `${param}: the grammar built from it is ${grammar.length} characters; the limit (maxGrammarChars) is ` +
        `${limits.maxGrammarChars}`,
      param,
    );
  }
}

/** The nesting depth of a JSON value, counted without recursion; stops counting past `limit`. */
export function jsonDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== "object") continue;
    if (d > max) max = d;
    if (max > limit) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      if (child !== null && typeof child === "object") stack.push([child, d + 1]);
    }
  }
  return max;
}

function isObject(v: unknown): v is Schema {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function escapePointer(key: string): string {
  return key.replaceAll("~", "~0").replaceAll("/", "~1");
}

/** A local `$ref` ("#/$defs/x") in `root`, as the converter resolves it; undefined when it cannot. */
function resolveRef(root: unknown, ref: string): unknown {
  if (ref !== "#" && !ref.startsWith("#/")) return undefined;
  let cur: unknown = root;
  for (const raw of ref === "#" ? [] : ref.slice(2).split("/")) {
    const key = raw.replaceAll("~1", "/").replaceAll("~0", "~");
    if (Array.isArray(cur)) cur = cur[Number(key)];
    else if (isObject(cur) && Object.hasOwn(cur, key)) cur = cur[key];
    else return undefined;
  }
  return cur;
}

/**
 * The optional atoms of a regular expression as llama.cpp's schema converter expands them: `x?` is one,
 * `x{m,n}` is n - m (unbounded `*`, `+` and `{m,}` become one recursive rule: cheap). Escapes and
 * character classes are skipped; `(?` group syntax and lazy `??` are not quantifiers.
 */
export function patternOptionals(pattern: string): number {
  let count = 0;
  /** what the last token was: a quantifier makes a following `?` lazy, `(` makes it group syntax */
  let last: "atom" | "quantifier" | "open" = "open";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "?") {
      if (last === "atom") count++;
      last = last === "atom" ? "quantifier" : "atom"; // after a quantifier: lazy; after "(": group syntax
      continue;
    }
    if (c === "*" || c === "+") {
      last = "quantifier";
      continue;
    }
    if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(i));
      if (m) {
        if (m[2] && m[3] !== "") count += Math.max(0, Number(m[3]) - Number(m[1]));
        i += m[0].length - 1;
        last = "quantifier";
        continue;
      }
    }
    if (c === "\\") i++;
    else if (c === "[") { for (i++; i < pattern.length && pattern[i] !== "]"; i++) if (pattern[i] === "\\") i++; }
    last = c === "(" || c === "|" ? "open" : "atom";
  }
  return count;
}
