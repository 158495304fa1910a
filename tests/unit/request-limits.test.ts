/**
 * Request limits: the JSON-schema walker on each class of costly schema (the inputs that froze or
 * crashed the server: huge enums and anyOfs, deep nesting, $ref blow-ups, `properties` that is not
 * an object), the request-shape limits through the zod schemas, and the HTTP answers in both APIs'
 * error shapes. Pure: the service's model is never loaded (every limit is checked before it is).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  checkGrammarSize,
  checkJsonSchema,
  checkToolSchemas,
  jsonDepth,
  patternOptionals,
  SCHEMA_LIMITS,
} from "../../engine/ts/chat/schema-limits.ts";
import { InvalidRequestError } from "../../engine/ts/errors.ts";
import { createApp } from "../../routes/app.ts";
import { parseHistoryArguments } from "../../routes/chat.ts";
import { HttpError } from "../../routes/errors.ts";
import { checkPromptChars, REQUEST_LIMITS } from "../../routes/limits.ts";
import * as ollama from "../../routes/ollama-request.ts";
import * as openai from "../../routes/openai-request.ts";
import { ModelService } from "../../routes/service.ts";
import { testServiceOptions } from "../service-options.ts";

/** The InvalidRequestError `f` throws: its message matches `pattern`, its param is `param`. */
function refused(f: () => unknown, pattern: RegExp, param = "response_format") {
  assert.throws(f, (e: unknown) => {
    assert.ok(e instanceof InvalidRequestError, String(e));
    assert.match(e.message, pattern);
    assert.equal(e.param, param);
    return true;
  });
}

const check = (schema: unknown) => checkJsonSchema(schema, "response_format");
const strings = (n: number, prefix = "v") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
/** `{"type":"object","properties":{"a": ...}}` nested `n` deep */
function nestedProperties(n: number): unknown {
  let s: unknown = { type: "string" };
  for (let i = 0; i < n; i++) s = { type: "object", properties: { a: s } };
  return s;
}

test("ordinary schemas pass and come back as their JSON text", () => {
  const schema = {
    type: "object",
    properties: {
      name: { type: "string", minLength: 1, maxLength: 100_000 },
      country: { enum: strings(200) },
      age: { type: "integer", minimum: 0, maximum: 150 },
      id: { type: "integer", minimum: -Number.MAX_SAFE_INTEGER, maximum: Number.MAX_SAFE_INTEGER },
      tags: { type: "array", items: { type: "string", pattern: "^[a-z]+$" }, maxItems: 10 },
      kind: { anyOf: [{ const: "a" }, { const: "b" }, { type: "null" }] },
      big: { type: "number", maximum: 1e300 },
      tree: { $ref: "#/$defs/node" },
    },
    required: ["name"],
    $defs: {
      // recursion through a property is a recursive rule, not an expansion
      node: {
        type: "object",
        properties: { value: { type: "string" }, children: { items: { $ref: "#/$defs/node" } } },
      },
    },
  };
  assert.equal(check(schema), JSON.stringify(schema));
  assert.equal(check({}), "{}");
  check(nestedProperties(SCHEMA_LIMITS.maxDepth - 1));
  check({ enum: strings(SCHEMA_LIMITS.maxAlternatives) });
});

