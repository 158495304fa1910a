/**
 * Deeply nested request bodies (found by tests/hostile-input.test.ts: tool `parameters` nested
 * 10,000 deep answered 500 "Maximum call stack size exceeded" on Node, from JSON.stringify in the
 * prompt-size check): the body's depth is refused as a 400 before anything walks it (JSON schemas
 * aside, which their own limits check), and the prompt-size count does not recurse.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Hono } from "hono";
import { z } from "zod";
import { readBody } from "../../routes/body.ts";
import { toHttpError } from "../../routes/errors.ts";
import { jsonChars, REQUEST_LIMITS } from "../../routes/limits.ts";

function nestedArray(n: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

const app = new Hono();
app.post("/", async (c) => c.json({ ok: await readBody(c, z.record(z.string(), z.unknown())) !== undefined }));
app.onError((e, c) => c.json(toHttpError(e).body(), toHttpError(e).status as 400));

async function post(body: unknown) {
  const res = await app.request("/", { method: "POST", body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

test("jsonChars: JSON.stringify's length without recursion", () => {
  const values = [
    1,
    "abc",
    null,
    true,
    [],
    {},
    [1, 2, 3],
    { a: 1, b: [1, 2], c: { d: "e" } },
    { tools: [{ type: "function", function: { name: "f", parameters: { type: "object", properties: {} } } }] },
  ];
  for (const v of values) assert.equal(jsonChars(v), JSON.stringify(v).length, JSON.stringify(v));
  assert.equal(jsonChars(nestedArray(100_000)), 200_001, "100,000 deep: no stack overflow");
});

test("readBody: a body nested past maxJsonDepth + the envelope is a 400 naming the field; schema fields are left to their own check", async () => {
  const limit = REQUEST_LIMITS.schema.maxJsonDepth + REQUEST_LIMITS.bodyEnvelopeDepth;
  // the body object is level 1, so a field may hold limit - 1 levels
  assert.equal((await post({ extra: nestedArray(limit - 2) })).status, 200);
  for (
    const [body, param] of [
      [{ extra: nestedArray(limit) }, "extra.0.0"],
      [{ chat_template_kwargs: { x: nestedArray(10_000) } }, "chat_template_kwargs.x.0"],
      [{ messages: [{ content: nestedArray(10_000) }] }, "messages.0.content"],
    ] as const
  ) {
    const r = await post(body);
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.equal(r.body.error.param, param);
    assert.match(r.body.error.message, /nests JSON more than \d+ levels deep; the limit \(maxJsonDepth\) is 128/);
  }
  // JSON schemas: their own, more precise, check runs later (chat.ts), so readBody lets them through
  for (
    const body of [
      { response_format: { type: "json_schema", json_schema: { schema: { a: nestedArray(10_000) } } } },
      { format: { a: nestedArray(10_000) } },
      { tools: [{ function: { parameters: { a: nestedArray(10_000) } } }] },
    ]
  ) {
    assert.equal((await post(body)).status, 200, JSON.stringify(Object.keys(body)));
  }
});
