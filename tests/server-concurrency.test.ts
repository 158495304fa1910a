/**
 * Requests prepare side by side and stop when their client leaves, through the real engine on the
 * tiny pair. Library: two chats with different images at once give the tokens they give one after
 * the other; the same image at once is encoded once; a cancelled chat stops between tile encodes.
 * Server (`serve` on Deno): a text chat is answered while another request's image URL hangs; a
 * client that leaves during a slow image fetch closes that fetch and never generates; one that
 * leaves during tile encoding stops the encodes; `/health` reports an engine step that runs past
 * --engine-stall-seconds. Assertions are on order and counts (events, /metrics), never on timings.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server, type ServerResponse } from "node:http";
import { after, before, test } from "node:test";
import { encode as encodePng } from "fast-png";
import { Engine } from "../engine/ts/engine.ts";
import { AbortError } from "../engine/ts/errors.ts";
import { type Message, MiniCPMV } from "../engine/ts/minicpmv.ts";
import { Rng } from "../engine/ts/tiny-model/random.ts";
import { models, startServer, type TestServer } from "./helpers.ts";

const m = models();
const MODEL = "tiny";
/** generous: every event this test waits for must come within this */
const BOUND_MS = 60_000;
/** --engine-stall-seconds of the server: well below the 4 MiB tokenization the stall test runs (1-3 s here) */
const STALL_S = 0.25;

/** RGB of random gray 8-pixel runs: a distinct image per seed; large ones cut into many tiles. */
function noisePng(width: number, height: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p += 8) data.fill(rng.u32() & 0xff, p * 3, Math.min(p + 8, width * height) * 3);
  return encodePng({ width, height, data, channels: 3 });
}

const jpeg = new Uint8Array(readFileSync(m.testJpeg));
/** large enough for many tiles (an overview and up to 9 slices with max_slice_nums 9; the tests count them) */
const bigPng = noisePng(1344, 1008, 11);

const imageChat = (image: Uint8Array | string, text: string): Message[] => [
  { role: "user", content: [{ type: "image", image }, { type: "text", text }] },
];

