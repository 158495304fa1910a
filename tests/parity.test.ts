/**
 * Correctness oracle: the WASM engine against native llama.cpp built from the same pinned
 * source (tests/oracle/oracle.cpp), same GGUF. Tokenization and greedy tokens must be equal;
 * first-step logits must agree within 1e-3, relative to the largest logit magnitude.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Engine, Model } from "../mod.ts";
import { maxRelativeError, models, oracle } from "./helpers.ts";
import { nativeGreedy, wasmGreedy } from "./parity-runs.ts";

const PROMPTS = [
  "Hello world",
  "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
  "Ünïcödé: 日本語のテキスト、中文，한국어 😀🦙 café naïve",
  "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
  "<think>\n\n</think>\n\n<tool_call>\n<function=get_weather>",
  // longer than one 512-token batch
  "The quick brown fox jumps over the lazy dog. ".repeat(70),
];
const N_PREDICT = 16;
const LOGIT_TOLERANCE = 1e-3;

let engine: Engine;
let single: Model;
let split: Model;

before(async () => {
  engine = await Engine.create({ threads: 2, logLevel: "error" });
  single = await Model.load(engine, models().llm);
  split = await Model.load(engine, models().llmSplit);
});
after(() => engine.terminate());

for (const [i, prompt] of PROMPTS.entries()) {
  test(`parity with native llama.cpp: prompt ${i + 1} (${JSON.stringify(prompt.slice(0, 24))}...)`, async () => {
    const native = await nativeGreedy(models().llm, prompt, N_PREDICT);
    const wasm = await wasmGreedy(single, prompt, N_PREDICT);

    assert.deepEqual(wasm.promptTokens, native.prompt_tokens, "tokenization differs");
    assert.equal(wasm.logits.length, native.n_vocab);
    const err = maxRelativeError(wasm.logits, native.logits);
    assert.ok(err <= LOGIT_TOLERANCE, `first-step logits differ: max relative error ${err}`);
    assert.deepEqual(wasm.tokens, native.tokens, "greedy tokens differ");
  });
}

test("split set and single file give identical output", async () => {
  assert.equal(split.info.files.length, 3);
  for (const prompt of PROMPTS.slice(0, 3)) {
    const a = await wasmGreedy(single, prompt, N_PREDICT);
    const b = await wasmGreedy(split, prompt, N_PREDICT);
    assert.deepEqual(b.tokens, a.tokens);
    assert.deepEqual(b.logits, a.logits);
  }
});

test("native llama.cpp loads the split set with the same result", async () => {
  const a = await oracle(["generate", "--model", models().llm, "--prompt", PROMPTS[0], "--n", "8"]);
  const b = await oracle(["generate", "--model", models().llmSplit, "--prompt", PROMPTS[0], "--n", "8"]);
  assert.deepEqual(b.tokens, a.tokens);
});
