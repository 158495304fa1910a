/** The wasm32 memory budget: the estimate's terms from GGUF metadata, and the refusal that says what to change. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryBudgetError } from "../../engine/ts/errors.ts";
import type { GgufHeader, GgufValue } from "../../engine/ts/gguf/reader.ts";
import type { ModelFiles } from "../../engine/ts/gguf/model-files.ts";
import { checkMemoryBudget, estimateMemory, WASM_MEMORY_LIMIT } from "../../engine/ts/memory-budget.ts";

const MiB = 1024 ** 2;

function files(
  kind: ModelFiles["kind"],
  architecture: string,
  totalBytes: number,
  meta: Record<string, GgufValue>,
  tensors: GgufHeader["tensors"] = [],
): ModelFiles {
  const header: GgufHeader = {
    version: 3,
    metadata: new Map(Object.entries(meta)),
    metadataTypes: new Map(),
    tensors,
    alignment: 32,
    dataOffset: 0,
    dataSize: totalBytes,
  };
  return { kind, paths: [`/models/${kind}.gguf`], headers: [header], totalBytes, architecture };
}

// Qwen3.5-0.8B-like: 24 layers, one in 4 with attention, the rest linear attention (recurrent state)
const llm = (totalBytes = 500_000_000, extra: Record<string, GgufValue> = {}) =>
  files("llm", "qwen35", totalBytes, {
    "qwen35.context_length": 4096,
    "qwen35.embedding_length": 1024,
    "qwen35.block_count": 24,
    "qwen35.attention.head_count": 8,
    "qwen35.attention.head_count_kv": 2,
    "qwen35.attention.key_length": 256,
    "qwen35.attention.value_length": 256,
    "qwen35.full_attention_interval": 4,
    "qwen35.ssm.state_size": 128,
    "qwen35.ssm.group_count": 16,
    "qwen35.ssm.inner_size": 2048,
    "qwen35.ssm.conv_kernel": 4,
    "qwen35.feed_forward_length": 3584,
    ...extra,
  }, [{ name: "token_embd.weight", shape: [1024, 248320], type: 0, offset: 0 }]);

const mmproj = files("mmproj", "clip", 200_000_000, {
  "clip.vision.embedding_length": 1152,
  "clip.vision.feed_forward_length": 4304,
  "clip.vision.attention.head_count": 16,
});

test("each term from the metadata: F16 KV for attention layers, F32 state for the others, compute, runtime", () => {
  // a context beyond the training context is capped at it (4096)
  const e = estimateMemory({ model: llm(), contextSize: 8192 });
  assert.deepEqual(e, {
    weights: 500_000_000,
    mmproj: 0,
    kvCache: 4096 * 6 * 2 * (256 + 256) * 2, // 50331648: 6 of 24 layers attend
    recurrentState: 18 * 4 * (3 * 6144 + 128 * 2048), // 20201472: conv window + state, 18 layers
    compute: 512 * 4 * (3 * 3584 + 10 * 1024) + 512 * 4096 * 8 * 4 + 248320 * 4, // 111093760
    runtime: 192 * MiB,
    total: 500_000_000 + 50331648 + 20201472 + 111093760 + 192 * MiB,
  });
});

test("sequences multiply the recurrent state and the logits; the context size scales the KV cache", () => {
  const one = estimateMemory({ model: llm(), contextSize: 2048 });
  const four = estimateMemory({ model: llm(), contextSize: 2048, sequences: 4 });
  assert.equal(one.kvCache, 2048 * 6 * 2 * 512 * 2);
  assert.equal(four.kvCache, one.kvCache, "the sequences share the context");
  assert.equal(four.recurrentState, 4 * one.recurrentState);
  assert.equal(four.compute - one.compute, 3 * 248320 * 4);
  assert.equal(estimateMemory({ model: llm() }).kvCache, 4096 * 6 * 2 * 512 * 2, "default context 4096");
});

test("an mmproj adds its file and one 448x448 tile's compute", () => {
  const text = estimateMemory({ model: llm(), contextSize: 4096 });
  const both = estimateMemory({ model: llm(), mmproj, contextSize: 4096 });
  assert.equal(both.mmproj, 200_000_000);
  assert.equal(both.compute - text.compute, 1024 * 4 * (12 * 1152 + 2 * 4304) + 16 * 1024 * 1024 * 4);
  assert.equal(both.total - text.total, 200_000_000 + 158990336);
});

test("within the limit the estimate is returned; over it, an error that names the files and what to change", () => {
  const fits = checkMemoryBudget({ model: llm(), mmproj, contextSize: 4096 });
  assert.ok(fits.total < WASM_MEMORY_LIMIT);
  assert.equal(WASM_MEMORY_LIMIT, 4 * 1024 ** 3);

  assert.throws(() => checkMemoryBudget({ model: llm(3_800_000_000), mmproj, contextSize: 4096 }), (e: unknown) => {
    assert.ok(e instanceof MemoryBudgetError);
    assert.equal(e.code, "memory_budget");
    assert.equal(e.limitBytes, WASM_MEMORY_LIMIT);
    assert.equal(e.requiredBytes, estimateMemory({ model: llm(3_800_000_000), mmproj, contextSize: 4096 }).total);
    assert.match(e.message, /model 3\.54 GiB \(\/models\/llm\.gguf\) \+ mmproj 0\.19 GiB \(\/models\/mmproj\.gguf\)/);
    assert.match(e.message, /over the 4\.00 GiB a wasm32 engine can address/);
    assert.match(e.message, /smaller quantization/);
    assert.match(e.message, /load without --mmproj/);
    assert.doesNotMatch(e.message, /lower --ctx-size/, "a 48 MiB KV cache is not the problem");
    assert.match(e.message, /native llama\.cpp/);
    return true;
  });
});

test("a large KV cache is named as something to lower; no mmproj advice without one", () => {
  // 1M-token training context, 64 attention layers: the KV cache dominates
  const big = llm(100_000_000, { "qwen35.context_length": 1 << 20, "qwen35.full_attention_interval": 1 });
  assert.throws(() => checkMemoryBudget({ model: big, contextSize: 1 << 20 }), (e: unknown) => {
    assert.ok(e instanceof MemoryBudgetError);
    assert.match(e.message, /context of 1048576 tokens \d+ MiB/);
    assert.match(e.message, /lower --ctx-size/);
    assert.doesNotMatch(e.message, /mmproj|smaller quantization/);
    return true;
  });
  assert.throws(() => checkMemoryBudget({ model: llm() }, 100 * MiB), MemoryBudgetError, "the limit is a parameter");
});
