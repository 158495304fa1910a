/**
 * Does a text chat wait behind other requests' slow image URLs? Starts `serve` (Deno, the sources
 * of this checkout) on the tiny pair with --parallel 4 and an image server that answers each image
 * only after --hold seconds, sends 0, 1 or 4 image chats whose URLs hang, then one short text chat,
 * and reports how long that text chat took (before issue #17 preparation ran one request at a time:
 * 14.5 s behind one slow image, 60 s behind four). Prints a table; asserts nothing.
 *   deno run -A bench/prepare-wait.ts [--before DIR] [--hold S]
 * --before DIR: also run DIR's sources (e.g. an export of the previous commit with its own dist/wasm).
 * Models: $MCE_TEST_MODELS (tiny-llm.gguf, tiny-mmproj-16x.gguf; `npm test` writes them).
 */

import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import { parseArgs } from "node:util";
import { projectRoot } from "../cli/paths.ts";
import { serverUrl } from "./util.ts";

const { values: v } = parseArgs({
  options: { before: { type: "string" }, hold: { type: "string", default: "10" } },
});
// deno-lint-ignore no-process-global
const modelsDir = process.env.MCE_TEST_MODELS;
if (!modelsDir) throw new Error("set MCE_TEST_MODELS to the tiny test models' directory (see tests/helpers.ts)");
const holdMs = Number(v.hold) * 1000;
const jpeg = readFileSync(`${modelsDir}/test-1.jpeg`);

// every image answered --hold seconds after it was asked for
const held = new Set<ServerResponse>();
const images = createServer((_req, res) => {
  held.add(res);
  setTimeout(() => {
    held.delete(res);
    if (!res.destroyed) res.writeHead(200, { "content-type": "image/jpeg" }).end(jpeg);
  }, holdMs);
});
await new Promise<void>((r) => images.listen(0, "127.0.0.1", r));
const imageBase = `http://127.0.0.1:${(images.address() as { port: number }).port}`;

async function measure(root: string): Promise<number[]> {
  // deno-lint-ignore no-process-global
  const p = spawn(process.execPath, [
    "run",
    "-A",
    `${root}/cli.ts`,
    "serve",
    "--port",
    "0",
    "--model",
    `${modelsDir}/tiny-llm.gguf`,
    "--mmproj",
    `${modelsDir}/tiny-mmproj-16x.gguf`,
    "--model-name",
    "tiny",
    "--parallel",
    "4",
    "--threads",
    "2",
    "--allow-private-urls",
    "--image-timeout",
    "600",
  ], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  try {
    const url = await serverUrl(p);
    const chat = (content: unknown) =>
      fetch(`${url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny", messages: [{ role: "user", content }], max_tokens: 4, temperature: 0 }),
      }).then((r) => r.text());
    await chat("warm up");
    const waits: number[] = [];
    for (const [k, slow] of [0, 1, 4].entries()) {
      const pending = Array.from({ length: slow }, (_, i) =>
        chat([
          { type: "image_url", image_url: { url: `${imageBase}/${k}-${i}.jpg` } },
          { type: "text", text: "What is it?" },
        ]));
      // all N admitted (before #17 they were fetched one at a time, so only one is held at once)
      const admitted = async () =>
        Number(/^minicpmv_queue_depth (\d+)$/m.exec(await (await fetch(`${url}/metrics`)).text())?.[1]) >= slow;
      while ((slow > 0 && held.size < 1) || !(await admitted())) await new Promise((r) => setTimeout(r, 10));
      const t0 = performance.now();
      await chat("Say hello.");
      waits.push(performance.now() - t0);
      await Promise.all(pending);
    }
    return waits;
  } finally {
    p.kill("SIGTERM");
  }
}

const rows: [string, number[]][] = [];
if (v.before) rows.push([`before (${v.before})`, await measure(v.before)]);
rows.push(["now", await measure(await projectRoot())]);
images.close();
console.log(`\ntext chat (4 tokens) latency, ms, while N image chats wait for URLs held ${v.hold} s (--parallel 4)`);
console.log("| build | N = 0 | N = 1 | N = 4 |\n| --- | --- | --- | --- |");
for (const [name, w] of rows) console.log(`| ${name} | ${w.map((x) => x.toFixed(0)).join(" | ")} |`);
