/**
 * Model references and downloads against a local HTTP server started here: it serves the tiny
 * pair and its shards with Range support, a Hugging-Face-like API (tree listing with LFS hashes,
 * /resolve/ redirects carrying X-Linked-Etag) reached through HF_ENDPOINT, and misbehaving
 * variants (a connection dropped half way, a wrong hash, HTML instead of GGUF, 404).
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { after, before, test } from "node:test";
import { Engine, generate, MiniCPMV, Model, ModelFetchError, resolveModelRef, resolveModelRefs } from "../mod.ts";
import { modelStore } from "../engine/ts/hub/cache.ts";
import type { ResolveOptions } from "../engine/ts/hub/resolve.ts";
import { models, runCli } from "./helpers.ts";

interface Req {
  method: string;
  url: string;
  range?: string;
  auth?: string;
}

const m = models();
const shards = [1, 2, 3].map((i) => `tiny-llm-0000${i}-of-00003.gguf`);
/** served files: name -> bytes */
const files = new Map<string, Uint8Array>([
  ["tiny-llm.gguf", readFileSync(m.llm)],
  ["tiny-mmproj-16x.gguf", readFileSync(m.mmproj16x)],
  ...shards.map((s) => [s, readFileSync(`${m.splitDir}/${s}`)] as [string, Uint8Array]),
  ["page.gguf", new TextEncoder().encode("<!doctype html><html><body>Sign in to continue</body></html>".repeat(20))],
]);
const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** the fake Hub repository test/tiny-gguf: its paths and the served file behind each */
const REPO = "test/tiny-gguf";
const repoFiles: Record<string, string> = {
  "tiny-Q8_0.gguf": "tiny-llm.gguf",
  "mmproj-tiny-F16.gguf": "tiny-mmproj-16x.gguf",
  ...Object.fromEntries(shards.map((s, i) => [`split/tiny-F32-0000${i + 1}-of-00003.gguf`, s])),
  "README.md": "page.gguf",
};

const log: Req[] = [];
let inFlight = 0;
let maxInFlight = 0;
/** per served file: how many next full-body responses to cut half way */
const dropNext = new Map<string, number>();
const slowMs = { value: 0 };
let server: Server;
let cdn: Server; // another origin, like the Hub's CDN: the token must not follow the redirect there
let base = "";
let cdnBase = "";
let dir: string;
let engine: Engine;
const savedEnv = { ...process.env };

function serveFile(name: string, req: IncomingMessage, res: ServerResponse) {
  const body = files.get(name);
  if (!body) {
    res.writeHead(404, { "content-type": "text/plain" }).end("Entry not found");
    return;
  }
  const etag = `"${sha(body).slice(0, 16)}"`;
  const type = name.startsWith("page") ? "text/html" : "application/octet-stream";
  let start = 0;
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
  if (range && (!req.headers["if-range"] || req.headers["if-range"] === etag)) start = Number(range[1]);
  if (start >= body.length && range) {
    res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
    return;
  }
  const headers: Record<string, string> = {
    "content-type": type,
    etag,
    "accept-ranges": "bytes",
    "content-length": String(body.length - start),
  };
  if (range) headers["content-range"] = `bytes ${start}-${body.length - 1}/${body.length}`;
  res.writeHead(range ? 206 : 200, headers);
  const drops = dropNext.get(name) ?? 0;
  const send = () => {
    if (drops > 0) {
      dropNext.set(name, drops - 1);
      const half = start + Math.floor((body.length - start) / 2);
      res.write(body.subarray(start, half), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    res.end(body.subarray(start));
  };
  slowMs.value ? setTimeout(send, slowMs.value) : send();
}

function handle(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url!, base);
  log.push({
    method: req.method!,
    url: url.pathname + url.search,
    range: req.headers.range,
    auth: req.headers.authorization,
  });
  inFlight++;
  maxInFlight = Math.max(maxInFlight, inFlight);
  res.on("close", () => inFlight--);
  let mm: RegExpExecArray | null;
  if (url.pathname.startsWith("/files/")) return serveFile(decodeURIComponent(url.pathname.slice(7)), req, res);
  if ((mm = /^\/api\/models\/(.+)\/tree\/main$/.exec(url.pathname))) {
    if (mm[1] !== REPO) {
      return res.writeHead(404, { "content-type": "application/json" }).end('{"error":"Repository not found"}');
    }
    const list = Object.entries(repoFiles).map(([path, name]) => {
      const b = files.get(name)!;
      return path.endsWith(".gguf")
        ? { type: "file", path, size: b.length, oid: "0".repeat(40), lfs: { oid: sha(b), size: b.length } }
        : { type: "file", path, size: b.length, oid: "1".repeat(40) };
    });
    return res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify([{ type: "directory", path: "split" }, ...list]),
    );
  }
  if ((mm = /^\/(.+?\/.+?)\/resolve\/main\/(.+)$/.exec(url.pathname))) {
    const path = decodeURIComponent(mm[2]);
    const name = mm[1] === REPO ? repoFiles[path] : mm[1] === "test/bad-hash" ? "tiny-llm.gguf" : undefined;
    if (!name) return res.writeHead(404, { "x-error-code": "EntryNotFound" }).end("Entry not found");
    const b = files.get(name)!;
    const linked = mm[1] === "test/bad-hash" ? "f".repeat(64) : sha(b);
    // the Hub answers with a redirect to its CDN; the LFS hash and size ride on the redirect
    return res.writeHead(302, {
      location: `${cdnBase}/files/${name}`,
      "x-linked-etag": `"${linked}"`,
      "x-linked-size": String(b.length),
    }).end();
  }
  res.writeHead(404).end("no route");
}