test("enums and anyOf/oneOf/allOf over maxAlternatives are refused, naming the count and the limit", () => {
  refused(() => check({ enum: strings(100_000) }), /^response_format: enum at # has 100000 entries; .*maxAlternatives/);
  refused(
    () => check({ anyOf: strings(10_000).map((c) => ({ const: c })) }),
    /anyOf at # has 10000 entries; the limit \(maxAlternatives\) is 256/,
  );
  refused(() => check({ properties: { x: { oneOf: Array(257).fill({}) } } }), /oneOf at #\/properties\/x has 257/);
  refused(() => check({ allOf: Array(300).fill({}) }), /allOf at # has 300/);
  const props = Object.fromEntries(strings(300).map((k) => [k, { type: "string" }]));
  refused(() => check({ type: "object", properties: props }), /properties at # has 300 entries/);
});

test("alternatives are counted in total, $refs where they are used", () => {
  const enum200 = { enum: strings(200) };
  refused(() => check({ anyOf: Array(8).fill(enum200) }), /more than 256 alternatives in total.*maxTotalAlternatives/);
  // five uses of one 60-value enum: 300 parse stacks, though the document holds 60 values
  const viaRefs = { anyOf: Array(5).fill({ $ref: "#/$defs/e" }), $defs: { e: { enum: strings(60) } } };
  refused(() => check(viaRefs), /maxTotalAlternatives/);
  refused(() => check({ type: ["string", "integer", "null", "boolean"], enum: strings(256) }), /maxTotalAlternatives/);
  check({ anyOf: Array(4).fill({ $ref: "#/$defs/e" }), $defs: { e: { enum: strings(63) } } }); // 4 + 4 x 63
});

test("nesting: the JSON document's depth, then the subschemas' (through $refs)", () => {
  refused(() => check(nestedProperties(10_000)), /nests more than 128 levels of JSON \(limit maxJsonDepth\)/);
  let items: unknown = {};
  for (let i = 0; i < 40; i++) items = { type: "array", items };
  refused(() => check(items), /nests deeper than 32 subschemas at #(\/items){32} \(limit maxDepth\)/);
  // a chain of $refs, each one level: shallow as a document, deep as the converter walks it
  const defs = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`d${i}`, { $ref: `#/$defs/d${i + 1}` }]));
  refused(() => check({ $ref: "#/$defs/d0", $defs: { ...defs, d40: {} } }), /nests deeper than 32.*maxDepth/);
  // deep JSON anywhere counts, even in an unused $defs or a const
  refused(() => check({ $defs: { x: nestedProperties(100) } }), /maxJsonDepth/);
  refused(() => check({ const: JSON.parse("[".repeat(200) + "]".repeat(200)) }), /maxJsonDepth/);
});

test("a small document that $refs expand past maxNodes is refused", () => {
  // each level uses the one below three times: 3^9 = 19,683 subschemas from 10 definitions
  const defs: Record<string, unknown> = { d0: { type: "string" } };
  for (let i = 1; i <= 9; i++) {
    defs[`d${i}`] = { type: "array", prefixItems: Array(3).fill({ $ref: `#/$defs/d${i - 1}` }) };
  }
  refused(() => check({ $ref: "#/$defs/d9", $defs: defs }), /more than 10000 subschemas.*maxNodes/);
  check({ $ref: "#/$defs/d7", $defs: defs }); // 3^7 = 2,187 values, 6,560 subschemas
});

test("$ref cycles that consume nothing are refused; recursion through a value is not", () => {
  refused(() => check({ $ref: "#" }), /\$ref # at # refers back to itself before any input/);
  refused(
    () => check({ anyOf: [{ $ref: "#/$defs/a" }, { type: "null" }], $defs: { a: { allOf: [{ $ref: "#" }] } } }),
    /a \$ref cycle/,
  );
  refused(() => check({ $ref: 5 }), /\$ref at # is not a string/);
  check({ type: "object", properties: { next: { anyOf: [{ $ref: "#" }, { type: "null" }] } } });
  check({ type: "array", items: { $ref: "#" } });
});

test("literals, patterns, repetitions, integer bounds and the document size", () => {
  refused(() => check({ enum: strings(100, "x".repeat(1000)) }), /more than 65536 characters.*maxLiteralChars/);
  refused(() => check({ const: "x".repeat(70_000) }), /maxLiteralChars/);
  refused(() => check({ type: "string", pattern: "^" + "a".repeat(2000) + "$" }), /pattern at # is 2002 characters/);
  refused(() => check({ type: "string", pattern: 5 }), /pattern at # is not a string/);
  refused(() => check({ type: "string", minLength: 5000 }), /minLength at # is 5000; .*maxMinRepetitions\) is 2000/);
  refused(() => check({ type: "array", minItems: 2001 }), /minItems at # is 2001/);
  refused(() => check({ type: "string", maxLength: 1e12 }), /maxLength at # must be a non-negative integer/);
  refused(() => check({ type: "string", maxLength: -1 }), /maxLength at # must be a non-negative integer/);
  refused(() => check({ type: "integer", minimum: 1e300 }), /minimum at # must be a number between/);
  refused(() => check({ type: ["integer", "null"], exclusiveMaximum: "9" }), /exclusiveMaximum at #/);
  refused(() => check({ type: ["string", "string"] }), /the type list at # repeats a type/);
  refused(() => check({ description: "x".repeat(300_000) }), /the schema is \d+ characters of JSON.*maxSchemaChars/);
});

test("properties, enum and anyOf of the wrong JSON type are 400s, not crashes", () => {
  refused(() => check({ type: "object", properties: ["a", "b"] }), /properties at # is not an object/);
  refused(() => check({ type: "object", properties: "abc" }), /properties at # is not an object/);
  refused(
    () => check({ type: "object", properties: { a: "string" } }),
    /subschema at #\/properties\/a is not an object/,
  );
  refused(() => check({ enum: "abc" }), /enum at # is not an array/);
  refused(() => check({ anyOf: { a: 1 } }), /anyOf at # is not an array/);
});

test("tool parameters: objects all the way down, and the same schema limits", () => {
  const tool = (parameters: unknown) => ({ type: "function", function: { name: "f", parameters } });
  const param = "tools.1.function.parameters";
  const ok = tool({ type: "object", properties: { city: { type: "string" } }, required: ["city"] });
  checkToolSchemas([ok, tool(undefined)]);
  refused(() => checkToolSchemas([ok, tool({ properties: "abc" })]), /properties must be an object/, param);
  refused(() => checkToolSchemas([ok, tool({ properties: [{ type: "string" }] })]), /must be an object/, param);
  refused(() => checkToolSchemas([ok, tool({ properties: { a: 5 } })]), /properties\.a must be a JSON schema/, param);
  refused(() => checkToolSchemas([ok, tool({ required: "a" })]), /required must be an array/, param);
  refused(() => checkToolSchemas([ok, tool("x")]), /must be a JSON schema object/, param);
  refused(
    () => checkToolSchemas([ok, tool({ properties: { a: { enum: strings(100_000) } } })]),
    /^tools\.1\.function\.parameters: enum at #\/properties\/a has 100000 entries/,
    param,
  );
  refused(() => checkToolSchemas([ok, tool(nestedProperties(10_000))]), /maxJsonDepth/, param);
});

test("the grammar size limit and the iterative depth count", () => {
  checkGrammarSize("x".repeat(SCHEMA_LIMITS.maxGrammarChars), "response_format");
  refused(
    () => checkGrammarSize("x".repeat(SCHEMA_LIMITS.maxGrammarChars + 1), "format"),
    /^format: the grammar built from it is 262145 characters; the limit \(maxGrammarChars\) is 262144$/,
    "format",
  );
  const deep = JSON.parse("[".repeat(100_000) + "]".repeat(100_000));
  assert.equal(jsonDepth(deep, 1e9), 100_000, "no recursion: no stack overflow");
  assert.equal(jsonDepth(deep, 10), 11, "stops counting past the limit");
  assert.equal(jsonDepth({ a: [1, { b: {} }], c: "x" }, 100), 4);
  assert.equal(jsonDepth("text", 100), 0);
});

const user = { role: "user", content: "hi" };
/** The first zod issue's message for `body` under `schema`. */
function issue(
  schema: { safeParse(b: unknown): { error?: { issues: { message: string; path: unknown[] }[] } } },
  body: unknown,
) {
  const e = schema.safeParse(body).error;
  assert.ok(e, "the body must be refused");
  return `${e.issues[0].path.join(".")}: ${e.issues[0].message}`;
}

test("request shape: messages, content parts, tools, stop strings, prompt length (both APIs)", () => {
  const tool = { type: "function", function: { name: "f" } };
  const many = (n: number, x: unknown) => Array(n).fill(x);
  const chat = (extra: Record<string, unknown>) => ({ model: "m", messages: [user], ...extra });
  assert.equal(openai.chatSchema.safeParse(chat({ messages: many(REQUEST_LIMITS.maxMessages, user) })).success, true);
  assert.equal(
    issue(openai.chatSchema, chat({ messages: many(100_000, user) })),
    "messages: 100000 messages; the limit (maxMessages) is 2048",
  );
  assert.equal(
    issue(
      openai.chatSchema,
      chat({ messages: [user, { role: "user", content: many(65, { type: "text", text: "x" }) }] }),
    ),
    "messages.1.content: 65 content parts; the limit (maxContentParts) is 64",
  );
  assert.equal(
    issue(openai.chatSchema, chat({ tools: many(129, tool) })),
    "tools: 129 tools; the limit (maxTools) is 128",
  );
  assert.equal(issue(openai.chatSchema, chat({ stop: "" })), "stop.0: a stop string must not be empty");
  assert.equal(issue(openai.chatSchema, chat({ stop: ["a", ""] })), "stop.1: a stop string must not be empty");
  assert.equal(
    issue(openai.chatSchema, chat({ stop: many(17, "a") })),
    "stop: 17 stop strings; the limit (maxStopStrings) is 16",
  );
  assert.equal(
    issue(openai.chatSchema, chat({ stop: ["x".repeat(257)] })),
    "stop.0: a stop string of 257 characters; the limit (maxStopChars) is 256",
  );
  assert.deepEqual(openai.chatSchema.parse(chat({ stop: "END" })).stop, ["END"]);
  const big = "x".repeat(REQUEST_LIMITS.maxPromptChars + 1);
  assert.match(
    issue(openai.completionSchema, { model: "m", prompt: big }),
    /^prompt: the prompt is 4194305 characters; the limit \(maxPromptChars\) is 4194304$/,
  );

  const ochat = (extra: Record<string, unknown>) => ({ model: "m", messages: [user], ...extra });
  assert.equal(
    issue(ollama.chatSchema, ochat({ messages: many(2049, user) })),
    "messages: 2049 messages; the limit (maxMessages) is 2048",
  );
  assert.equal(
    issue(ollama.chatSchema, ochat({ tools: many(129, tool) })),
    "tools: 129 tools; the limit (maxTools) is 128",
  );
  assert.equal(
    issue(ollama.chatSchema, ochat({ options: { stop: [""] } })),
    "options.stop.0: a stop string must not be empty",
  );
  assert.equal(
    issue(ollama.chatSchema, ochat({ messages: [{ role: "user", content: "x", images: many(65, "QQ==") }] })),
    "messages.0.images: 65 images; the limit (maxContentParts) is 64",
  );
  assert.match(issue(ollama.generateSchema, { model: "m", prompt: big }), /^prompt: the prompt is 4194305 characters/);
});

test("tool call arguments in the history: at most maxJsonDepth levels, as a string or an object", () => {
  const deep = "[".repeat(10_000) + "]".repeat(10_000);
  for (const args of [deep, { a: JSON.parse(deep) }]) {
    assert.throws(
      () => parseHistoryArguments(args, "messages.1.tool_calls.0"),
      (e: unknown) =>
        e instanceof HttpError && e.status === 400 && e.param === "messages.1.tool_calls.0" &&
        /nest more than 128 levels of JSON \(limit maxJsonDepth\)/.test(e.message),
    );
  }
  assert.deepEqual(parseHistoryArguments('{"city":"Paris"}', "p"), { city: "Paris" });
});

test("the prompt's text is counted over messages, tool calls and tool definitions (media not counted)", () => {
  const half = "x".repeat(REQUEST_LIMITS.maxPromptChars / 2);
  checkPromptChars([{
    role: "user",
    content: [{ type: "image", image: "y".repeat(5e6) }, { type: "text", text: half }],
  }], []);
  assert.throws(
    () =>
      checkPromptChars(
        [{ role: "user", content: half }, { role: "assistant", content: null, reasoning_content: half }],
        [{ type: "function", function: { name: "f", description: "d" } }],
      ),
    /^Error: the prompt has 4194\d\d\d characters of text; the limit \(maxPromptChars\) is 4194304$/,
  );
});

// HTTP: every limit answers 400 before the model is touched (its path does not exist)
const MODEL = "tiny";
const service = new ModelService(testServiceOptions({ modelId: MODEL, maxImages: 2 }));
const app = createApp(service, { maxBodyBytes: 64 * 1024 * 1024 });

async function post(path: string, body: unknown) {
  const res = await app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

test("HTTP: the inputs that froze or crashed the server are 400s naming the limit (OpenAI shape)", async () => {
  const chat = (extra: Record<string, unknown>) => ({ model: MODEL, messages: [user], ...extra });
  const schema = (s: unknown) =>
    chat({ response_format: { type: "json_schema", json_schema: { name: "x", schema: s } } });
  const tools = (parameters: unknown) => chat({ tools: [{ type: "function", function: { name: "f", parameters } }] });
  const cases: [string, unknown, string | null, RegExp][] = [
    ["enum of 100,000 strings", schema({ enum: strings(100_000) }), "response_format", /enum at # has 100000 entries/],
    [
      "anyOf of 10,000 consts",
      schema({ anyOf: strings(10_000).map((c) => ({ const: c })) }),
      "response_format",
      /maxAlternatives/,
    ],
    ["schema 10,000 deep", schema(nestedProperties(10_000)), "response_format", /maxJsonDepth/],
    [
      "tool properties not an object",
      tools({ type: "object", properties: "abc" }),
      "tools.0.function.parameters",
      /properties must be an object/,
    ],
    ["tool schema 10,000 deep", tools(nestedProperties(10_000)), "tools.0.function.parameters", /maxJsonDepth/],
    [
      "100,000 messages",
      chat({ messages: Array(100_000).fill(user) }),
      "messages",
      /100000 messages; the limit \(maxMessages\)/,
    ],
    ["an empty stop string", chat({ stop: "" }), "stop.0", /a stop string must not be empty/],
    ["a 10 MB prompt", chat({ messages: [{ role: "user", content: "x".repeat(10e6) }] }), "messages", /maxPromptChars/],
  ];
  for (const [name, body, param, pattern] of cases) {
    const t0 = performance.now();
    const r = await post("/v1/chat/completions", body);
    const ms = performance.now() - t0;
    console.log(`  ${name}: ${r.status} in ${ms.toFixed(0)} ms`);
    assert.equal(r.status, 400, `${name}: ${JSON.stringify(r.body).slice(0, 300)}`);
    assert.deepEqual(Object.keys(r.body.error), ["message", "type", "param", "code"]);
    assert.equal(r.body.error.type, "invalid_request_error");
    assert.equal(r.body.error.param, param, name);
    assert.match(r.body.error.message, pattern, name);
  }
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual([service.state, service.error], ["loading", undefined], "no model load was attempted");
});

test('HTTP: Ollama routes answer the same limits as {"error": "..."}', async () => {
  const r = await post("/api/chat", { model: MODEL, messages: [user], format: { enum: strings(100_000) } });
  assert.deepEqual(r, {
    status: 400,
    body: { error: "format: enum at # has 100000 entries; the limit (maxAlternatives) is 256" },
  });
  const deep = await post("/api/chat", { model: MODEL, messages: [user], format: nestedProperties(10_000) });
  assert.equal(deep.status, 400);
  assert.match(deep.body.error, /^format: the schema nests more than 128 levels of JSON/);
  const stop = await post("/api/chat", { model: MODEL, messages: [user], options: { stop: [""] } });
  assert.deepEqual(stop, {
    status: 400,
    body: { error: "Invalid value for 'options.stop.0': a stop string must not be empty" },
  });
});

test("patterns: optional atoms counted as the grammar expands them, over maxPatternOptionals refused", () => {
  assert.equal(patternOptionals("^\\d{3}-\\d{4}$"), 0);
  assert.equal(patternOptionals("^\\+?[0-9]{7,15}$"), 9);
  assert.equal(patternOptionals("^(?:ab)?c*d+e{2,}[?{1,9}]\\?$"), 1);
  assert.equal(patternOptionals("a??b{1,3}?"), 3);
  const max = SCHEMA_LIMITS.maxPatternOptionals;
  check({ type: "string", pattern: `^${"[a-z]?".repeat(max)}$` });
  refused(() => check({ type: "string", pattern: `^${"a?".repeat(300)}$` }), /300 optional atoms.*maxPatternOptionals/);
  refused(() => check({ type: "string", pattern: "^a{0,500}$" }), /500 optional atoms/);
});
