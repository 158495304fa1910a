/**
 * Soak (issue #17): N mixed requests (default 1,000) against one `serve` process: text chats,
 * images (the same one again: encode-cache hits; new ones: misses), streams the client drops
 * mid-way, and invalid requests (malformed JSON, a non-image, an oversized schema, an unknown
 * model). Samples the server's RSS after the first 50 requests and every 100, prints the series
 * and the slope over the last half (a leak shows as steady growth), and checks that nothing stays
 * running or queued (/metrics) once the load stops.
 *
 *   deno run -A bench/soak.ts [--requests 1000] [--concurrency 4] [--parallel 2] [--threads 2]
 *     [--real-shape] [--only text,image-hit,image-miss,stream-dropped,invalid] [--out bench/results/soak.json]
 *
 * Tiny test pair by default ($MCE_TEST_MODELS); runs the Node bundle (`node dist/node/cli.js serve`).
 */

import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import {
  type Answer,
  gauges,
  imageChat,
  MODEL,
  modelPair,
  postChat,
  seededJpegDataUrl,
  startServe,
  textChat,
} from "./load-server.ts";

const { values: v } = parseArgs({
  options: {
    requests: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "4" },
    parallel: { type: "string", default: "2" },
    threads: { type: "string", default: "2" },
    "real-shape": { type: "boolean", default: false },
    /** only these kinds (comma-separated), to find which one grows the memory */
    only: { type: "string" },
    out: { type: "string", default: "bench/results/soak.json" },
  },
});
const total = Number(v.requests), concurrency = Number(v.concurrency), parallel = Number(v.parallel);
const pair = modelPair(v["real-shape"]!);
const server = await startServe(pair, [
  "--threads",
  v.threads!,
  "--parallel",
  String(parallel),
  "--queue",
  String(4 * concurrency),
  "--ctx-size",
  String(1024 * parallel),
]);

const hitImage = seededJpegDataUrl(1);
const bigEnum = Array.from({ length: 5000 }, (_, i) => `v${i}`);
const invalid: (string | Record<string, unknown>)[] = [
  '{"model": "bench", "messages": [',
  imageChat(`data:image/png;base64,${Buffer.from("not an image at all").toString("base64")}`, 4),
  {
    ...textChat(0, 4),
    response_format: { type: "json_schema", json_schema: { name: "x", schema: { enum: bigEnum } } },
  },
  { ...textChat(0, 4), model: "not-" + MODEL },
];

type Kind = "text" | "image-hit" | "image-miss" | "stream-dropped" | "invalid";
/** 35% text, 15% image hits, 15% misses, 15% dropped streams, 20% invalid, interleaved */
const schedule: Kind[] = Array.from(
  { length: 20 },
  (_, k) => k < 7 ? "text" : k < 10 ? "image-hit" : k < 13 ? "image-miss" : k < 16 ? "stream-dropped" : "invalid",
).filter((k) => !v.only || v.only.split(",").includes(k));
if (!schedule.length) throw new Error(`--only ${v.only}: no such kind`);
const kindOf = (i: number): Kind => schedule[i % schedule.length];

function send(i: number): Promise<Answer> {
  switch (kindOf(i)) {
    case "text":
      return postChat(server.url, textChat(i, 8));
    case "image-hit":
      return postChat(server.url, imageChat(hitImage, 4));
    case "image-miss":
      return postChat(server.url, imageChat(seededJpegDataUrl(1000 + i), 4));
    case "stream-dropped":
      return postChat(server.url, { ...textChat(i, 64), stream: true, ignore_eos: true }, { dropAfterChunks: 3 });
    case "invalid":
      return postChat(server.url, invalid[i % invalid.length]);
  }
}

const start = server.memory();
const samples: { requests: number; rssMB: number; seconds: number }[] = [{
  requests: 0,
  rssMB: start.rssMB,
  seconds: 0,
}];
const counts = new Map<string, number>();
let next = 0, done = 0;
const t0 = performance.now();
const sample = () =>
  samples.push({ requests: done, rssMB: server.memory().rssMB, seconds: (performance.now() - t0) / 1000 });
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (next < total) {
    const i = next++;
    const a = await send(i);
    const key = `${kindOf(i)} ${a.dropped ? "dropped" : a.status || a.error}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    done++;
    if (done === 50 || done % 100 === 0) sample();
  }
}));
const wallS = (performance.now() - t0) / 1000;
// the dropped streams' slots free at their next decode step: give them a moment
await new Promise((r) => setTimeout(r, 2000));
const settled = { requests: done, rssMB: server.memory().rssMB, seconds: (performance.now() - t0) / 1000 };
const left = await gauges(server.url);
const after = await postChat(server.url, textChat(-1, 4));
const peakMB = server.memory().peakMB;
await server.stop();

/** least-squares slope of RSS over requests, in MB per 100 requests */
function slope(xs: { requests: number; rssMB: number }[]): number {
  const n = xs.length, mx = xs.reduce((s, p) => s + p.requests, 0) / n, my = xs.reduce((s, p) => s + p.rssMB, 0) / n;
  const sxy = xs.reduce((s, p) => s + (p.requests - mx) * (p.rssMB - my), 0);
  const sxx = xs.reduce((s, p) => s + (p.requests - mx) ** 2, 0);
  return (sxy / sxx) * 100;
}
const lastHalf = samples.filter((s) => s.requests >= total / 2);
const after50 = samples.find((s) => s.requests === 50)!;
const results = {
  requests: done,
  wallSeconds: wallS,
  outcomes: Object.fromEntries([...counts].sort()),
  rss: samples,
  rssSettledMB: settled.rssMB,
  rssAfter50MB: after50.rssMB,
  rssGrowthSince50MB: settled.rssMB - after50.rssMB,
  slopeLastHalfMBPer100: slope(lastHalf),
  peakRssMB: peakMB,
  leftRunning: left,
  chatAfter: after.status,
};

console.log(
  `soak: ${done} requests, ${concurrency} clients, --parallel ${parallel}, ${
    v["real-shape"] ? "real-shape" : "tiny"
  } pair, ${wallS.toFixed(0)} s`,
);
console.log("| requests | RSS (MB) | s |\n|---|---|---|");
for (const s of [...samples, settled]) {
  console.log(`| ${s.requests} | ${s.rssMB.toFixed(1)} | ${s.seconds.toFixed(0)} |`);
}
console.log("| outcome | count |\n|---|---|");
for (const [k, n] of Object.entries(results.outcomes)) console.log(`| ${k} | ${n} |`);
console.log(
  `RSS after 50: ${after50.rssMB.toFixed(1)} MB, settled at the end: ${settled.rssMB.toFixed(1)} MB ` +
    `(${results.rssGrowthSince50MB >= 0 ? "+" : ""}${results.rssGrowthSince50MB.toFixed(1)} MB); slope over the last ` +
    `${total / 2}: ${results.slopeLastHalfMBPer100.toFixed(2)} MB per 100 requests; peak ${peakMB.toFixed(0)} MB; ` +
    `afterwards ${left.active} running, ${left.queued} queued, a normal chat ${after.status}`,
);
writeFileSync(
  v.out!,
  JSON.stringify({ date: new Date().toISOString(), concurrency, parallel, ...pair, results }, null, 2) + "\n",
);
if (after.status !== 200 || left.active || left.queued) process.exitCode = 1;
