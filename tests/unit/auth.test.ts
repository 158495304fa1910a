/**
 * The API key, in-process through app.request() (no model is loaded): only the Authorization
 * header authenticates (never the query string), every route but /health needs it, and a refusal
 * is a 401 with `WWW-Authenticate: Bearer` and a JSON body in the route's API shape.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { createApp } from "../../routes/app.ts";
import { ModelService } from "../../routes/service.ts";
import { testServiceOptions } from "../service-options.ts";

const KEY = "s3cret-key-0123456789";
const MODEL = "tiny";

const service = new ModelService(testServiceOptions({ modelId: MODEL }));
const app = createApp(service, { apiKey: KEY, maxBodyBytes: 4096 });

/** Every route the app serves, with a method and a body that passes validation where one is needed. */
const ROUTES: [string, string, unknown?][] = [
  ["GET", "/v1/models"],
  ["POST", "/v1/chat/completions", { model: MODEL, messages: [{ role: "user", content: "hi" }] }],
  ["POST", "/v1/completions", { model: MODEL, prompt: "hi" }],
  ["GET", "/api/tags"],
  ["GET", "/api/ps"],
  ["GET", "/api/version"],
  ["POST", "/api/show", { model: MODEL }],
  ["POST", "/api/chat", { model: MODEL, messages: [] }],
  ["POST", "/api/generate", { model: MODEL, prompt: "hi" }],
  ["GET", "/metrics"],
  ["POST", "/tokenize", { content: "hi" }],
  ["POST", "/detokenize", { tokens: [1] }],
  ["POST", "/api/pull", { model: "hf.co/a/b:Q4_K_M" }],
  ["DELETE", "/api/delete", { model: "hf.co/a/b:Q4_K_M" }],
  ["POST", "/completion", { prompt: "hi" }],
  ["GET", "/props"],
  ["GET", "/slots"],
  ["GET", "/no-such-route"],
  ["POST", "/v1/embeddings", {}],
];

function request(method: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  return app.request(path, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

async function assertRefused(res: Response, path: string, message: RegExp) {
  assert.equal(res.status, 401, `${path}: ${res.status}`);
  assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer\b/, path);
  assert.match(res.headers.get("content-type") ?? "", /^application\/json/, path);
  const body = await res.json();
  if (path.startsWith("/api/")) {
    assert.deepEqual(Object.keys(body), ["error"], path);
    assert.match(body.error, message, path);
  } else {
    assert.deepEqual(body.error.type, "authentication_error", path);
    assert.deepEqual(body.error.code, "invalid_api_key", path);
    assert.match(body.error.message, message, path);
  }
  assert.ok(!JSON.stringify(body).includes(KEY), `${path}: the key is never echoed`);
}

test("every route but /health answers 401 without the key, with WWW-Authenticate and a JSON body", async () => {
  for (const [method, path, body] of ROUTES) {
    await assertRefused(await request(method, path, body), path, /^Missing API key/);
  }
  const health = await app.request("/health");
  assert.equal(health.status, 503, "/health answers without a key (the model is not loaded)");
  assert.deepEqual(await health.json(), { status: "loading" });
});

test("a wrong key, a key without 'Bearer', or a prefix or extension of the key is refused", async () => {
  const wrong = [`Bearer ${KEY.slice(0, -1)}`, `Bearer ${KEY}x`, `Bearer x${KEY}`, KEY, `Basic ${KEY}`, "Bearer "];
  for (const authorization of wrong) {
    for (const [method, path, body] of ROUTES) {
      await assertRefused(await request(method, path, body, { authorization }), path, /^Incorrect API key provided$/);
    }
  }
});

test("the key in the query string does not authenticate", async () => {
  for (const q of ["api_key", "key", "apiKey", "access_token", "token", "authorization"]) {
    for (const [method, path, body] of ROUTES) {
      const url = `${path}?${q}=${encodeURIComponent(KEY)}`;
      await assertRefused(await request(method, url, body), path, /^Missing API key/);
    }
  }
  const inQueryAndWrongHeader = await request("GET", `/v1/models?api_key=${KEY}`, undefined, {
    authorization: "Bearer nope",
  });
  await assertRefused(inQueryAndWrongHeader, "/v1/models", /^Incorrect/);
});

test("the right key passes on every route (the scheme's case and surrounding spaces do not matter)", async () => {
  for (const authorization of [`Bearer ${KEY}`, `bearer ${KEY}`, `  Bearer  ${KEY} `]) {
    // /api/tags, /api/ps, /props and /slots read the model's file (absent here): left out for speed
    const loading = ["/api/tags", "/api/ps", "/props", "/slots"];
    for (const [method, path, body] of ROUTES.filter(([, p]) => !loading.includes(p))) {
      // POST bodies that fail validation: a 400 shows the request got past the key without loading a model
      const res = await request(method, path, body === undefined ? undefined : { frobnicate: 1 }, { authorization });
      assert.notEqual(res.status, 401, `${path} with '${authorization}'`);
      assert.ok([200, 400, 404, 503].includes(res.status), `${path}: ${res.status}`);
      await res.body?.cancel();
    }
  }
  const models = await request("GET", "/v1/models", undefined, { authorization: `Bearer ${KEY}` });
  assert.equal(models.status, 200);
  assert.equal((await models.json()).data[0].id, MODEL);
});

test("an unauthenticated request is refused before its body is read", async () => {
  // a body that never ends: were it read first, the request would hang
  const res = await app.request("/v1/chat/completions", {
    method: "POST",
    body: new ReadableStream({ pull() {} }),
    duplex: "half",
  } as RequestInit);
  await assertRefused(res, "/v1/chat/completions", /^Missing API key/);
});
