/**
 * The server under load, through its HTTP API: aggregate decode tokens/s with 1, 2 and 4
 * concurrent streams, and time to first token for one 1024x768 image in 16x and 4x.
 * `deno run -A bench/serve.ts [--model F --mmproj F] [--vision-weights q8_0] [--threads 2] [--out FILE]`
 * (default: the real-shape pair, written by `cli.ts bench` / `tiny-model --real-shape`).
 * Runs the Node bundle (`node dist/node/cli.js serve`); prints a table, writes JSON.
 */

import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import jpeg from "jpeg-js";
import { buildCacheDir, projectRoot } from "../cli/paths.ts";

const { values: v } = parseArgs({
  options: {
    model: { type: "string" },
    mmproj: { type: "string" },
    "vision-weights": { type: "string", default: "q8_0" },
    threads: { type: "string", default: "2" },
    tokens: { type: "string", default: "64" },
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
  "4",
  "--ctx-size",
  "8192",
  "--threads",
  v.threads!,
  "--vision-weights",
  v["vision-weights"]!,
], { stdio: ["ignore", "pipe", "pipe"] });
let log = "";
const url = await new Promise<string>((resolve, reject) => {
  const on = (d: Buffer) => {
    log += d;
    const m = /listening on (http:\/\/\S+)/.exec(log);
    if (m && log.includes("ready")) resolve(m[1]);
  };
  server.stdout.on("data", on);
  server.stderr.on("data", on);
  server.on("close", () => reject(new Error(`server exited:\n${log}`)));
});

async function stream(body: Record<string, unknown>, path = "/v1/chat/completions") {
  const t0 = performance.now();
  const res = await fetch(url + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "x", ...body, stream: true }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const times: number[] = [];
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    for (const line of decoder.decode(chunk, { stream: true }).split("\n")) {
      if (line.startsWith("data: {") && /"(text|content)":"[^"]/.test(line)) times.push(performance.now());
    }
  }
  return { t0, times };
}

const modelId = (await (await fetch(`${url}/v1/models`)).json()).data[0].id;
const results: Record<string, number> = {};

// decode: N streams of nTokens each; tokens after each stream's first, over the span they cover
for (const n of [1, 2, 4]) {
  await stream({ model: modelId, prompt: "Hello", max_tokens: 4, ignore_eos: true, temperature: 0 }, "/v1/completions"); // warm
  const runs = await Promise.all(
    Array.from({ length: n }, (_, i) =>
      stream(
        { model: modelId, prompt: `Story number ${i}:`, max_tokens: nTokens, ignore_eos: true, temperature: 0 },
        "/v1/completions",
      )),
  );
  const start = Math.min(...runs.map((r) => r.times[0]));
  const end = Math.max(...runs.map((r) => r.times.at(-1)!));
  const tokens = runs.reduce((s, r) => s + r.times.length - 1, 0);
  results[`decode_tok_s_${n}_streams`] = tokens / ((end - start) / 1000);
}

// time to first token, one 1024x768 image (a fresh image per mode: nothing from the encode cache)
for (const mode of ["16x", "4x"]) {
  const w = 1024, h = 768, data = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    data.set([(i * 7 + mode.length * 31) & 255, (i >> 10) & 255, (i * 13) & 255, 255], i * 4);
  }
  const img = jpeg.encode({ data, width: w, height: h }, 90).data;
  const r = await stream({
    model: modelId,
    max_tokens: 1,
    temperature: 0,
    mm_processor_kwargs: { downsample_mode: mode },
    messages: [{
      role: "user",
      content: [{
        type: "image_url",
        image_url: { url: `data:image/jpeg;base64,${Buffer.from(img).toString("base64")}` },
      }, { type: "text", text: "Describe." }],
    }],
  });
  results[`ttft_1024x768_${mode}_s`] = (r.times[0] - r.t0) / 1000;
}

server.kill("SIGTERM");
console.log(
  `server bench (Node 20, --threads ${v.threads}, --parallel 4, vision weights ${
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
