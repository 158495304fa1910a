/**
 * Graceful drain of `serve` (SIGTERM, as a rolling update sends it): a stream in flight runs to its
 * `[DONE]`, a new request meanwhile gets 503 with `Connection: close`, /health says "draining" while
 * /livez stays 200, and the process exits 0. Past --drain-timeout the rest is cut; a second signal
 * exits at once.
 */

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { models } from "./helpers.ts";
import { chatBody, readEvents, type Replica, startReplica } from "./replica.ts";

const m = models();
const MODEL = "tiny-llm";
const replicas: Replica[] = [];

async function replica(extra: string[] = []): Promise<Replica> {
  const r = await startReplica([
    "--model",
    m.llm,
    "--parallel",
    "2",
    "--ctx-size",
    "4096",
    "--threads",
    "2",
    ...extra,
  ]);
  replicas.push(r);
  await r.ready;
  return r;
}

after(() => replicas.forEach((r) => r.kill()));

const chat = (r: Replica, body: unknown) =>
  fetch(`${r.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

/** Starts a stream, waits for its first token, and reads the rest in the background. */
async function streamStarted(r: Replica, tokens: number) {
  const res = await chat(r, chatBody(MODEL, tokens, true));
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.match(first, /^data: /);
  return { rest: readEvents(reader, first) }; // (an object: returning the promise would wait for it)
}

test("SIGTERM: the stream in flight gets its [DONE], new requests get 503, the process exits 0", async () => {
  const r = await replica(["--drain-timeout", "30"]);
  const stream = await streamStarted(r, 600);
  r.signal("SIGTERM");
  // the drain starts at once: not ready, still alive, new requests refused
  let health: Response;
  for (;;) {
    health = await fetch(`${r.url}/health`);
    if (health.status === 503) break;
    await health.body?.cancel();
  }
  const body = await health.json();
  assert.equal(body.status, "draining");
  assert.equal(body.requests_in_flight, 1);
  assert.equal((await fetch(`${r.url}/v1/health`)).status, 503);
  assert.equal((await fetch(`${r.url}/livez`)).status, 200);
  const refused = await chat(r, chatBody(MODEL, 4));
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get("connection"), "close");
  assert.equal(refused.headers.get("retry-after"), "1");
  assert.equal((await refused.json()).error.code, "draining");
  assert.equal((await fetch(`${r.url}/metrics`)).status, 200); // scraped to the end

  const { events, error } = await stream.rest;
  assert.equal(error, undefined);
  assert.equal(events.at(-1), "[DONE]");
  assert.equal(JSON.parse(events.at(-2)!).choices[0].finish_reason, "length");
  assert.equal(await r.exited, 0);
  assert.match(r.log(), /drained; shutting down/);
});

test("past --drain-timeout the running stream is cut and the process still exits 0", async () => {
  const r = await replica(["--drain-timeout", "0.3"]);
  const stream = await streamStarted(r, 3500);
  const t0 = performance.now();
  r.signal("SIGTERM");
  assert.equal(await r.exited, 0);
  const { events, error } = await stream.rest;
  assert.ok(error, "the stream was cut");
  assert.notEqual(events.at(-1), "[DONE]");
  assert.match(r.log(), /drain timed out; cutting 1 requests/);
  console.log(`exited ${((performance.now() - t0) / 1000).toFixed(2)} s after SIGTERM (drain timeout 0.3 s)`);
});

test("a second signal exits at once, with status 1", async () => {
  const r = await replica(["--drain-timeout", "60"]);
  const stream = await streamStarted(r, 3500);
  r.signal("SIGTERM");
  await new Promise((res) => setTimeout(res, 200));
  assert.equal(r.process.exitCode, null); // draining: the stream has seconds left
  r.signal("SIGINT");
  assert.equal(await r.exited, 1);
  assert.ok((await stream.rest).error, "the stream was cut");
  assert.match(r.log(), /second stop signal; exiting now/);
});
