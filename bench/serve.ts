/**
 * The server under load, through its HTTP API: aggregate decode tokens/s with 1, 2 and 4
 * concurrent streams, time to first token for one 1024x768 image in 16x and 4x, and a follow-up
 * question about one 448x448 image: first turn, second turn from the prefix cache, and the second
 * turn with `cache_prompt: false` (the whole conversation prefilled again, as before the cache).
 * `deno run -A bench/serve.ts [--model F --mmproj F] [--vision-weights q8_0] [--threads 2] [--parallel 4]
 *  [--streams 1,2,4] [--modes 16x,4x] [--only decode,ttft,followup] [--out FILE]`
 * (default: the real-shape pair, written by `cli.ts bench` / `tiny-model --real-shape`).
 * Runs the Node bundle (`node dist/node/cli.js serve`); prints a table, writes JSON.
 */

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import jpeg from "jpeg-js";
import { buildCacheDir, projectRoot } from "../cli/paths.ts";
import { serverUrl } from "./util.ts";

const { values: v } = parseArgs({
  options: {
    model: { type: "string" },
    mmproj: { type: "string" },
    "vision-weights": { type: "string", default: "q8_0" },
    threads: { type: "string", default: "2" },
    tokens: { type: "string", default: "64" },
    modes: { type: "string", default: "16x,4x" },
    parallel: { type: "string", default: "4" },
    streams: { type: "string", default: "1,2,4" },
    only: { type: "string", default: "decode,ttft,followup" },
    /** image sizes of the follow-up rows (WxH, comma-separated) */
    "followup-sizes": { type: "string", default: "448x448" },
    out: { type: "string" },
  },
});
const realShape = `${buildCacheDir()}/real-shape-v1`;
const model = v.model ?? `${realShape}/real-shape-llm.gguf`;
const mmproj = v.mmproj ?? `${realShape}/real-shape-mmproj-16x.gguf`;
const nTokens = Number(v.tokens);

const server = spawn("node", [
  `${await projectRoot()}/dist/node/cli.js`,
  "serve",
  "--port",
  "0",
  "--model",
  model,
  "--mmproj",
  mmproj,
  "--parallel",
  v.parallel!,
  "--ctx-size",
  "8192",
  "--threads",
  v.threads!,
  "--vision-weights",
  v["vision-weights"]!,
], { stdio: ["ignore", "pipe", "pipe"] });
const url = await serverUrl(server);

async function post(path: string, body: Record<string, unknown>) {
  const res = await fetch(url + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  return await res.json();
}

/** Seconds until the first generated token arrives (the final event of a max_tokens 1 stream). */
async function timeToFirstToken(body: Record<string, unknown>): Promise<number> {
  return (await firstToken(body)).seconds;
}

/** The same, with the final event's llama-server timings (cache_n: prompt tokens taken from the prefix cache). */
async function firstToken(
  body: Record<string, unknown>,
): Promise<{ seconds: number; cacheN: number; promptN: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, max_tokens: 1, stream: true }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let text = "";
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    text += new TextDecoder().decode(chunk);
    const last = text.split("\n").find((l) => l.includes('"finish_reason":"'));
    if (last) {
      const seconds = (performance.now() - t0) / 1000;
      const timings = JSON.parse(last.slice(last.indexOf("{"))).timings ?? {};
      return { seconds, cacheN: timings.cache_n ?? 0, promptN: timings.prompt_n ?? 0 };
    }
  }
  throw new Error(`the stream ended without a token: ${text.slice(0, 500)}`);
}

/** A w x h JPEG data URL with a pattern of its own per `seed` (so the encode cache never has it). */
function jpegUrl(w: number, h: number, seed: number): string {
  const data = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) data.set([(i * 7 + seed * 31) & 255, (i >> 10) & 255, (i * 13) & 255, 255], i * 4);
  return `data:image/jpeg;base64,${
    Buffer.from(jpeg.encode({ data, width: w, height: h }, 90).data).toString("base64")
  }`;
}