before(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  cdn = createServer(handle);
  await new Promise<void>((r) => cdn.listen(0, "127.0.0.1", r));
  cdnBase = `http://127.0.0.1:${(cdn.address() as { port: number }).port}`;
  process.env.HF_ENDPOINT = base;
  process.env.HF_TOKEN = "hf_testtoken";
  engine = await Engine.create({ threads: 2, logLevel: "none" });
});
after(async () => {
  engine.terminate();
  await new Promise((r) => server.close(r));
  await new Promise((r) => cdn.close(r));
  for (const k of ["HF_ENDPOINT", "HF_TOKEN", "MINICPMV_EDGE_CACHE"]) {
    if (savedEnv[k] === undefined) delete process.env[k];
    else process.env[k] = savedEnv[k];
  }
});

/** a fresh cache directory and options using it; the request log is cleared */
async function fresh(extra: Partial<ResolveOptions> = {}): Promise<ResolveOptions & { root: string }> {
  dir = mkdtempSync(`${tmpdir()}/mce-hub-`);
  process.env.MINICPMV_EDGE_CACHE = dir; // MiniCPMV.load uses the default store
  log.length = 0;
  maxInFlight = 0;
  return { root: dir, store: await modelStore(dir), stallMs: 5000, ...extra };
}

async function rejectsWith(p: Promise<unknown>, code: string, ...mentions: string[]) {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof ModelFetchError, `expected ModelFetchError, got ${e}`);
    assert.equal(e.code, code, e.message);
    for (const s of mentions) assert.ok(e.message.includes(s), `message should mention ${s}: ${e.message}`);
    return true;
  });
}

/** compares a downloaded file with a served one (deepEqual would render a 27 MB diff) */
function sameBytes(path: string | Blob[], name: string) {
  const got = readFileSync(path as string);
  assert.ok(
    got.equals(files.get(name)!),
    `${path} differs from ${name} (${got.length} vs ${files.get(name)!.length} bytes)`,
  );
}

async function greedyTokens(model: Model): Promise<number[]> {
  const ctx = await model.createContext({ contextSize: 256, batchSize: 64 });
  const r = await generate(ctx, await model.tokenize("Once upon a time"), { temperature: 0, maxTokens: 12 }).result;
  await ctx.close();
  return r.tokens;
}

test("a URL is downloaded into the cache, checked as GGUF, and loads", async () => {
  const o = await fresh();
  const r = await resolveModelRef(`${base}/files/tiny-llm.gguf`, o);
  assert.equal(typeof r.source, "string");
  sameBytes(r.source as string, "tiny-llm.gguf");
  assert.equal(r.files[0].cached, false);
  const model = await Model.load(engine, r.source);
  const local = await Model.load(engine, m.llm);
  assert.deepEqual(await greedyTokens(model), await greedyTokens(local));
  await model.close();
  await local.close();
});

