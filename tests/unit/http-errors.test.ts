/**
 * Everything the HTTP server answers before a model is touched, in-process through Hono's
 * app.request(): bad JSON, schema errors, unknown models, refused image paths, auth, CORS, 404s
 * and the body limit, in both APIs' error shapes. The service's model is never loaded (it loads
 * on first use; its path does not exist, so an attempt would turn the state to "error").
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { createApp } from "../../routes/app.ts";
import { ModelService } from "../../routes/service.ts";
import { testServiceOptions } from "../service-options.ts";

const KEY = "sekret";
const ORIGIN = "http://example.test";
const MODEL = "tiny";

const service = new ModelService(testServiceOptions({ modelId: MODEL, mediaDir: "/srv/media", maxImages: 2 }));
const app = createApp(service, { apiKey: KEY, corsOrigins: [ORIGIN], maxBodyBytes: 4096 });
const open = createApp(service, { corsOrigins: ["*"], maxBodyBytes: 4096 });
const auth = { authorization: `Bearer ${KEY}` };

async function post(path: string, body: unknown, headers: Record<string, string> = auth, to = app) {
  const res = await to.request(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

const user = (content: unknown, extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  messages: [{ role: "user", content }],
  ...extra,
});

/** An OpenAI-style error: status, type, param, code, and the message matching `pattern`. */
async function openaiError(
  body: unknown,
  status: number,
  error: { type: string; param: string | null; code: string | null },
  pattern: RegExp,
  path = "/v1/chat/completions",
) {
  const r = await post(path, body);
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.deepEqual(Object.keys(r.body.error), ["message", "type", "param", "code"]);
  assert.deepEqual({ type: r.body.error.type, param: r.body.error.param, code: r.body.error.code }, error);
  assert.match(r.body.error.message, pattern);
}

const invalid = (param: string | null) => ({ type: "invalid_request_error", param, code: null });

test("openai: malformed JSON and schema errors are 400s naming the field", async () => {
  await openaiError("{not json", 400, invalid(null), /^the request body is not valid JSON/);
  await openaiError(user("hi", { temperature: "hot" }), 400, invalid("temperature"), /^Invalid value for 'temp/);
  await openaiError(
    user("hi", { frobnicate: 1 }),
    400,
    invalid("frobnicate"),
    /^Unrecognized request argument supplied: frobnicate$/,
  );
  await openaiError(
    user("hi", { mm_processor_kwargs: { downsample_mode: "8x" } }),
    400,
    invalid("mm_processor_kwargs.downsample_mode"),
    /downsample_mode/,
  );
  await openaiError({ model: MODEL, messages: [] }, 400, invalid("messages"), /messages/);
  await openaiError({ messages: [{ role: "user", content: "hi" }] }, 400, invalid("model"), /'model'/);
  await openaiError({ model: MODEL, prompt: "x", echo: true }, 400, invalid("echo"), /echo/, "/v1/completions");
  await openaiError({ content: 5 }, 400, invalid("content"), /content/, "/tokenize");
});

test("openai: another model name is a 404 naming the served one", async () => {
  await openaiError(
    user("hi", { model: "gpt-4" }),
    404,
    { type: "not_found_error", param: "model", code: "model_not_found" },
    /The model 'gpt-4' does not exist; this server serves 'tiny'/,
  );
  await openaiError(
    { model: "gpt-4", prompt: "x" },
    404,
    { type: "not_found_error", param: "model", code: "model_not_found" },
    /gpt-4/,
    "/v1/completions",
  );
});

test("openai: image paths outside --media-dir are refused before any image is read", async () => {
  const image = (url: string) => [{ type: "text", text: "see" }, { type: "image_url", image_url: { url } }];
  for (const url of ["/etc/passwd", "../etc/passwd", "..%2Fetc/passwd", "file:///etc/passwd"]) {
    await openaiError(user(image(url)), 400, invalid("messages.0.content.1"), /outside the media directory/);
  }
});

test('ollama: errors are {"error": "message"} with the same statuses', async () => {
  const bad = await post("/api/chat", { model: MODEL, messages: "nope" });
  assert.equal(bad.status, 400);
  assert.deepEqual(Object.keys(bad.body), ["error"]);
  assert.match(bad.body.error, /^Invalid value for 'messages'/);
  const images = await post("/api/generate", { model: MODEL, prompt: "x", images: ["not base64!"] });
  assert.equal(images.status, 400);
  assert.match(images.body.error, /images must be base64 strings/);
  const model = await post("/api/generate", { model: "llama3", prompt: "x" });
  assert.deepEqual([model.status, model.body.error], [
    404,
    "The model 'llama3' does not exist; this server serves 'tiny'",
  ]);
  const show = await post("/api/show", {});
  assert.deepEqual([show.status, show.body.error], [400, "you must provide a model parameter"]);
  const json = await post("/api/chat", "{");
  assert.equal(json.status, 400);
  assert.match(json.body.error, /not valid JSON/);
});

test("routes that need no model: /v1/models, /api/version, /health while loading, /metrics", async () => {
  const models = await (await app.request("/v1/models", { headers: auth })).json();
  assert.deepEqual(models, {
    object: "list",
    data: [{ id: MODEL, object: "model", created: service.created, owned_by: "minicpmv-edge" }],
  });
  assert.deepEqual(await (await app.request("/api/version", { headers: auth })).json(), { version: "0.12.0" });
  const health = await app.request("/health");
  assert.deepEqual([health.status, await health.json()], [503, { status: "loading" }]);
  const metrics = await app.request("/metrics", { headers: auth });
  assert.equal(metrics.headers.get("content-type"), "text/plain; version=0.0.4");
  const text = await metrics.text();
  assert.match(text, /^minicpmv_requests_total\{route="\/v1\/chat\/completions",status="400"\} [1-9]\d*$/m);
  assert.match(text, /^minicpmv_requests_active 0$/m);
  assert.match(text, /^minicpmv_queue_depth 0$/m);
});

test("unknown routes and methods are 404s in the path's API shape", async () => {
  const v1 = await app.request("/v1/embeddings", { method: "POST", headers: auth });
  assert.equal(v1.status, 404);
  assert.deepEqual(await v1.json(), {
    error: { message: "no route POST /v1/embeddings", type: "not_found_error", param: null, code: "not_found" },
  });
  const api = await app.request("/api/push", { method: "POST", headers: auth });
  assert.deepEqual([api.status, await api.json()], [404, { error: "no route POST /api/push" }]);
  const method = await app.request("/v1/chat/completions", { headers: auth });
  assert.equal(method.status, 404, "GET on a POST route");
  const text = await (await app.request("/metrics", { headers: auth })).text();
  assert.match(text, /^minicpmv_requests_total\{route="other",status="404"\} 2$/m);
});

test("the API key: required everywhere but /health and preflights, checked before the body", async () => {
  const missing = await post("/v1/chat/completions", "{not json", {});
  assert.equal(missing.status, 401);
  assert.deepEqual(missing.body, {
    error: {
      message: "Missing API key: send 'Authorization: Bearer <key>'",
      type: "authentication_error",
      param: null,
      code: "invalid_api_key",
    },
  });
  const wrong = await post("/tokenize", { content: "hi" }, { authorization: "Bearer nope" });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.body.error.message, "Incorrect API key provided");
  const ollama = await post("/api/chat", { model: MODEL, messages: [] }, { authorization: KEY });
  assert.deepEqual([ollama.status, ollama.body], [401, { error: "Incorrect API key provided" }]);
  assert.equal((await app.request("/v1/models")).status, 401);
  assert.equal((await app.request("/health")).status, 503, "/health answers without a key (still loading)");
  // without a key configured, the same request reaches the body check
  assert.equal((await post("/v1/chat/completions", "{not json", {}, open)).status, 400);
});

