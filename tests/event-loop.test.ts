/**
 * A large image upload does not stall the server's event loop: its decoding, resizing and tiling
 * run in the media workers (engine/ts/media/), so `/health` keeps answering promptly while a
 * 4000x3000 PNG is prepared (on the calling thread that took about 2 s). The image is a file under
 * --media-dir (read asynchronously), so the request itself costs the event loop next to nothing and
 * only the preparation is measured. The bound is generous; bench/event-loop-gap.ts reports gaps.
 */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { after, before, test } from "node:test";
import { encode as encodePng } from "fast-png";
import { Rng } from "../engine/ts/tiny-model/random.ts";
import { models, startServer, type TestServer } from "./helpers.ts";

const HEALTH_BOUND_MS = 500;
let server: TestServer;
const dir = mkdtempSync(`${tmpdir()}/mce-event-loop-`);

before(async () => {
  writeFileSync(`${dir}/large.png`, blockNoisePng(4000, 3000));
  server = await startServer("node", [
    "--media-dir",
    dir,
    "--model",
    models().llm,
    "--mmproj",
    models().mmproj16x,
    "--model-name",
    "tiny",
    "--threads",
    "2",
    "--ctx-size",
    "4096",
  ]);
});
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * 4000x3000 RGB of random gray 8-pixel runs: the decoder inflates and converts all 12 million
 * pixels, while the file stays a few MB.
 */
function blockNoisePng(width: number, height: number): Uint8Array {
  const rng = new Rng(7);
  const data = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p += 8) data.fill(rng.u32() & 0xff, p * 3, Math.min(p + 8, width * height) * 3);
  return encodePng({ width, height, data, channels: 3 });
}

test("/health answers within 500 ms while a 4000x3000 PNG is decoded and tiled", async () => {
  const url = "large.png";
  const upload = fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "tiny",
      messages: [{ role: "user", content: [{ type: "image_url", image_url: { url } }, { type: "text", text: "Hi" }] }],
      max_tokens: 1,
      temperature: 0,
    }),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));
  let done = false;
  void upload.finally(() => (done = true));
  const latencies: number[] = [];
  while (!done) {
    const t0 = performance.now();
    const r = await fetch(`${server.url}/health`);
    await r.body?.cancel();
    latencies.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 10));
  }
  const { status, body } = await upload;
  assert.equal(status, 200, JSON.stringify(body));
  assert.ok(body.usage.prompt_tokens_details.image_tokens > 0, JSON.stringify(body.usage));
  assert.ok(latencies.length >= 5, `only ${latencies.length} health checks ran during the upload`);
  const worst = Math.max(...latencies);
  assert.ok(worst < HEALTH_BOUND_MS, `the slowest /health took ${worst.toFixed(0)} ms during the upload`);
});