test("a dropped connection is resumed with an HTTP Range request", async () => {
  const o = await fresh();
  dropNext.set("tiny-llm.gguf", 1);
  const events: number[] = [];
  const r = await resolveModelRef(`${base}/files/tiny-llm.gguf`, { ...o, onProgress: (p) => events.push(p.received) });
  sameBytes(r.source as string, "tiny-llm.gguf");
  const gets = log.filter((q) => q.url === "/files/tiny-llm.gguf");
  assert.equal(gets.length, 2);
  assert.equal(gets[0].range, undefined);
  const resumedAt = Number(/bytes=(\d+)-/.exec(gets[1].range ?? "")?.[1]);
  assert.ok(resumedAt > 0 && resumedAt < files.get("tiny-llm.gguf")!.length, `resumed from ${gets[1].range}`);
  assert.equal(events.at(-1), files.get("tiny-llm.gguf")!.length);
});

test("a download interrupted in one run resumes from the partial file in the next", async () => {
  const o = await fresh();
  dropNext.set("tiny-llm.gguf", 1);
  await rejectsWith(resolveModelRef(`${base}/files/tiny-llm.gguf`, { ...o, retries: 0 }), "network", "dropped");
  const part = `${o.root}/urls/127.0.0.1_${new URL(base).port}/files/tiny-llm.gguf.part`;
  const partial = statSync(part).size;
  assert.ok(partial > 0 && partial < files.get("tiny-llm.gguf")!.length);
  log.length = 0;
  const r = await resolveModelRef(`${base}/files/tiny-llm.gguf`, o);
  assert.deepEqual(log.map((q) => q.range), [`bytes=${partial}-`]);
  sameBytes(r.source as string, "tiny-llm.gguf");
  assert.ok(!existsSync(part));
});

test("the shards of a split set are fetched in parallel and give the single file's tokens", async () => {
  const o = await fresh();
  slowMs.value = 150;
  try {
    const r = await resolveModelRef(`${base}/files/${shards[0]}`, o);
    assert.equal(r.files.length, 3);
    assert.ok(maxInFlight >= 2, `at most ${maxInFlight} request(s) at once`);
    const model = await Model.load(engine, r.source);
    assert.equal(model.info.files.length, 3);
    const local = await Model.load(engine, m.llm);
    assert.deepEqual(await greedyTokens(model), await greedyTokens(local));
    await model.close();
    await local.close();
  } finally {
    slowMs.value = 0;
  }
});

test("a second load makes no request; offline mode uses only the cache", async () => {
  const o = await fresh();
  await rejectsWith(
    resolveModelRef(`${base}/files/tiny-llm.gguf`, { ...o, offline: true }),
    "not_cached",
    "offline",
    "--model FILE.gguf",
  );
  assert.equal(log.length, 0);
  await resolveModelRef(`${base}/files/tiny-llm.gguf`, o);
  await resolveModelRefs({ model: `${REPO}:Q8_0` }, o);
  log.length = 0;
  const again = await resolveModelRef(`${base}/files/tiny-llm.gguf`, o);
  assert.equal(again.files[0].cached, true);
  const offline = await resolveModelRefs({ model: `${REPO}:Q8_0` }, { ...o, offline: true });
  assert.ok(offline.mmproj);
  assert.equal(log.length, 0, `requests: ${JSON.stringify(log)}`);
});

test("hf: and owner/repo:QUANT resolve through HF_ENDPOINT, with HF_TOKEN and LFS hashes", async () => {
  const o = await fresh();
  const byFile = await resolveModelRef(`hf:${REPO}/tiny-Q8_0.gguf`, o);
  sameBytes(byFile.source as string, "tiny-llm.gguf");
  const resolveReq = log.find((q) => q.url.includes("/resolve/main/"))!;
  assert.equal(resolveReq.auth, "Bearer hf_testtoken");
  assert.equal(log.find((q) => q.url.startsWith("/files/"))!.auth, undefined); // not sent to the CDN

  const q = await resolveModelRefs({ model: `${REPO}:F32` }, o); // the split set, and the repo's mmproj
  assert.equal(q.model.files.length, 3);
  assert.ok((q.model.source as string).endsWith("split/tiny-F32-00001-of-00003.gguf"));
  assert.ok(q.mmproj && (q.mmproj.source as string).endsWith("mmproj-tiny-F16.gguf"));
  assert.ok(
    log.some((r) => r.url === `/api/models/${REPO}/tree/main?recursive=true` && r.auth === "Bearer hf_testtoken"),
  );

  await rejectsWith(resolveModelRefs({ model: `${REPO}:Q2_K` }, o), "not_found", "Q2_K", "tiny-Q8_0.gguf");
  await rejectsWith(resolveModelRef("nobody/nothing:Q4_K_M", o), "not_found", "nobody/nothing");

  // end to end: MiniCPMV.load with references gives the tokens of the local files
  const mm = await MiniCPMV.load(engine, { model: `${REPO}:Q8_0`, offline: true, contextSize: 256 });
  assert.ok(mm.vision, "the repository's mmproj is picked with the model");
  const local = await Model.load(engine, m.llm);
  assert.deepEqual(await greedyTokens(mm.model), await greedyTokens(local));
  await local.close();
  await mm.model.close();
  await mm.vision!.close();
});

