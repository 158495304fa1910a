/**
 * Ollama's model management through the real server on the tiny pair, against a local Hugging-Face-like
 * server reached through HF_ENDPOINT: /api/pull's status lines (and its resume after an interrupted pull),
 * /api/delete, keep_alive on /api/chat and /api/generate (0 unloads, -1 keeps), --sleep-idle-seconds
 * (unload when idle, /health and /api/ps say so, the next request loads again), /api/ps's expires_at and
 * size. keep_alive parsing and the pull names are checked in-process first.
 */

import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { after, before, test } from "node:test";
import { keepAliveMs } from "../routes/idle.ts";
import { pullRefs } from "../routes/ollama-models.ts";
import { models, startServer, type TestServer } from "./helpers.ts";

const m = models();
const MODEL = "tiny";
const IDLE_SECONDS = 2;
const llm = readFileSync(m.llm);
const mmproj = readFileSync(m.mmproj16x);
/** repositories: path -> bytes. test/tiny is what the server serves; test/other is pulled and deleted */
const repos: Record<string, Record<string, Uint8Array>> = {
  "test/tiny": { "tiny-Q8_0.gguf": llm, "mmproj-tiny-F16.gguf": mmproj },
  "test/other": { "other-Q8_0.gguf": mmproj, "mmproj-other-F16.gguf": mmproj.subarray(0, 300_000) },
};
/** Range headers of the file requests, by path */
const ranges: { path: string; range?: string }[] = [];
let hub: Server;
let hubUrl = "";
let cache = "";
let server: TestServer;

