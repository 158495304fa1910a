/** readBody: JSON parsing and schema checks as OpenAI-style 400s naming the field; the shared stop and tool schemas. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono } from "hono";
import { z } from "zod";
import { readBody, toolSchema } from "../../routes/body.ts";
import { HttpError } from "../../routes/errors.ts";
import { stopSchema } from "../../routes/limits.ts";

/** Posts `body` to a handler that reads it against `schema`: the parsed value, or the HttpError's fields. */
async function read(schema: z.ZodType, body: string) {
  const app = new Hono();
  app.post("/", async (c) => c.json({ ok: await readBody(c, schema) }));
  app.onError((e, c) => {
    assert.ok(e instanceof HttpError, `expected HttpError, got ${e}`);
    return c.json({ status: e.status, type: e.type, param: e.param, message: e.message });
  });
  return await (await app.request("/", { method: "POST", body })).json();
}

const schema = z.strictObject({
  n: z.number().int().min(1),
  opts: z.strictObject({ mode: z.enum(["a", "b"]).optional() }).optional(),
  stop: stopSchema,
});

test("a valid body is parsed, transforms applied", async () => {
  assert.deepEqual(await read(schema, '{"n": 2, "stop": "x"}'), { ok: { n: 2, stop: ["x"] } });
  assert.deepEqual(await read(schema, '{"n": 2, "stop": null}'), { ok: { n: 2 } });
});

test("malformed JSON, and no body at all, are 400s saying so", async () => {
  for (const body of ["{not json", ""]) {
    const r = await read(schema, body);
    assert.deepEqual([r.status, r.type, r.param], [400, "invalid_request_error", null]);
    assert.match(r.message, /^the request body is not valid JSON: /);
  }
});

test("a wrong value names its field by its path", async () => {
  const r = await read(schema, '{"n": 0}');
  assert.deepEqual([r.status, r.param], [400, "n"]);
  assert.match(r.message, /^Invalid value for 'n': /);
  const nested = await read(schema, '{"n": 1, "opts": {"mode": "c"}}');
  assert.equal(nested.param, "opts.mode");
  assert.match(nested.message, /^Invalid value for 'opts\.mode': /);
  const missing = await read(schema, "{}");
  assert.equal(missing.param, "n");
});

test("a body that is not an object is named 'body'", async () => {
  const r = await read(schema, "[1, 2]");
  assert.equal(r.param, null);
  assert.match(r.message, /^Invalid value for 'body': /);
});

test("unknown keys, at the top and inside an object, as OpenAI words it", async () => {
  assert.deepEqual(await read(schema, '{"n": 1, "frobnicate": 1, "zap": 2}'), {
    status: 400,
    type: "invalid_request_error",
    param: "frobnicate",
    message: "Unrecognized request argument supplied: frobnicate, zap",
  });
  assert.deepEqual(await read(schema, '{"n": 1, "opts": {"speed": 3}}'), {
    status: 400,
    type: "invalid_request_error",
    param: "opts.speed",
    message: "Unrecognized request argument supplied in 'opts': speed",
  });
});

test("stop: a string or up to 16 strings", () => {
  assert.deepEqual(stopSchema.parse("END"), ["END"]);
  assert.deepEqual(stopSchema.parse(["a", "b"]), ["a", "b"]);
  assert.equal(stopSchema.parse(undefined), undefined);
  assert.equal(stopSchema.safeParse(Array(17).fill("x")).success, false);
  assert.equal(stopSchema.safeParse([1]).success, false);
});

test("tools: OpenAI function definitions with a named function", () => {
  const tool = { type: "function", function: { name: "get_weather", parameters: { type: "object" } } };
  assert.deepEqual(toolSchema.parse(tool), tool);
  assert.equal(toolSchema.safeParse({ ...tool, type: "retrieval" }).success, false);
  assert.equal(toolSchema.safeParse({ type: "function", function: { name: "" } }).success, false);
  assert.equal(toolSchema.safeParse({ type: "function", function: { name: "x".repeat(257) } }).success, false);
});
