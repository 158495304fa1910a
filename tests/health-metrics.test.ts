/**
 * Health that tells the truth and the gauges routers read. /health answers 503 with the stage while
 * the model's files download (from a throttled local HTTP server), while the mmproj is converted and
 * while the model loads (again after an engine crash), 200 once a request would run; /livez is 200
 * throughout. /metrics' `minicpmv_edge:*` gauges count the requests running and waiting while
 * requests are held on the tiny model, and its counters add up once they finish.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { after, test } from "node:test";
import { TensorType } from "../engine/ts/gguf/format.ts";
import { writeGguf } from "../engine/ts/gguf/writer.ts";
import { createFileSink } from "../engine/ts/platform/index.ts";
import { TINY_VISION, visionMetadata, visionTensors } from "../engine/ts/tiny-model/generate.ts";
import { createApp } from "../routes/app.ts";
import { healthOf } from "../routes/health.ts";
import { ModelService } from "../routes/service.ts";
import { testServiceOptions } from "./service-options.ts";
import { models } from "./helpers.ts";
import { chatBody, type Replica, startReplica } from "./replica.ts";

const m = models();
const cleanup: (() => void)[] = [];
after(() => cleanup.forEach((f) => f()));

function tempDir(): string {
  const dir = mkdtempSync(`${tmpdir()}/mce-health-`);
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Serves the tiny pair at about `bytesPerSecond`, so that a download takes a few seconds. */
async function throttledModelServer(bytesPerSecond: number): Promise<{ base: string; server: Server }> {
  const files: Record<string, Uint8Array> = {
    "/tiny-llm.gguf": readFileSync(m.llm),
    "/tiny-mmproj-16x.gguf": readFileSync(m.mmproj16x),
  };
  const chunk = 256 * 1024;
  const server = createServer((req, res) => {
    const body = files[req.url!];
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(body.length) });
    let at = 0;
    const send = () => {
      if (res.destroyed) return;
      if (at >= body.length) return void res.end();
      res.write(body.subarray(at, at += chunk));
      setTimeout(send, (chunk / bytesPerSecond) * 1000);
    };
    send();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanup.push(() => server.close());
  return { base: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

function serviceOf(load: ConstructorParameters<typeof ModelService>[0]["load"], parallel = 2, queue = 4) {
  return new ModelService(testServiceOptions({ load, threads: 2, parallel, queue, maxImages: 4 }));
}

test("serve: /health is 503 'downloading' with growing byte counts, then 'loading', then 200; /livez 200 throughout", async () => {
  const { base } = await throttledModelServer(12e6); // the 27 MB model in about 2 s
  const replicas: Replica[] = [];
  cleanup.push(() => replicas.forEach((r) => r.kill()));
  const r = await startReplica(
    ["--model", `${base}/tiny-llm.gguf`, "--mmproj", `${base}/tiny-mmproj-16x.gguf`, "--threads", "2"],
    { MINICPMV_EDGE_CACHE: tempDir() },
  );
  replicas.push(r);
  const seen: { status: string; received?: number; total?: number }[] = [];
  let refused: Response | undefined;
  for (;;) {
    const [health, live] = await Promise.all([fetch(`${r.url}/health`), fetch(`${r.url}/livez`)]);
    assert.equal(live.status, 200);
    await live.body?.cancel();
    const body = await health.json();
    assert.equal(health.status, body.status === "ok" ? 200 : 503, JSON.stringify(body));
    seen.push(body);
    if (body.status === "downloading" && !refused) {
      refused = await fetch(`${r.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(chatBody("tiny-llm", 4)),
      });
    }
    if (body.status === "ok") break;
    await new Promise((res) => setTimeout(res, 50));
  }
  const statuses = seen.map((s) => s.status).filter((s, i, a) => s !== a[i - 1]);
  console.log(`health went ${statuses.join(" -> ")} (${seen.length} probes)`);
  // stages only move forward
  const order = ["loading", "downloading", "converting", "loading", "ok"];
  let at = 0;
  for (const s of statuses) {
    const i = order.indexOf(s, at);
    assert.ok(i >= 0, `unexpected ${s} after ${order[at]}: ${statuses.join(" -> ")}`);
    at = i;
  }
  const downloading = seen.filter((s) => s.status === "downloading");
  assert.ok(downloading.length >= 3, `downloading seen ${downloading.length} times`);
  const received = downloading.map((s) => s.received!);
  assert.ok(received.every((n, i) => i === 0 || n >= received[i - 1]), "bytes only grow");
  assert.ok(received.at(-1)! > received[0], "bytes grow");
  assert.ok(downloading.every((s) => s.total === undefined || s.received! <= s.total));
  assert.equal(refused?.status, 503, "a request while downloading is refused");
  assert.equal(refused.headers.get("retry-after"), "5");
  assert.equal((await refused.json()).error.code, "model_loading");
  // and the model answers
  const res = await fetch(`${r.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(chatBody("tiny-llm", 4)),
  });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).usage.completion_tokens, 4);
  r.signal("SIGTERM");
  assert.equal(await r.exited, 0);
});

test("/health says 'converting' during the mmproj's Q8_0 rewrite, then 'loading', then 'ok'", async () => {
  const saved = process.env.MINICPMV_EDGE_CACHE;
  const dir = tempDir();
  process.env.MINICPMV_EDGE_CACHE = dir; // no converted file yet
  // an F16 mmproj for the tiny LLM (the test pair's is F32: nothing to convert)
  const shape = { ...TINY_VISION, matrixType: TensorType.F16 };
  const mmproj = `${dir}/tiny-mmproj-f16.gguf`;
  await writeGguf(
    await createFileSink(mmproj),
    visionMetadata(shape, 64, "16x", "f16"),
    visionTensors(shape, 64, "16x", 5),
  );
  const stages: [string, string][] = [];
  const service = serviceOf({
    model: m.llm,
    mmproj,
    visionWeights: "q8_0",
    onStage: (stage) => stages.push([stage, healthOf(service).status]),
  });
  try {
    const app = createApp(service, { maxBodyBytes: 1e6 });
    const loading = service.model();
    const first = await app.request("/v1/health");
    assert.equal(first.status, 503);
    assert.equal((await first.json()).status, "loading");
    await loading;
    assert.deepEqual(stages, [["converting", "converting"], ["loading", "loading"]]);
    assert.equal((await app.request("/v1/health")).status, 200);
  } finally {
    if (saved === undefined) delete process.env.MINICPMV_EDGE_CACHE;
    else process.env.MINICPMV_EDGE_CACHE = saved;
    await service.close();
  }
});

test("/health says 'loading' while the model reloads after an engine crash, then 'ok'", async () => {
  const service = serviceOf({ model: m.llm });
  const app = createApp(service, { maxBodyBytes: 1e6 });
  try {
    const mm = await service.model();
    assert.equal((await app.request("/health")).status, 200);
    await assert.rejects(mm.engine.call("debugCrash"), /engine crashed/);
    await new Promise((r) => setTimeout(r, 0));
    const during = await app.request("/health");
    assert.equal(during.status, 503);
    assert.equal((await during.json()).status, "loading");
    assert.equal((await app.request("/livez")).status, 200);
    await service.model();
    assert.deepEqual(await (await app.request("/health")).json(), { status: "ok" });
  } finally {
    await service.close();
  }
});

/** The `minicpmv_edge:*` samples of /metrics. */
async function gauges(app: { request(path: string): Response | Promise<Response> }): Promise<Record<string, number>> {
  const text = await (await app.request("/metrics")).text();
  return Object.fromEntries(
    text.split("\n").filter((l) => l.startsWith("minicpmv_edge:")).map((l) => {
      const [name, value] = l.split(" ");
      return [name.slice("minicpmv_edge:".length), Number(value)];
    }),
  );
}

test("/metrics: running and waiting gauges while requests are held, KV usage, counters once they finish", async () => {
  const service = serviceOf({ model: m.llm, contextSize: 4096 }, 2, 4);
  const app = createApp(service, { maxBodyBytes: 1e6 });
  try {
    await service.model();
    const idle = await gauges(app);
    assert.deepEqual(
      [idle.num_requests_running, idle.num_requests_waiting, idle.kv_cache_usage_perc, idle.n_decode_total],
      [0, 0, 0, 0],
    );
    // four long requests on two sequences: two generate, two wait
    const abort = new AbortController();
    const held = Array.from({ length: 4 }, (_, i) =>
      app.request("/v1/chat/completions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ ...chatBody("tiny", 1500, true), seed: i }),
        signal: abort.signal,
      }));
    const busy = await waitForGauges(
      app,
      (g) => g.num_requests_running === 2 && g.num_requests_waiting === 2 && g.kv_cache_usage_perc > 0,
    );
    assert.ok(busy.kv_cache_usage_perc > 0 && busy.kv_cache_usage_perc < 1, String(busy.kv_cache_usage_perc));
    assert.ok(busy.n_decode_total > 0);
    assert.ok(busy.n_busy_slots_per_decode >= 1 && busy.n_busy_slots_per_decode <= 2);
    const queueMetric = (await (await app.request("/metrics")).text()).match(/^minicpmv_queue_depth (\d+)$/m);
    assert.equal(queueMetric?.[1], "2");
    abort.abort();
    for (const r of await Promise.allSettled(held)) {
      if (r.status === "fulfilled") await r.value.body?.cancel().catch(() => {});
    }
    await waitForGauges(app, (g) => g.num_requests_running === 0 && g.num_requests_waiting === 0);

    // finished requests: the counters add up to their usage
    const before = await gauges(app);
    const res = await app.request("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(chatBody("tiny", 40)),
    });
    const usage = (await res.json()).usage;
    const afterOne = await gauges(app);
    assert.equal(afterOne.tokens_predicted_total - before.tokens_predicted_total, 40);
    assert.equal(
      afterOne.prompt_tokens_total - before.prompt_tokens_total +
        afterOne.prompt_tokens_cached_total - before.prompt_tokens_cached_total,
      usage.prompt_tokens,
    );
    assert.equal(
      afterOne.prompt_tokens_cached_total - before.prompt_tokens_cached_total,
      usage.prompt_tokens_details?.cached_tokens ?? 0,
    );
    assert.ok(afterOne.tokens_predicted_seconds_total > before.tokens_predicted_seconds_total);
    assert.ok(afterOne.prompt_seconds_total > before.prompt_seconds_total);
    // one decode call per generated token after the first, plus the prompt's chunks
    assert.ok(afterOne.n_decode_total - before.n_decode_total >= 40);
    // a finished request's cells stay for the prefix cache, and count
    assert.ok(afterOne.kv_cache_usage_perc > 0);
  } finally {
    await service.close();
  }
});

async function waitForGauges(
  app: { request(path: string): Response | Promise<Response> },
  ok: (g: Record<string, number>) => boolean,
): Promise<Record<string, number>> {
  for (let i = 0; i < 500; i++) {
    const g = await gauges(app);
    if (ok(g)) return g;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`gauges did not settle: ${JSON.stringify(await gauges(app))}`);
}