async function serve(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url!, "http://x");
  let mm = /^\/api\/models\/(.+)\/tree\/main$/.exec(url.pathname);
  if (mm) {
    const files = repos[mm[1]];
    if (!files) return res.writeHead(404).end('{"error":"Repository not found"}');
    const list = Object.entries(files).map(([path, b]) => ({ type: "file", path, size: b.length }));
    return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(list));
  }
  mm = /^\/(.+?\/.+?)\/resolve\/main\/(.+)$/.exec(url.pathname);
  const body = mm && repos[mm[1]]?.[decodeURIComponent(mm[2])];
  if (!mm || !body) return res.writeHead(404).end("Entry not found");
  ranges.push({ path: url.pathname, range: req.headers.range });
  const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? "")?.[1] ?? 0);
  res.writeHead(start ? 206 : 200, {
    "content-type": "application/octet-stream",
    etag: `"${mm[1]}-${body.length}"`,
    "content-length": String(body.length - start),
    ...(start ? { "content-range": `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
  });
  // test/other's first full download is slow, so that a client can interrupt it half way
  const slow = mm[1] === "test/other" && !start;
  for (let i = start; i < body.length && !res.destroyed; i += 16_384) {
    res.write(body.subarray(i, Math.min(i + 16_384, body.length)));
    if (slow) await new Promise((r) => setTimeout(r, 10));
  }
  res.end();
}

const post = (path: string, body: unknown, method = "POST", signal?: AbortSignal) =>
  fetch(`${server.url}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
const get = async (path: string) => await (await fetch(`${server.url}${path}`)).json();
const lines = (text: string) => text.trim().split("\n").map((l) => JSON.parse(l));
const chat = (extra: Record<string, unknown> = {}) =>
  post("/api/chat", {
    model: MODEL,
    messages: [{ role: "user", content: "hi" }],
    stream: false,
    options: { num_predict: 3, temperature: 0 },
    ...extra,
  });
async function until(what: string, check: () => boolean | Promise<boolean>, ms = 15_000) {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
const sleeping = async () => (await get("/health")).sleeping === true;
const cachedFile = (repo: string, file: string) => `${cache}/huggingface/${repo}/${file}`;

test("keep_alive values: seconds, Go durations, negative = forever, bad = 400", () => {
  assert.equal(keepAliveMs(undefined), undefined);
  assert.equal(keepAliveMs(0), 0);
  assert.equal(keepAliveMs("0"), 0);
  assert.equal(keepAliveMs(300), 300_000);
  assert.equal(keepAliveMs("300"), 300_000);
  assert.equal(keepAliveMs("5m"), 300_000);
  assert.equal(keepAliveMs("300s"), 300_000);
  assert.equal(keepAliveMs("1h30m"), 5_400_000);
  assert.equal(keepAliveMs("1.5s"), 1500);
  assert.equal(keepAliveMs(-1), Infinity);
  assert.equal(keepAliveMs("-1"), Infinity);
  assert.equal(keepAliveMs("-1m"), Infinity);
  assert.equal(keepAliveMs(1e12), Infinity); // beyond a timer's range
  assert.throws(() => keepAliveMs("soon"), /keep_alive "soon" is not a duration/);
  assert.throws(() => keepAliveMs("5 minutes"), /not a duration/);
});

test("pull names: hf.co/owner/repo[:QUANT] and pull's forms; URLs and paths are refused", () => {
  assert.deepEqual(pullRefs("hf.co/a/b:Q4_K_M"), { model: "a/b:Q4_K_M", mmproj: undefined });
  assert.deepEqual(pullRefs("huggingface.co/a/b:latest"), { model: "hf:a/b", mmproj: undefined });
  assert.deepEqual(pullRefs("hf.co/a/b"), { model: "hf:a/b", mmproj: undefined });
  assert.deepEqual(pullRefs("a/b:Q8_0"), { model: "a/b:Q8_0", mmproj: undefined });
  assert.deepEqual(pullRefs("hf:a/b/c.gguf"), { model: "hf:a/b/c.gguf", mmproj: false });
  for (const bad of ["https://example.com/x.gguf", "/etc/passwd", "llama3", "", "../x.gguf"]) {
    assert.throws(() => pullRefs(bad), /Hugging Face model|provide a model name/, bad);
  }
});

before(async () => {
  hub = createServer((req, res) => void serve(req, res));
  await new Promise<void>((r) => hub.listen(0, "127.0.0.1", r));
  hubUrl = `http://127.0.0.1:${(hub.address() as { port: number }).port}`;
  cache = mkdtempSync(`${tmpdir()}/mce-ollama-models-`);
  server = await startServer("deno", [
    "--model",
    "test/tiny:Q8_0", // pulled from the local hub at start, so that it is in the cache (delete refuses it)
    "--model-name",
    MODEL,
    "--parallel",
    "1",
    "--ctx-size",
    "1024",
    "--threads",
    "2",
    "--sleep-idle-seconds",
    String(IDLE_SECONDS),
  ], { HF_ENDPOINT: hubUrl, MINICPMV_EDGE_CACHE: cache, HF_TOKEN: "" });
});
after(async () => {
  await server?.stop();
  await new Promise((r) => hub.close(r));
});

test("POST /api/pull streams Ollama's status lines and fills the cache", async () => {
  const r = await post("/api/pull", { model: "hf.co/test/other:Q8_0" });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /application\/x-ndjson/);
  const out = lines(await r.text());
  assert.deepEqual(out[0], { status: "pulling manifest" });
  assert.deepEqual(out.slice(-3).map((l) => l.status), ["verifying sha256 digest", "writing manifest", "success"]);
  const progress = out.filter((l) => l.digest);
  assert.ok(progress.length >= 2);
  for (const p of progress) {
    assert.match(p.digest, /^sha256:[0-9a-f]{64}$/);
    assert.equal(p.status, `pulling ${p.digest.slice(7, 19)}`);
    assert.ok(p.completed <= p.total);
  }
  // both files (the model and the repository's mmproj) end complete
  const totals = new Map<string, { total: number; completed: number }>();
  for (const p of progress) totals.set(p.digest, p);
  assert.deepEqual([...totals.values()].map((p) => p.total).sort(), [300_000, mmproj.length].sort());
  for (const p of totals.values()) assert.equal(p.completed, p.total);
  assert.deepEqual(readFileSync(cachedFile("test/other", "other-Q8_0.gguf")), Buffer.from(mmproj));
  assert.equal(statSync(cachedFile("test/other", "mmproj-other-F16.gguf")).size, 300_000);
  // again: already cached, one final object without streaming
  const again = await post("/api/pull", { name: "hf.co/test/other:Q8_0", stream: false });
  assert.deepEqual(await again.json(), { status: "success" });
});

test("DELETE /api/delete removes the model's files; 404 for a model not cached; 409 for the served one", async () => {
  const del = await post("/api/delete", { model: "hf.co/test/other:Q8_0" }, "DELETE");
  assert.equal(del.status, 200);
  assert.equal(existsSync(cachedFile("test/other", "other-Q8_0.gguf")), false);
  assert.equal(existsSync(cachedFile("test/other", "mmproj-other-F16.gguf")), true); // shared by the repo's quants
  const gone = await post("/api/delete", { model: "hf.co/test/other:Q8_0" }, "DELETE");
  assert.equal(gone.status, 404);
  assert.match((await gone.json()).error, /not found/);
  const unknown = await post("/api/delete", { model: "hf.co/nobody/nothing:Q4_K_M" }, "DELETE");
  assert.equal(unknown.status, 404);
  const served = await post("/api/delete", { model: "test/tiny:Q8_0" }, "DELETE");
  assert.equal(served.status, 409);
  assert.equal(existsSync(cachedFile("test/tiny", "tiny-Q8_0.gguf")), true);
  assert.equal((await post("/api/delete", { model: "/etc/hosts" }, "DELETE")).status, 400);
});

test("an interrupted pull resumes from its partial file", async () => {
  ranges.length = 0;
  const ctrl = new AbortController();
  const r = await post("/api/pull", { model: "hf.co/test/other:Q8_0" }, "POST", ctrl.signal);
  const reader = r.body!.getReader();
  const d = new TextDecoder();
  let text = "";
  // read until part of the model file has arrived, then hang up
  for (;;) {
    const { value, done } = await reader.read();
    assert.ok(!done, `the pull ended before it could be interrupted:\n${text}`);
    text += d.decode(value);
    const got = text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    if (got.some((l) => l.digest && l.completed > 0 && l.completed < l.total)) break;
  }
  ctrl.abort();
  const part = `${cachedFile("test/other", "other-Q8_0.gguf")}.part`;
  await until("the partial file", () => existsSync(part) && statSync(part).size > 0);
  const partial = statSync(part).size;
  assert.ok(partial < mmproj.length);

  const again = await post("/api/pull", { model: "hf.co/test/other:Q8_0", stream: false });
  assert.deepEqual(await again.json(), { status: "success" });
  const requests = ranges.filter((x) => x.path.endsWith("other-Q8_0.gguf"));
  const resumed = requests.at(-1)!.range;
  assert.match(resumed ?? "", /^bytes=\d+-$/, JSON.stringify(requests));
  assert.ok(Number(/\d+/.exec(resumed!)![0]) > 0);
  assert.deepEqual(readFileSync(cachedFile("test/other", "other-Q8_0.gguf")), Buffer.from(mmproj));
});

test("pull errors: an unknown repository is 404 (an error line when streamed), a URL 400", async () => {
  const r = await post("/api/pull", { model: "hf.co/nobody/nothing:Q4_K_M", stream: false });
  assert.equal(r.status, 404);
  assert.match((await r.json()).error, /not found/);
  const s = await post("/api/pull", { model: "hf.co/nobody/nothing:Q4_K_M" });
  const out = lines(await s.text());
  assert.deepEqual(out[0], { status: "pulling manifest" });
  assert.match(out.at(-1).error, /not found/);
  assert.equal((await post("/api/pull", { model: "https://example.com/x.gguf" })).status, 400);
});

test("keep_alive: 0 unloads after the request, -1 keeps it past the idle timeout, /api/ps tells", async () => {
  const ps0 = await get("/api/ps");
  assert.equal(ps0.models.length, 1);
  assert.equal(ps0.models[0].size, (await get("/api/tags")).models[0].size);
  assert.ok(ps0.models[0].size > 1e6);
  assert.ok(Date.parse(ps0.models[0].expires_at) > Date.now() - 1000);

  // keep_alive 0: unloaded once the answer is out; the next request loads it again
  assert.equal((await chat({ keep_alive: 0 })).status, 200);
  await until("the unload", sleeping, 5000);
  assert.deepEqual(await get("/api/ps"), { models: [] });
  assert.deepEqual(await get("/health"), { status: "ok", sleeping: true });
  const tags = await get("/api/tags"); // listing does not load it
  assert.equal(tags.models[0].name, MODEL);
  assert.equal(await sleeping(), true);

  // -1: loaded again, and kept beyond the idle timeout
  const r = await chat({ keep_alive: -1 });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).done, true);
  assert.deepEqual(await get("/health"), { status: "ok" });
  const ps = await get("/api/ps");
  assert.ok(Date.parse(ps.models[0].expires_at) > Date.now() + 100 * 365 * 86_400_000);
  await new Promise((r) => setTimeout(r, (IDLE_SECONDS + 1) * 1000));
  assert.equal((await get("/api/ps")).models.length, 1);

  // "5m": expires about five minutes after the request
  assert.equal((await chat({ keep_alive: "5m" })).status, 200);
  const at = Date.parse((await get("/api/ps")).models[0].expires_at);
  assert.ok(Math.abs(at - (Date.now() + 300_000)) < 10_000, new Date(at).toISOString());
  assert.equal((await chat({ keep_alive: "soon" })).status, 400);

  // `ollama stop`: an empty generate with keep_alive 0 unloads without loading
  const stop = await post("/api/generate", { model: MODEL, keep_alive: 0, stream: false });
  assert.equal((await stop.json()).done_reason, "unload");
  assert.equal(await sleeping(), true);
});

test("--sleep-idle-seconds: unloaded after the idle time, loaded again by the next request", async () => {
  const gen = await post("/api/generate", {
    model: MODEL,
    prompt: "hello",
    stream: false,
    options: { num_predict: 3 },
  });
  assert.equal(gen.status, 200);
  assert.equal((await gen.json()).done, true);
  assert.equal(await sleeping(), false);
  await until("the idle unload", sleeping, (IDLE_SECONDS + 5) * 1000);
  // an OpenAI request loads it again too
  const r = await post("/v1/chat/completions", {
    model: MODEL,
    messages: [{ role: "user", content: "hi" }],
    max_tokens: 2,
  });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).usage.completion_tokens <= 2, true);
  assert.deepEqual(await get("/health"), { status: "ok" });
  assert.match(server.log(), /ready/);
});
