/**
 * The same engine on every runtime: the CLI on Deno and Bun (TypeScript sources) and Node.js
 * (esbuild bundle), and the browser bundle in headless Chromium, give the same greedy tokens as
 * native llama.cpp.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { browserRun, models, oracle, runCli, type RuntimeName } from "./helpers.ts";

const PROMPT = "The capital of France is";
const N = 12;

async function cliTokens(runtime: RuntimeName, extra: string[] = ["--raw"]): Promise<number[]> {
  const r = await runCli(runtime, [
    "generate",
    "--model",
    models().llm,
    "--prompt",
    PROMPT,
    "--temp",
    "0",
    "--max-tokens",
    String(N),
    "--threads",
    "2",
    "--json",
    ...extra,
  ]);
  assert.equal(r.code, 0, `${runtime} failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout);
  assert.equal(out.usage.completion_tokens, out.tokens.length);
  // every runtime here runs the relaxed-SIMD build (Node 20 after setting its V8 flag)
  assert.equal(out.simd, "relaxed", runtime);
  return out.tokens;
}

test("deno, bun and node generate the same tokens as native llama.cpp", async () => {
  const native = (await oracle(["generate", "--model", models().llm, "--prompt", PROMPT, "--n", String(N)])).tokens;
  const results = await Promise.all((["deno", "bun", "node"] as const).map((rt) => cliTokens(rt)));
  for (const tokens of results) assert.deepEqual(tokens, native);
});

test("chat-template prompts agree across runtimes", async () => {
  const [d, b, n] = await Promise.all((["deno", "bun", "node"] as const).map((rt) => cliTokens(rt, [])));
  assert.ok(d.length > 0);
  assert.deepEqual(b, d);
  assert.deepEqual(n, d);
});

test("the browser build in headless Chromium generates the same tokens as Node", async () => {
  const node = await runCli("node", [
    "generate",
    "--model",
    models().llm,
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
  const page = await browserRun([models().llm, PROMPT, String(N)]);
  assert.equal(page.crossOriginIsolated, true, "COOP/COEP must make the page cross-origin isolated");
  assert.equal(page.threads, 2);
  assert.equal(page.simd, "relaxed", "Chromium has relaxed SIMD");
  assert.deepEqual(page.tokens, JSON.parse(node.stdout).tokens);
});