const modelId = (await (await fetch(`${url}/v1/models`)).json()).data[0].id;
const results: Record<string, number> = {};
const only = new Set(v.only!.split(","));

// decode: N concurrent requests of nTokens each; the server's own generation times
for (const n of only.has("decode") ? v.streams!.split(",").filter(Boolean).map(Number) : []) {
  // warm-up (JIT tiers, first graphs of this batch shape)
  await Promise.all(
    Array.from(
      { length: n },
      () =>
        post("/v1/completions", { model: modelId, prompt: "Hello", max_tokens: 16, ignore_eos: true, temperature: 0 }),
    ),
  );
  const runs = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      post("/v1/completions", {
        model: modelId,
        prompt: `Story number ${i}:`,
        max_tokens: nTokens,
        ignore_eos: true,
        temperature: 0,
      })),
  );
  const tokens = runs.reduce((s, r) => s + r.timings.predicted_n, 0);
  const seconds = Math.max(...runs.map((r) => r.timings.predicted_ms)) / 1000;
  results[`decode_tok_s_${n}_streams`] = tokens / seconds;
}

// time to first token, one 1024x768 image (a different image per mode: nothing from the encode cache)
for (const mode of only.has("ttft") ? v.modes!.split(",").filter(Boolean) : []) {
  results[`ttft_1024x768_${mode}_s`] = await timeToFirstToken({
    model: modelId,
    temperature: 0,
    mm_processor_kwargs: { downsample_mode: mode },
    messages: [{
      role: "user",
      content: [{ type: "image_url", image_url: { url: jpegUrl(1024, 768, mode.length) } }, {
        type: "text",
        text: "Describe.",
      }],
    }],
  });
}

// a follow-up question about one image (16x): the first turn (a new image), then the second turn
// from the prefix cache, then the same second turn with cache_prompt false; both second turns
// take the image's embeddings from the encode cache
for (const size of only.has("followup") ? v["followup-sizes"]!.split(",").filter(Boolean) : []) {
  const [w, h] = size.split("x").map(Number);
  const name = w === 448 && h === 448 ? "448" : size;
  const turn1 = [{
    role: "user",
    content: [{ type: "image_url", image_url: { url: jpegUrl(w, h, 7) } }, { type: "text", text: "Describe." }],
  }];
  const first = await firstToken({ model: modelId, temperature: 0, messages: turn1 });
  const answer = await post("/v1/chat/completions", {
    model: modelId,
    temperature: 0,
    max_tokens: 16,
    messages: turn1,
  });
  const turn2 = [...turn1, answer.choices[0].message, { role: "user", content: "What colours are there?" }];
  const hot = await firstToken({ model: modelId, temperature: 0, messages: turn2 });
  const cold = await firstToken({ model: modelId, temperature: 0, messages: turn2, cache_prompt: false });
  Object.assign(results, {
    [`followup_${name}_turn1_ttft_s`]: first.seconds,
    [`followup_${name}_turn2_ttft_s`]: hot.seconds,
    [`followup_${name}_turn2_cached_tokens`]: hot.cacheN,
    [`followup_${name}_turn2_prefilled_tokens`]: hot.promptN,
    [`followup_${name}_turn2_no_cache_ttft_s`]: cold.seconds,
    [`followup_${name}_turn2_no_cache_prefilled_tokens`]: cold.promptN,
  });
}

server.kill("SIGTERM");
console.log(
  `server bench (Node 20, --threads ${v.threads}, --parallel ${v.parallel}, vision weights ${
    v["vision-weights"]
  }, ${nTokens} tokens per stream)`,
);
console.log("| metric | value |\n|---|---|");
for (const [k, x] of Object.entries(results)) console.log(`| ${k} | ${x.toFixed(2)} |`);
if (v.out) {
  writeFileSync(
    v.out,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        threads: Number(v.threads),
        visionWeights: v["vision-weights"],
        model,
        mmproj,
        results,
      },
      null,
      2,
    ),
  );
}