test("bad downloads are reported clearly: 404, wrong content, checksum mismatch", async () => {
  const o = await fresh();
  await rejectsWith(
    resolveModelRef(`${base}/files/missing.gguf`, o),
    "not_found",
    "HTTP 404",
    `${base}/files/missing.gguf`,
  );
  await rejectsWith(resolveModelRef(`hf:${REPO}/nope.gguf`, o), "not_found", "HTTP 404", `${REPO}/nope.gguf`);
  await rejectsWith(resolveModelRef(`${base}/files/page.gguf`, o), "wrong_content", "not a GGUF file", "text/html");
  await rejectsWith(
    resolveModelRef("hf:test/bad-hash/tiny.gguf", o),
    "checksum_mismatch",
    "SHA-256 mismatch",
    "f".repeat(64),
  );
  const store = await modelStore(o.root);
  assert.equal((await store.list()).length, 0, "nothing bad is left in the cache");
  assert.equal(await store.partialSize("huggingface/test/bad-hash/tiny.gguf"), 0);
  rmSync(o.root, { recursive: true, force: true });
});

test("`pull` with no model fails fast against an unreachable hub and says how to use local files", async () => {
  const cache = mkdtempSync(`${tmpdir()}/mce-pull-`);
  const saved = process.env.HF_ENDPOINT;
  process.env.HF_ENDPOINT = "http://127.0.0.1:9"; // nothing listens on the discard port
  process.env.MINICPMV_EDGE_CACHE = cache;
  try {
    for (const rt of ["deno", "bun", "node"] as const) {
      const t0 = performance.now();
      const r = await runCli(rt, ["pull"]);
      const seconds = (performance.now() - t0) / 1000;
      assert.equal(r.code, 1, `${rt}: ${r.stderr}`);
      for (const s of ["openbmb/MiniCPM-V-4.6-gguf", "tried:", "--model FILE.gguf", "HF_ENDPOINT"]) {
        assert.ok(r.stderr.includes(s), `${rt} should mention ${s}: ${r.stderr}`);
      }
      assert.ok(seconds < 20, `${rt} took ${seconds.toFixed(1)} s`);
    }
  } finally {
    process.env.HF_ENDPOINT = saved;
  }
});

test("`pull` and `models` on every runtime: download with HF_ENDPOINT, then list with sizes", async () => {
  const cache = mkdtempSync(`${tmpdir()}/mce-pull-`);
  process.env.MINICPMV_EDGE_CACHE = cache;
  const pulled = await runCli("deno", ["pull", `${REPO}:Q8_0`, "--json"]);
  assert.equal(pulled.code, 0, pulled.stderr);
  const out = JSON.parse(pulled.stdout);
  assert.ok(out.model.path.startsWith(cache));
  assert.ok(out.mmproj.path.endsWith("mmproj-tiny-F16.gguf"));
  for (const rt of ["deno", "bun", "node"] as const) {
    const listed = await runCli(rt, ["models", "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    const { models: cached } = JSON.parse(listed.stdout);
    assert.deepEqual(
      cached.map((c: { ref: string; size: number }) => [c.ref, c.size]),
      [[`hf:${REPO}/mmproj-tiny-F16.gguf`, files.get("tiny-mmproj-16x.gguf")!.length], [
        `hf:${REPO}/tiny-Q8_0.gguf`,
        files.get("tiny-llm.gguf")!.length,
      ]],
    );
    // a cached model: pulling again is instant and makes no request
    log.length = 0;
    const again = await runCli(rt, ["pull", `${REPO}:Q8_0`]);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /cached/);
    assert.equal(log.length, 0);
  }
  const text = await runCli("node", ["models"]);
  assert.match(text.stdout, /27\.3 MB\s+hf:test\/tiny-gguf\/tiny-Q8_0\.gguf/);
  writeFileSync(`${cache}/.keep`, "");
  rmSync(cache, { recursive: true, force: true });
});
