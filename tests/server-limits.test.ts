/**
 * The inputs that froze or crashed a running server (an enum of 100,000 strings, an anyOf of
 * 10,000 constants, a schema nested 10,000 deep, tool `properties` that is not an object, 100,000
 * messages, a 10 MB prompt) against `serve` on the tiny model (Node only, to keep it short): each
 * is a quick 400 naming its limit and the next ordinary request is served. Then the costliest
 * schemas still accepted, each timed against the same request without a schema. Timings are printed, never
 * asserted: a request that does not finish within HANG_MS (far beyond any honest answer) fails as a hang.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { SCHEMA_LIMITS } from "../engine/ts/chat/schema-limits.ts";
import { models, startServer, type TestServer } from "./helpers.ts";

const MODEL = "tiny";
let server: TestServer;

before(async () => {
  server = await startServer("node", [
    "--model",
    models().llm,
    "--model-name",
    MODEL,
    "--threads",
    "2",
    "--ctx-size",
    "2048",
    "--parallel",
    "1",
    "--max-body-mb",
    "64",
  ]);
});
after(async () => await server?.stop());

/** a request still unanswered after this long is a frozen server, not a slow one */
const HANG_MS = 180_000;

async function chat(body: Record<string, unknown>) {
  const t0 = performance.now();
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    signal: AbortSignal.timeout(HANG_MS),
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, temperature: 0, max_tokens: 8, ...body }),
  });
  const json = await res.json();
  return { status: res.status, json, ms: performance.now() - t0 };
}

const user = { role: "user", content: "Say hello." };
const strings = (n: number, prefix = "v") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const schema = (s: unknown) => ({ response_format: { type: "json_schema", json_schema: { name: "x", schema: s } } });
function nested(n: number): unknown {
  let s: unknown = { type: "string" };
  for (let i = 0; i < n; i++) s = { type: "object", properties: { a: s }, required: ["a"] };
  return s;
}

test("node: each input that froze or crashed the server is a quick 400, and the next request is served", async () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["enum of 100,000 strings", schema({ enum: strings(100_000) }), /maxAlternatives/],
    ["anyOf of 10,000 consts", schema({ anyOf: strings(10_000).map((c) => ({ const: c })) }), /maxAlternatives/],
    ["schema nested 10,000 deep", schema(nested(10_000)), /maxJsonDepth/],
    [
      "tool properties not an object",
      { tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: "x" } } }] },
      /properties must be an object/,
    ],
    ["100,000 messages", { messages: Array(100_000).fill(user) }, /maxMessages/],
    ["a 10 MB prompt", { messages: [{ role: "user", content: "hello ".repeat(10e6 / 6) }] }, /maxPromptChars/],
    ["a 1 MB prompt (over the context)", { messages: [{ role: "user", content: "x".repeat(1e6) }] }, /at least/],
  ];
  const warm = await chat({ messages: [user] });
  assert.equal(warm.status, 200, JSON.stringify(warm.json));
  for (const [name, body, pattern] of cases) {
    const r = await chat({ messages: [user], ...body });
    const next = await chat({ messages: [user] });
    console.log(
      `  ${name}: ${r.status} in ${r.ms.toFixed(0)} ms; next request ${next.status} in ${next.ms.toFixed(0)} ms`,
    );
    assert.equal(r.status, 400, `${name}: ${JSON.stringify(r.json).slice(0, 300)}`);
    assert.match(r.json.error.message, pattern, name);
    assert.equal(next.status, 200, `after ${name}: ${JSON.stringify(next.json).slice(0, 300)}`);
    assert.equal(next.json.choices[0].message.content, warm.json.choices[0].message.content);
  }
  const health = await fetch(`${server.url}/health`);
  assert.equal(health.status, 200);
});

test("node: the costliest accepted schemas, timed against a request without a schema", async () => {
  const { maxAlternatives, maxTotalAlternatives, maxDepth, maxMinRepetitions } = SCHEMA_LIMITS;
  // long common prefixes keep every alternative's parse stack alive for many tokens
  const prefix = "x".repeat(40);
  const per = Math.floor(maxTotalAlternatives / 4) - 1;
  const props = Object.fromEntries(strings(maxAlternatives, "p").map((k) => [k, { type: "string" }]));
  const worst: [string, unknown][] = [
    ["no schema (baseline)", undefined],
    ["a free string", { type: "string" }],
    [`anyOf of 4 enums of ${per} (${4 * per + 4} alternatives)`, {
      anyOf: [0, 1, 2, 3].map((k) => ({ enum: strings(per, `${prefix}${k}-`) })),
    }],
    [`enum of ${maxAlternatives} with a common prefix`, { enum: strings(maxAlternatives, prefix) }],
    [`${maxAlternatives} optional properties`, { type: "object", properties: props }],
    [`${maxDepth - 1} nested objects`, nested(maxDepth - 1)],
    ["integer within ±(2^53-1), odd bounds", {
      type: "integer",
      minimum: -Number.MAX_SAFE_INTEGER + 12345,
      maximum: Number.MAX_SAFE_INTEGER - 54321,
    }],
    [`string of ${maxMinRepetitions} to 100,000 characters`, {
      type: "string",
      minLength: maxMinRepetitions,
      maxLength: 100_000,
    }],
  ];
  let baseline = 0;
  for (const [name, s] of worst) {
    const r = await chat({ messages: [user], ...(s === undefined ? {} : schema(s)), max_tokens: 16 });
    if (!baseline) baseline = r.ms;
    const tokens = r.json.usage?.completion_tokens;
    console.log(
      `  ${name}: ${r.status} in ${r.ms.toFixed(0)} ms (${tokens} tokens; +${(r.ms - baseline).toFixed(0)} ms)`,
    );
    assert.ok(r.status === 200 || r.status === 400, `${name}: ${JSON.stringify(r.json).slice(0, 300)}`);
  }
  const next = await chat({ messages: [user] });
  assert.equal(next.status, 200);
});
