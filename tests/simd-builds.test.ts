/**
 * The two wasm builds: plain SIMD128 (dist/wasm) and relaxed SIMD (dist/wasm/relaxed, patch
 * 0003, clang 19), which `simd: "auto"` picks where the runtime has relaxed SIMD. Their Q4_K/Q6_K
 * kernels differ only in how the 8-bit products are formed (exact integers), but clang 19 rounds
 * some float code differently, so logits agree to float noise on short prompts (measured 9e-8 to
 * 7e-7 relative; a wrong kernel moves them by 0.1 to 1, tests/parity-quant.test.ts) and, on long
 * prompts, within the 5e-2 by which quantized activations amplify such noise (measured 1.9e-2).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine, InvalidRequestError, Model } from "../mod.ts";
import { maxRelativeError, models } from "./helpers.ts";
import { wasmGreedy } from "./parity-runs.ts";

const SHORT = [
  "Hi", // 1 token: the one-row kernels
  "Hello world", // 2 tokens: the 2x2 kernels
  "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
];
const LONG = "The quick brown fox jumps over the lazy dog. ".repeat(60); // more than one 512-token batch
const SHORT_TOLERANCE = 1e-5;
const LONG_TOLERANCE = 5e-2;

test("relaxed and plain SIMD builds agree on K-quants: same tokens, logits to float noise", async () => {
  const plain = await Engine.create({ threads: 2, simd: "simd128", logLevel: "error" });
  const relaxed = await Engine.create({ threads: 2, simd: "relaxed", logLevel: "error" });
  try {
    assert.equal(plain.simd, "simd128");
    assert.equal(relaxed.simd, "relaxed");
    const [a, b] = await Promise.all([Model.load(plain, models().llmQ4k), Model.load(relaxed, models().llmQ4k)]);
    for (const prompt of [...SHORT, LONG]) {
      const [x, y] = [await wasmGreedy(a, prompt, 8), await wasmGreedy(b, prompt, 8)];
      assert.deepEqual(y.tokens, x.tokens, prompt.slice(0, 20));
      const err = maxRelativeError(y.logits, x.logits);
      assert.ok(err <= (prompt === LONG ? LONG_TOLERANCE : SHORT_TOLERANCE), `${prompt.slice(0, 20)}: ${err}`);
    }
  } finally {
    plain.terminate();
    relaxed.terminate();
  }
});

test("auto picks the relaxed build here; a bad simd value is refused", async () => {
  const e = await Engine.create({ threads: 1, logLevel: "error" });
  try {
    assert.equal(e.simd, "relaxed");
  } finally {
    e.terminate();
  }
  // deno-lint-ignore no-explicit-any
  await assert.rejects(Engine.create({ simd: "avx" as any }), InvalidRequestError);
});
