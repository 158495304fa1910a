/**
 * Model files in the browser: the browser bundle in headless Chromium loads the tiny pair by
 * http URL (tests/browser/run.mjs --cache serves it and counts the requests) into its model
 * cache (OPFS) with progress events; a second load in the same page, and a later page of the
 * same profile in offline mode, make no model request and generate Node's greedy tokens.
 */

import assert from "node:assert/strict";
import { statSync } from "node:fs";
import { test } from "node:test";
import type { CachedModel, DownloadProgress } from "../mod.ts";
import { browserRun, models, runCli } from "./helpers.ts";

const PROMPT = "The capital of France is";
const N = 12;

interface Load {
  tokens: number[];
  events: DownloadProgress[];
  vision: boolean;
  /** model requests the server saw so far (cumulative) */
  requestsAfter: number;
}
interface CacheRun {
  download: { first: Load; second: Load; cached: CachedModel[] };
  offline: { offline: Load; missing?: { name: string; code: string; message: string }; requestsAfter: number };
}

/** each file's events: starts, grows monotonically, ends done at its full size */
function checkProgress(events: DownloadProgress[], sizes: Record<string, number>) {
  for (const [name, size] of Object.entries(sizes)) {
    const mine = events.filter((e) => e.file.endsWith(`/models/${name}`));
    assert.equal(mine[0]?.state, "start", name);
    assert.equal(mine.at(-1)!.state, "done", name);
    assert.equal(mine.at(-1)!.received, size, name);
    assert.ok(mine.some((e) => e.state === "progress"), `${name}: no progress events`);
    mine.forEach((e, i) => assert.ok(i === 0 || e.received >= mine[i - 1].received, `${name}: progress went back`));
  }
  const last = events.at(-1)!;
  const total = Object.values(sizes).reduce((a, b) => a + b, 0);
  assert.deepEqual([last.overallReceived, last.overallTotal, last.filesDone, last.files], [total, total, 2, 2]);
}

test("the browser downloads a model pair into OPFS once with progress, then loads it from the cache, also offline", async () => {
  const m = models();
  const node = await runCli("node", [
    "generate",
    "--model",
    m.llm,
    "--prompt",
    PROMPT,
    "--temp",
    "0",
    "--max-tokens",
    String(N),
    "--ctx-size",
    "1024",
    "--json",
  ]);
  assert.equal(node.code, 0, node.stderr);
  const expected = JSON.parse(node.stdout).tokens;
  const sizes = { "tiny-llm.gguf": statSync(m.llm).size, "tiny-mmproj-16x.gguf": statSync(m.mmproj16x).size };

  const r = await browserRun<CacheRun>(["--cache", m.llm, PROMPT, String(N), m.mmproj16x]);
  const { first, second, cached } = r.download;
  assert.equal(first.requestsAfter, 2, "one GET per file");
  assert.ok(first.vision);
  checkProgress(first.events, sizes);
  assert.deepEqual(first.tokens, expected);

  assert.deepEqual(cached.map((c) => [c.location.replace(/_\d+\//, "_PORT/"), c.size]), [
    ["opfs:/minicpmv-edge/urls/127.0.0.1_PORT/models/tiny-llm.gguf", sizes["tiny-llm.gguf"]],
    ["opfs:/minicpmv-edge/urls/127.0.0.1_PORT/models/tiny-mmproj-16x.gguf", sizes["tiny-mmproj-16x.gguf"]],
  ]);

  assert.equal(second.requestsAfter, 2, "the second load made a model request");
  assert.deepEqual(second.events.map((e) => [e.state, e.received === e.total]), [["cached", true], ["cached", true]]);
  assert.deepEqual(second.tokens, expected);

  const later = r.offline;
  assert.equal(later.offline.requestsAfter, 2, "the offline load made a model request");
  assert.ok(later.offline.vision);
  assert.deepEqual(later.offline.tokens, expected);
  assert.equal(later.missing?.name, "ModelFetchError");
  assert.equal(later.missing?.code, "not_cached", later.missing?.message);
  assert.equal(later.requestsAfter, 2, "offline mode asked the server for a file it does not hold");
});
