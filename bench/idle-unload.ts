/**
 * What unloading an idle model gives back: the server's resident memory (VmRSS of the serve process)
 * once loaded, after a request, after `--sleep-idle-seconds` unloaded the model, and after the next
 * request loaded it again (with that request's time, which includes the reload).
 * `deno run -A bench/idle-unload.ts [--runtime node|deno] [--model F --mmproj F] [--threads 2]`
 * (default: the real-shape pair; node runs the bundle `dist/node/cli.js`, deno the sources). Linux only
 * (/proc). Prints a table.
 */

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { buildCacheDir, projectRoot } from "../cli/paths.ts";
import { serverUrl } from "./util.ts";

const { values: v } = parseArgs({
  options: {
    runtime: { type: "string", default: "node" },
    model: { type: "string" },
    mmproj: { type: "string" },
    threads: { type: "string", default: "2" },
  },
});
const realShape = `${buildCacheDir()}/real-shape-v1`;
const root = await projectRoot();
const [cmd, pre] = v.runtime === "deno"
  ? [`${root}/node_modules/deno/deno`, ["run", "-A", `${root}/cli.ts`]]
  : ["node", [`${root}/dist/node/cli.js`]];
const IDLE_SECONDS = 2;
const server = spawn(cmd, [
  ...pre,
  "serve",
  "--port",
  "0",
  "--model",
  v.model ?? `${realShape}/real-shape-llm.gguf`,
  "--mmproj",
  v.mmproj ?? `${realShape}/real-shape-mmproj-16x.gguf`,
  "--parallel",
  "2",
  "--ctx-size",
  "4096",
  "--threads",
  v.threads!,
  "--sleep-idle-seconds",
  String(IDLE_SECONDS),
  "--no-ui",
], { stdio: ["ignore", "pipe", "pipe"] });

const rssMiB = () => {
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, "utf8"))?.[1]);
  return kb / 1024;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** RSS settles a moment after a change (workers end, memory returns to the system) */
const settledRss = async () => {
  await sleep(1500);
  return rssMiB();
};

const rows: [string, string][] = [];
try {
  const url = await serverUrl(server);
  const ask = async () => {
    const t0 = performance.now();
    const r = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "real-shape-llm",
        messages: [{ role: "user", content: "Hello" }],
        max_tokens: 8,
        temperature: 0,
      }),
    });
    if (!r.ok) throw new Error(`request failed: ${r.status} ${await r.text()}`);
    await r.json();
    return performance.now() - t0;
  };
  const health = async () => await (await fetch(`${url}/health`)).json();
  rows.push(["loaded, before any request", (await settledRss()).toFixed(0)]);
  const first = await ask();
  rows.push([`after a request (${first.toFixed(0)} ms)`, (await settledRss()).toFixed(0)]);
  const t0 = Date.now();
  while (!(await health()).sleeping) {
    if (Date.now() - t0 > 60_000) throw new Error("the model did not unload");
    await sleep(100);
  }
  rows.push([`unloaded after ${IDLE_SECONDS} s idle`, (await settledRss()).toFixed(0)]);
  const reload = await ask();
  rows.push([`next request, reload included (${reload.toFixed(0)} ms)`, (await settledRss()).toFixed(0)]);
} finally {
  server.kill("SIGTERM");
}

console.log(`\nserve RSS on ${v.runtime} (VmRSS, MiB)\n`);
console.log("| state | RSS MiB |\n|---|---:|");
for (const [k, x] of rows) console.log(`| ${k} | ${x} |`);