async function until(what: string, check: () => boolean | Promise<boolean>, ms = BOUND_MS) {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("library: chats with different images at once give the tokens they give one after the other", async () => {
  const engine = await Engine.create({ threads: 2 });
  const mm = await MiniCPMV.load(engine, { model: m.llm, mmproj: m.mmproj16x, sequences: 2 });
  const png = noisePng(500, 400, 3);
  const o = { temperature: 0, maxTokens: 12, ignoreEos: true };
  try {
    const alone = [];
    for (const image of [jpeg, png]) {
      const run = await mm.chat(imageChat(image, "What is this?"), o);
      alone.push((await run.generation.result).tokens);
    }
    const fresh = await MiniCPMV.load(engine, { model: m.llm, mmproj: m.mmproj16x, sequences: 2 }); // empty cache
    try {
      const runs = await Promise.all([jpeg, png].map((image) => fresh.chat(imageChat(image, "What is this?"), o)));
      assert.ok(runs.every((r) => r.media.tilesEncoded > 0 && r.media.tilesCached === 0), "both encoded their tiles");
      const together = await Promise.all(runs.map(async (r) => (await r.generation.result).tokens));
      assert.deepEqual(together, alone);
      assert.notDeepEqual(alone[0], alone[1], "different images should give different tokens");

      // the same new image twice at once: encoded once, the second waits for the first's encodes
      const same = noisePng(300, 300, 4);
      const twice = await Promise.all([0, 1].map(() => fresh.chat(imageChat(same, "Again?"), o)));
      const tiles = twice[0].media.tilesEncoded + twice[0].media.tilesCached;
      assert.equal(twice[0].media.tilesEncoded + twice[1].media.tilesEncoded, tiles, "each tile encoded once");
      const [a, b] = await Promise.all(twice.map(async (r) => (await r.generation.result).tokens));
      assert.deepEqual(a, b);
    } finally {
      fresh.close();
    }
  } finally {
    mm.close();
    engine.terminate();
  }
});

test("library: a chat cancelled during tile encoding stops encoding and never generates", async () => {
  const engine = await Engine.create({ threads: 2 });
  const mm = await MiniCPMV.load(engine, { model: m.llm, mmproj: m.mmproj16x, sequences: 2 });
  try {
    const ctrl = new AbortController();
    const generated = mm.context.scheduler.tokensGenerated;
    const chat = mm.chat(imageChat(bigPng, "Describe."), { temperature: 0, maxTokens: 4, signal: ctrl.signal });
    const outcome = chat.then(() => "resolved", (e) => e);
    await until("the first tile encoded", () => mm.cache.size.entries > 0);
    ctrl.abort();
    const e = await outcome;
    assert.ok(e instanceof AbortError, `expected an AbortError, got ${e}`);
    // the encode running when it was cancelled ends (one engine call) and fills the cache
    await until("the engine is idle", () => engine.stalledMs === 0);
    const encoded = mm.cache.size.entries;
    // the whole image, planned alone, to count its tiles
    const full = await mm.chat(imageChat(bigPng, "Describe."), { temperature: 0, maxTokens: 1 });
    await full.generation.result;
    const tiles = full.media.tilesEncoded + full.media.tilesCached;
    assert.ok(tiles >= 6, `the test image should have many tiles, has ${tiles}`);
    assert.ok(encoded < tiles, `encoding stopped: ${encoded} of ${tiles} tiles encoded`);
    assert.equal(full.media.tilesCached, encoded, "what the cancelled chat encoded was kept and reused");
    assert.equal(mm.context.scheduler.tokensGenerated, generated + 1, "only the second chat generated");
  } finally {
    mm.close();
    engine.terminate();
  }
});

/** An image server whose answers wait until released; it records what happens to each request. */
class SlowImages {
  readonly server: Server;
  readonly events: string[] = [];
  private held: { name: string; res: ServerResponse }[] = [];
  private release = new Set<string>();
  url = "";

  constructor(private readonly files: Record<string, Uint8Array>) {
    this.server = createServer((req, res) => {
      const name = req.url!.slice(1);
      this.events.push(`${name}: requested`);
      res.on("close", () => this.events.push(`${name}: ${res.writableFinished ? "served" : "closed unanswered"}`));
      if (this.release.has(name)) this.answer(name, res);
      else this.held.push({ name, res });
    });
  }

  async start() {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    const a = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${a.port}`;
  }

  /** answers the requests for `name` waiting now, and from now on at once */
  open(name: string) {
    this.release.add(name);
    for (const h of this.held.filter((h) => h.name === name)) this.answer(name, h.res);
    this.held = this.held.filter((h) => h.name !== name);
  }

  has(event: string): boolean {
    return this.events.includes(event);
  }

  private answer(name: string, res: ServerResponse) {
    if (res.destroyed) return;
    res.writeHead(200, { "content-type": name.endsWith(".png") ? "image/png" : "image/jpeg" });
    res.end(this.files[name]);
  }

  async stop() {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

let server: TestServer;
const images = new SlowImages({ "a.jpg": jpeg, "b.jpg": jpeg, "big.png": bigPng });

before(async () => {
  await images.start();
  server = await startServer("deno", [
    "--model",
    m.llm,
    "--mmproj",
    m.mmproj16x,
    "--model-name",
    MODEL,
    "--parallel",
    "2",
    "--ctx-size",
    "4096",
    "--threads",
    "2",
    "--allow-private-urls",
    "--image-timeout",
    "300",
    "--engine-stall-seconds",
    `${STALL_S}`,
  ]);
});
after(async () => {
  await server?.stop();
  await images.stop();
});

const post = (path: string, body: unknown, signal?: AbortSignal) =>
  fetch(`${server.url}${path}`, {
    method: "POST",
    signal,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const chatBody = (content: unknown, extra: Record<string, unknown> = {}) => ({
  model: MODEL,
  messages: [{ role: "user", content }],
  temperature: 0,
  max_tokens: 6,
  ...extra,
});
const imageContent = (url: string) => [
  { type: "image_url", image_url: { url } },
  { type: "text", text: "What is in the image?" },
];

async function metrics(): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Object.fromEntries(
    [...text.matchAll(/^(minicpmv_[a-z_]+) (\S+)$/gm)].map((x) => [x[1], Number(x[2])]),
  );
}

test("server: a text chat is answered while another request's image URL hangs", async () => {
  const order: string[] = [];
  const image = post("/v1/chat/completions", chatBody(imageContent(`${images.url}/a.jpg`))).then(async (r) => {
    order.push("image chat answered");
    return { status: r.status, body: await r.json() };
  });
  await until("the image server got the request", () => images.has("a.jpg: requested"));
  const text = await post("/v1/chat/completions", chatBody("Say hello."));
  order.push("text chat answered");
  assert.equal(text.status, 200, await text.clone().text());
  assert.ok((await text.json()).choices[0].message.content.length > 0);
  assert.deepEqual(order, ["text chat answered"], "the text chat did not wait for the image");
  assert.ok(!images.has("a.jpg: served"), "the image was still held");

  images.open("a.jpg");
  const r = await image;
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.ok(r.body.usage.prompt_tokens_details.image_tokens > 0);
  assert.deepEqual(order, ["text chat answered", "image chat answered"]);
});

test("server: a client that leaves during a slow image fetch closes the fetch and never generates", async () => {
  const before = await metrics();
  const client = new AbortController();
  const gone = post("/v1/chat/completions", chatBody(imageContent(`${images.url}/b.jpg`)), client.signal).catch(
    (e) => e,
  );
  await until("the image server got the request", () => images.has("b.jpg: requested"));
  client.abort();
  assert.equal((await gone).name, "AbortError");
  await until("the server closed its image fetch", () => images.has("b.jpg: closed unanswered"));
  await until("the server released the request", async () => (await metrics()).minicpmv_queue_depth === 0);
  const after = await metrics();
  assert.equal(after.minicpmv_tokens_generated_total, before.minicpmv_tokens_generated_total, "nothing generated");
  assert.equal(after.minicpmv_prompt_tokens_total, before.minicpmv_prompt_tokens_total);

  const next = await post("/v1/chat/completions", chatBody("Say hello."));
  assert.equal(next.status, 200, await next.text());
});

test("server: a client that leaves during tile encoding stops the encodes and never generates", async () => {
  images.open("big.png");
  const before = await metrics();
  const client = new AbortController();
  const body = chatBody(imageContent(`${images.url}/big.png`), { mm_processor_kwargs: { max_slice_nums: 9 } });
  const gone = post("/v1/chat/completions", body, client.signal).catch((e) => e);
  await until(
    "the first tile encoded",
    async () => (await metrics()).minicpmv_encode_cache_entries > before.minicpmv_encode_cache_entries,
  );
  client.abort();
  assert.equal((await gone).name, "AbortError");
  await until("the server released the request", async () => (await metrics()).minicpmv_queue_depth === 0);
  const cancelled = await metrics();
  assert.equal(cancelled.minicpmv_tokens_generated_total, before.minicpmv_tokens_generated_total, "nothing generated");

  // the same image in full: how many tiles it has, and that the cancelled request's encodes stopped short of them
  const full = await post("/v1/chat/completions", { ...body, max_tokens: 1 });
  assert.equal(full.status, 200, await full.clone().text());
  const done = await metrics();
  const encodedBefore = cancelled.minicpmv_encode_cache_entries - before.minicpmv_encode_cache_entries;
  const tiles = done.minicpmv_encode_cache_entries - before.minicpmv_encode_cache_entries;
  assert.ok(tiles >= 6, `the test image should have many tiles, has ${tiles}`);
  assert.ok(encodedBefore < tiles, `encoding stopped: ${encodedBefore} of ${tiles} tiles encoded`);
});

test(`server: /health reports an engine step running past --engine-stall-seconds ${STALL_S}`, async () => {
  await until("the engine is idle", async () => (await fetch(`${server.url}/health`)).status === 200);
  // a tokenization of 4 MiB of text (the prompt limit): one engine call of seconds on the tiny pair
  const text = "The quick brown fox jumps over the lazy dog 12345. ".repeat(Math.floor(4 * 2 ** 20 / 51));
  let answered = false;
  const slow = post("/tokenize", { content: text }).then(async (r) => {
    answered = true;
    return { status: r.status, tokens: (await r.json()).tokens?.length };
  });
  const seen: { status: number; body: { status: string; error?: string } }[] = [];
  while (!answered) {
    const h = await fetch(`${server.url}/health`);
    seen.push({ status: h.status, body: await h.json() });
    await new Promise((r) => setTimeout(r, 20));
  }
  const r = await slow;
  assert.equal(r.status, 200);
  assert.ok(r.tokens > 1_000_000, `${r.tokens} tokens`);
  const stalled = seen.find((s) => s.status === 503);
  assert.ok(stalled, `no 503 among ${seen.length} health checks: ${JSON.stringify(seen.slice(-3))}`);
  assert.equal(stalled.body.status, "error");
  assert.match(stalled.body.error!, /^engine stalled: one engine step has run for \d+\.\d s \(limit 0.25 s\)/);
  assert.deepEqual(await (await fetch(`${server.url}/health`)).json(), { status: "ok" }, "ok once the step ended");
});