test("CORS: preflights for the allowed origin, nothing for others, '*' for any", async () => {
  const preflight = (origin: string, to = app) =>
    to.request("/v1/chat/completions", {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
  const ok = await preflight(ORIGIN);
  assert.equal(ok.status, 204);
  assert.equal(ok.headers.get("access-control-allow-origin"), ORIGIN);
  assert.match(ok.headers.get("access-control-allow-headers") ?? "", /authorization/i);
  assert.match(ok.headers.get("access-control-allow-methods") ?? "", /POST/);
  assert.equal(ok.headers.get("access-control-max-age"), "600");
  const evil = await app.request("/v1/models", { headers: { origin: "http://evil.test", ...auth } });
  assert.equal(evil.status, 200);
  assert.equal(evil.headers.get("access-control-allow-origin"), null);
  const error = await post("/v1/chat/completions", "{", { origin: ORIGIN, ...auth });
  assert.equal(error.headers.get("access-control-allow-origin"), ORIGIN, "error responses carry CORS headers too");
  assert.equal((await preflight("http://anyone.test", open)).headers.get("access-control-allow-origin"), "*");
});

test("bodies over --max-body-mb are 413s, declared or streamed", async () => {
  const big = JSON.stringify(user("x".repeat(5000)));
  const declared = await post("/v1/chat/completions", big, { ...auth, "content-length": String(big.length) });
  assert.equal(declared.status, 413);
  assert.deepEqual(declared.body.error, {
    message: "the request body exceeds 4096 bytes",
    type: "invalid_request_error",
    param: null,
    code: "body_too_large",
  });
  const chunks = new ReadableStream({
    start(c) {
      for (let i = 0; i < 3; i++) c.enqueue(new TextEncoder().encode("x".repeat(2000)));
      c.close();
    },
  });
  const streamed = await app.request("/api/chat", { method: "POST", headers: auth, body: chunks });
  assert.deepEqual([streamed.status, await streamed.json()], [413, { error: "the request body exceeds 4096 bytes" }]);
});

// last: the tests above run in order, and none of them may have touched the model
test("no request tried to load the model, and none kept its slot", () => {
  assert.equal(service.state, "loading");
  assert.equal(service.error, undefined);
  assert.equal(service.inFlight, 0);
});
