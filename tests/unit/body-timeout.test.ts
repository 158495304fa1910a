/**
 * The request-body deadline, in-process through app.request() (no model is loaded): a body that
 * stalls, declared by Content-Length or chunked, is a 408 `request_timeout` with
 * `Connection: close` in the route's error shape, soon after the deadline; a body that arrives in
 * time, even slowly, is read as usual.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { createApp } from "../../routes/app.ts";
import { ModelService } from "../../routes/service.ts";
import { testServiceOptions } from "../service-options.ts";

const TIMEOUT_MS = 300;

const service = new ModelService(testServiceOptions());
const app = createApp(service, { maxBodyBytes: 1e6, requestTimeoutMs: TIMEOUT_MS });

/** A body that sends `head` and then nothing, ever. */
function stalledBody(head: string) {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(new TextEncoder().encode(head));
    },
    pull: () => new Promise<void>(() => {}),
  });
}

/** A body sent in `parts`, `gapMs` apart. */
function tricklingBody(parts: string[], gapMs: number) {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
      if (i < parts.length) controller.enqueue(new TextEncoder().encode(parts[i++]));
      else controller.close();
    },
  });
}

async function post(path: string, body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}) {
  const t0 = performance.now();
  const res = await app.request(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body,
    duplex: "half",
  } as RequestInit);
  return { res, ms: performance.now() - t0 };
}

test("a stalled body is a 408 with Connection: close, OpenAI-style on /v1 and ops routes", async () => {
  for (const path of ["/v1/chat/completions", "/v1/completions", "/tokenize"]) {
    for (const headers of [{ "content-length": "1000" }, {}] as Record<string, string>[]) {
      const { res, ms } = await post(path, stalledBody('{"model": "tiny", "mess'), headers);
      assert.equal(res.status, 408, `${path} ${JSON.stringify(headers)}`);
      assert.equal(res.headers.get("connection"), "close");
      assert.deepEqual(await res.json(), {
        error: {
          message: `the request body did not arrive within ${TIMEOUT_MS / 1000} s`,
          type: "invalid_request_error",
          param: null,
          code: "request_timeout",
        },
      });
      assert.ok(ms >= TIMEOUT_MS - 20 && ms < TIMEOUT_MS + 2000, `answered after ${ms.toFixed(0)} ms`);
    }
  }
});

test("a stalled body on an Ollama route is a 408 in Ollama's shape", async () => {
  for (const path of ["/api/chat", "/api/generate", "/api/show"]) {
    const { res } = await post(path, stalledBody("{"), { "content-length": "50" });
    assert.equal(res.status, 408, path);
    assert.equal(res.headers.get("connection"), "close");
    assert.deepEqual(await res.json(), { error: `the request body did not arrive within ${TIMEOUT_MS / 1000} s` });
  }
});

test("a body that arrives in time, even in slow pieces, is read", async () => {
  const parts = ['{"con', 'tent"', ": 5}"];
  const { res } = await post("/tokenize", tricklingBody(parts, TIMEOUT_MS / 5));
  const body = await res.json();
  // the body was read and parsed: the schema (content must be a string) answers, not the deadline
  assert.equal(res.status, 400, JSON.stringify(body));
  assert.equal(body.error.param, "content");
});

test("a body that trickles past the deadline is cut at the deadline", async () => {
  const parts = Array.from({ length: 20 }, () => " ");
  const { res, ms } = await post("/tokenize", tricklingBody([...parts, "{}"], TIMEOUT_MS / 5));
  assert.equal(res.status, 408);
  assert.ok(ms < TIMEOUT_MS + 2000, `answered after ${ms.toFixed(0)} ms`);
});

test("without a body, or with no deadline configured, nothing changes", async () => {
  assert.equal((await app.request("/v1/models")).status, 200);
  const open = createApp(service, { maxBodyBytes: 1e6 });
  const res = await open.request("/tokenize", { method: "POST", body: tricklingBody(['{"content": 5}'], 0) });
  assert.equal(res.status, 400);
});
