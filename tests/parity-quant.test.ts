/**
 * The wasm SIMD kernels for Q4_K, Q6_K and Q8_0 (engine/wasm/patches) against native llama.cpp,
 * on the tiny model whose matrices have those types (TINY_Q4K_LLM). Prompts with an odd and an
 * even token count: ggml takes the 2-row x 2-column kernels (`nrc == 2`, Q4_K and Q8_0) only when
 * the batch has an even number of columns, and the one-row kernels otherwise and in decode.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Engine, Model } from "../mod.ts";
import { readGgufHeader } from "../engine/ts/gguf/reader.ts";
import { TensorType } from "../engine/ts/gguf/format.ts";
import { openFile } from "../engine/ts/platform/index.ts";
import { maxRelativeError, models } from "./helpers.ts";
import { logSoftmaxAt, nativeEvaluate, nativeGreedy, wasmGreedy } from "./parity-runs.ts";

const PROMPTS: { prompt: string; parity: "odd" | "even" }[] = [
  { prompt: "Hello world, this is a", parity: "even" },
  { prompt: "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n", parity: "odd" },
  // 701 tokens: a 512-token batch (2x2 kernels), then 189 (one-row kernels)
  { prompt: "The quick brown fox jumps over the lazy dog. ".repeat(70), parity: "odd" },
];
const N_PREDICT = 16;
/**
 * Looser than the F32 model's 1e-3: every matrix here quantizes its input activations (Q8_K, Q8_0),
 * so once one rounding flips on a last-bit difference in summation order, the later roundings
 * decorrelate and the two engines differ by the activations' quantization noise. Measured (max
 * |wasm - native| / max |native|): 1.8e-7 (6 tokens), 1.7e-7 (15 tokens), 8.8e-3 (701 tokens);
 * prefixes of the long prompt up to 2.9e-2 (257 tokens); WASM against itself, 64 tokens decoded
 * one by one versus in one batch: 9.8e-3. Simulated kernel bugs, natively (every block's first
 * sub-block scale replaced by the second's in Q4_K or Q6_K, one weight in 32 changed in Q8_0),
 * move the logits by 1.0-1.1, 0.19 and 0.12-0.17.
 */
const LOGIT_TOLERANCE = 5e-2;

let engine: Engine;
let model: Model;

before(async () => {
  engine = await Engine.create({ threads: 2, logLevel: "error" });
  model = await Model.load(engine, models().llmQ4k);
});
after(() => engine.terminate());

test("the quantized tiny model has Q4_K, Q6_K and Q8_0 matrices", async () => {
  const header = await readGgufHeader((await openFile(models().llmQ4k))!);
  const typeOf = (name: string) => header.tensors.find((t) => t.name === name)?.type;
  assert.equal(typeOf("token_embd.weight"), TensorType.Q6_K);
  assert.equal(typeOf("output.weight"), TensorType.Q6_K);
  assert.equal(typeOf("blk.0.ffn_up.weight"), TensorType.Q4_K);
  assert.equal(typeOf("blk.0.attn_qkv.weight"), TensorType.Q4_K);
  assert.equal(typeOf("blk.3.attn_q.weight"), TensorType.Q4_K);
  assert.equal(typeOf("blk.3.ffn_down.weight"), TensorType.Q6_K);
  assert.equal(typeOf("blk.0.ssm_alpha.weight"), TensorType.Q8_0);
});

for (const [i, { prompt, parity }] of PROMPTS.entries()) {
  test(`K-quant parity with native llama.cpp: prompt ${i + 1} (${parity} token count)`, async () => {
    const native = await nativeGreedy(models().llmQ4k, prompt, N_PREDICT);
    const wasm = await wasmGreedy(model, prompt, N_PREDICT, 20);

    assert.deepEqual(wasm.promptTokens, native.prompt_tokens, "tokenization differs");
    assert.equal(wasm.promptTokens.length % 2, parity === "odd" ? 1 : 0);
    const err = maxRelativeError(wasm.logits, native.logits);
    assert.ok(err <= LOGIT_TOLERANCE, `first-step logits differ: max relative error ${err}`);
    assert.deepEqual(wasm.tokens, native.tokens, "greedy tokens differ");
    assert.ok(new Set(native.tokens).size > 1, "a degenerate model: one repeated token");

    // the last step's log-probabilities, after N_PREDICT - 1 one-token decodes (one-row kernels),
    // against a native prefill of the same tokens
    const k = wasm.tokens.length - 1;
    const later = await nativeEvaluate(models().llmQ4k, model.info.nEmbd, {
      tokens: Int32Array.from([...native.prompt_tokens, ...native.tokens.slice(0, k)]),
    });
    let scale = 0;
    for (const v of later) scale = Math.max(scale, Math.abs(v));
    const step = wasm.steps[k];
    assert.equal(step.token, native.tokens[k]);
    assert.equal(step.top.length, 20);
    // a log-probability carries its logit's error plus the normaliser's: twice the logit bound
    for (const alt of step.top) {
      const diff = Math.abs(alt.logprob - logSoftmaxAt(later, alt.token)) / scale;
      assert.ok(diff <= 2 * LOGIT_TOLERANCE, `step ${k} log-probability of ${alt.token}: relative error ${diff}`);
    }
  });
}
