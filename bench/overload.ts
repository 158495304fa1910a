/**
 * Overload (issue #17): `serve` with --parallel P --queue Q receives F x (P + Q) chat requests at
 * once (a mix of text, image and streamed chats), in several rounds. A correct server finishes the
 * requests it admits, answers the rest 429 with Retry-After at once, keeps /health ok throughout,
 * and serves a normal chat afterwards. Reports answered 200 / 429 (with Retry-After) / other,
 * p50/p99 latency of the 200s and of the 429s, the longest /health answer during the rounds, and
 * the server's peak RSS.
 *
 *   deno run -A bench/overload.ts [--real-shape] [--parallel 2] [--queue 4] [--factor 10] [--rounds 3]
 *     [--threads 2] [--max-tokens 16] [--out bench/results/overload.json]
 *
 * Tiny test pair by default ($MCE_TEST_MODELS); runs the Node bundle (`node dist/node/cli.js serve`).
 */

import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  type Answer,
  gauges,
  imageChat,
  modelPair,
  percentile,
  postChat,
  seededJpegDataUrl,
  startServe,
  textChat,
} from "./load-server.ts";

const { values: v } = parseArgs({
  options: {
    "real-shape": { type: "boolean", default: false },
    parallel: { type: "string", default: "2" },
    queue: { type: "string", default: "4" },
    factor: { type: "string", default: "10" },
    rounds: { type: "string", default: "3" },
    threads: { type: "string", default: "2" },
    "max-tokens": { type: "string", default: "16" },
    out: { type: "string", default: "bench/results/overload.json" },
  },
});
const parallel = Number(v.parallel), queue = Number(v.queue), factor = Number(v.factor);
const rounds = Number(v.rounds), maxTokens = Number(v["max-tokens"]);
const burst = factor * (parallel + queue);
const pair = modelPair(v["real-shape"]!);

const server = await startServe(pair, [
  "--threads",
  v.threads!,
  "--parallel",
  String(parallel),
  "--queue",
  String(queue),
  "--ctx-size",
  String(1024 * parallel),
]);
const idle = server.memory();

/** One of the mix: text, an image (a new one each time: no encode-cache hit), or a streamed text chat. */
function request(i: number): Promise<Answer & { kind: string }> {
  const kind = ["text", "image", "stream"][i % 3];
  const body = kind === "image"
    ? imageChat(seededJpegDataUrl(i), maxTokens)
    : { ...textChat(i, maxTokens), stream: kind === "stream" };
  return postChat(server.url, body).then((a) => ({ ...a, kind }));
}

// /health every 100 ms while the rounds run: it must stay ok, and quick
const health: { ok: number; bad: number; maxMs: number } = { ok: 0, bad: 0, maxMs: 0 };
let polling = true;
const poller = (async () => {
  while (polling) {
    const t0 = performance.now();
    const res = await fetch(`${server.url}/health`).catch(() => undefined);
    const ms = performance.now() - t0;
    health.maxMs = Math.max(health.maxMs, ms);
    if (res?.status === 200 && (await res.json()).status === "ok") health.ok++;
    else health.bad++;
    await new Promise((r) => setTimeout(r, 100));
  }
})();

const answers: (Answer & { kind: string })[] = [];
const t0 = performance.now();
for (let r = 0; r < rounds; r++) {
  answers.push(...await Promise.all(Array.from({ length: burst }, (_, i) => request(r * burst + i))));
}
const wallS = (performance.now() - t0) / 1000;
polling = false;
await poller;

const after = await postChat(server.url, textChat(-1, 4));
const left = await gauges(server.url);
const mem = server.memory();
await server.stop();

const ok = answers.filter((a) => a.status === 200);
const busy = answers.filter((a) => a.status === 429);
const withRetry = busy.filter((a) => a.retryAfter !== null && Number(a.retryAfter) > 0);
const other = answers.filter((a) => a.status !== 200 && a.status !== 429);
const byKind = Object.fromEntries(
  ["text", "image", "stream"].map((k) => [k, {
    sent: answers.filter((a) => a.kind === k).length,
    ok: ok.filter((a) => a.kind === k).length,
    busy: busy.filter((a) => a.kind === k).length,
  }]),
);
const results = {
  sent: answers.length,
  answered200: ok.length,
  answered429: busy.length,
  answered429WithRetryAfter: withRetry.length,
  other: other.length,
  otherStatuses: [...new Set(other.map((a) => a.status || a.error))],
  latency200: { p50Ms: percentile(ok.map((a) => a.ms), 50), p99Ms: percentile(ok.map((a) => a.ms), 99) },
  latency429: { p50Ms: percentile(busy.map((a) => a.ms), 50), p99Ms: percentile(busy.map((a) => a.ms), 99) },
  byKind,
  health: { ...health, alwaysOk: health.bad === 0 },
  chatAfter: after.status,
  leftRunning: left,
  rssIdleMB: idle.rssMB,
  peakRssMB: mem.peakMB,
  wallSeconds: wallS,
};

const f = (x: number) => (Number.isFinite(x) ? x.toFixed(0) : "-");
console.log(
  `overload: --parallel ${parallel} --queue ${queue}, ${rounds} rounds of ${burst} requests at once ` +
    `(${factor}x), text/image/stream mix, ${maxTokens} tokens each, ${v["real-shape"] ? "real-shape" : "tiny"} pair`,
);
console.log("| measure | value |\n|---|---|");
const rows: [string, string][] = [
  ["requests sent", String(results.sent)],
  ["answered 200", String(ok.length)],
  ["answered 429 (with Retry-After)", `${busy.length} (${withRetry.length})`],
  ["other answers", `${other.length}${other.length ? ` ${JSON.stringify(results.otherStatuses)}` : ""}`],
  ["200 latency p50 / p99 (ms)", `${f(results.latency200.p50Ms)} / ${f(results.latency200.p99Ms)}`],
  ["429 latency p50 / p99 (ms)", `${f(results.latency429.p50Ms)} / ${f(results.latency429.p99Ms)}`],
  ["/health during the rounds", `${health.ok} ok, ${health.bad} not ok, slowest ${f(health.maxMs)} ms`],
  ["normal chat afterwards", String(after.status)],
  ["running / queued afterwards", `${left.active} / ${left.queued}`],
  ["server RSS idle / peak (MB)", `${f(idle.rssMB)} / ${f(mem.peakMB)}`],
  ["wall time (s)", wallS.toFixed(1)],
];
for (const [k, x] of rows) console.log(`| ${k} | ${x} |`);
writeFileSync(
  v.out!,
  JSON.stringify(
    { date: new Date().toISOString(), parallel, queue, factor, rounds, maxTokens, ...pair, results },
    null,
    2,
  ) +
    "\n",
);
if (other.length || after.status !== 200 || health.bad) process.exitCode = 1;
