/**
 * `split` / `merge` against native llama.cpp's llama-gguf-split (same pinned source): identical
 * shards, byte-identical round trip, merges that agree, and shards that both engines load with
 * the single file's greedy tokens. Plus the 4 GiB budget refusal, from metadata alone.
 */

import assert from "node:assert/strict";
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { after, before, test } from "node:test";
import { Engine, generate, MemoryBudgetError, MiniCPMV, Model } from "../mod.ts";
import { TensorType } from "../engine/ts/gguf/format.ts";
import { readGgufHeader } from "../engine/ts/gguf/reader.ts";
import { encodeHeader, headerKvs } from "../engine/ts/gguf/writer.ts";
import { openFile } from "../engine/ts/platform/index.ts";
import { llmMetadata, TINY_LLM } from "../engine/ts/tiny-model/generate.ts";
import { models, nativeBin, oracle, run, runCli } from "./helpers.ts";

const m = models();
let dir: string;
let engine: Engine;
before(async () => {
  dir = mkdtempSync(`${tmpdir()}/mce-split-`);
  engine = await Engine.create({ threads: 2, logLevel: "none" });
});
after(() => {
  engine.terminate();
  rmSync(dir, { recursive: true, force: true });
});

const bytes = (p: string) => readFileSync(p);
function same(a: string, b: string) {
  const x = bytes(a);
  const y = bytes(b);
  assert.ok(x.equals(y), `${a} (${x.length} bytes) differs from ${b} (${y.length} bytes)`);
}
const shardsIn = (d: string) =>
  readdirSync(d).filter((f) => /-\d{5}-of-\d{5}\.gguf$/.test(f)).sort().map((f) => `${d}/${f}`);

async function cli(args: string[]) {
  const r = await runCli("deno", args);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split("\n");
}

async function native(args: string[]) {
  const r = await run(nativeBin("llama-gguf-split"), args);
  assert.equal(r.code, 0, r.stderr + r.stdout);
}

async function greedy(path: string): Promise<number[]> {
  const model = await Model.load(engine, path);
  const ctx = await model.createContext({ contextSize: 256, batchSize: 64 });
  const r = await generate(ctx, await model.tokenize("Once upon a time"), { temperature: 0, maxTokens: 12 }).result;
  await model.close();
  return r.tokens;
}

test("split by tensor count writes the same shards as llama-gguf-split; merge restores the file byte for byte", async () => {
  const ours = await cli(["split", m.llm, `${dir}/ours/tiny`, "--max-tensors", "20"]);
  assert.ok(ours.length >= 3, `${ours.length} shards`);
  mkdirSync(`${dir}/native`);
  await native(["--split", "--split-max-tensors", "20", m.llm, `${dir}/native/tiny`]);
  const theirs = shardsIn(`${dir}/native`);
  assert.equal(theirs.length, ours.length);
  ours.forEach((p, i) => same(p, theirs[i]));

  await cli(["merge", ours[0], `${dir}/merged.gguf`]);
  same(`${dir}/merged.gguf`, m.llm);
});

test("split by size; native merge and ours agree; ours merges native shards back to the original", async () => {
  const shards = await cli(["split", m.llm, `${dir}/size/tiny`, "--max-size", "11M"]);
  assert.ok(shards.length >= 2);
  for (const s of shards) {
    const h = await readGgufHeader((await openFile(s))!);
    assert.ok(h.dataSize <= 11_000_000, `${s} holds ${h.dataSize} bytes of tensor data`);
  }
  mkdirSync(`${dir}/size-native`);
  await native(["--split", "--split-max-size", "11M", m.llm, `${dir}/size-native/tiny`]);
  shardsIn(`${dir}/size-native`).forEach((p, i) => same(p, shards[i]));

  await native(["--merge", shards[0], `${dir}/native-merged.gguf`]);
  await cli(["merge", shards[0], `${dir}/ours-merged.gguf`]);
  same(`${dir}/ours-merged.gguf`, m.llm);
  // llama-gguf-split --merge keeps split.no=0, split.tensors.count and split.count=0; apart from
  // those bookkeeping keys, the metadata, tensor table and tensor data are the same
  const a = await readGgufHeader((await openFile(`${dir}/native-merged.gguf`))!);
  const b = await readGgufHeader((await openFile(`${dir}/ours-merged.gguf`))!);
  const strip = (kvs: ReturnType<typeof headerKvs>) => kvs.filter((kv) => !kv.key.startsWith("split."));
  assert.deepEqual(strip(headerKvs(a)), headerKvs(b));
  assert.deepEqual(headerKvs(a).filter((kv) => kv.key.startsWith("split.")).map((kv) => [kv.key, kv.value]), [
    ["split.no", 0],
    ["split.tensors.count", b.tensors.length],
    ["split.count", 0],
  ]);
  assert.deepEqual(a.tensors, b.tensors);
  const na = bytes(`${dir}/native-merged.gguf`);
  const nb = bytes(`${dir}/ours-merged.gguf`);
  assert.ok(na.subarray(a.dataOffset).equals(nb.subarray(b.dataOffset)), "tensor data differ");

  // and our merge of the native shards is the original file
  await cli(["merge", shardsIn(`${dir}/size-native`)[0], `${dir}/from-native.gguf`]);
  same(`${dir}/from-native.gguf`, m.llm);
});

test("our shards load in the engine and in native llama.cpp with the single file's greedy tokens", async () => {
  const shards = shardsIn(`${dir}/ours`);
  assert.deepEqual(await greedy(shards[0]), await greedy(m.llm));
  const prompt = ["generate", "--prompt", "Once upon a time", "--n", "12"];
  const single = await oracle([...prompt, "--model", m.llm]);
  const split = await oracle([...prompt, "--model", shards[0]]);
  assert.deepEqual(split.tokens, single.tokens);
});

test("split refuses bad arguments clearly", async () => {
  const r = await runCli("deno", ["split", m.llm, `${dir}/bad/tiny`, "--max-size", "1K"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /larger than the maximum shard size/);
  const both = await runCli("deno", ["split", m.llm, `${dir}/bad/tiny`]);
  assert.equal(both.code, 1);
  assert.match(both.stderr, /--max-size/);
  const missing = await runCli("deno", ["merge", `${dir}/none-00001-of-00002.gguf`, `${dir}/x.gguf`]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /file not found/);
});

test("a model over the 4 GiB wasm budget is refused before loading, saying what to change", async () => {
  // a 4.3 GB language model by its metadata: the header is written, the data is a sparse hole
  const path = `${dir}/huge-llm.gguf`;
  const embd = TINY_LLM.embd;
  const rows = 16_800_000;
  const { bytes: header, dataSize } = encodeHeader(
    [
      ...llmMetadata(TINY_LLM, "huge"),
      ...headerKvs(await readGgufHeader((await openFile(m.llm))!)).filter((kv) => kv.key.startsWith("tokenizer.")),
    ],
    [{ name: "token_embd.weight", shape: [embd, rows], type: TensorType.F32 }],
  );
  const fd = openSync(path, "w");
  writeSync(fd, header);
  writeSync(fd, new Uint8Array(1), 0, 1, header.length + dataSize - 1);
  closeSync(fd);

  const refused = (e: unknown) => {
    assert.ok(e instanceof MemoryBudgetError, `expected MemoryBudgetError, got ${e}`);
    assert.match(e.message, /does not fit in WebAssembly memory/);
    assert.match(e.message, /huge-llm\.gguf/);
    assert.match(e.message, /smaller quantization/);
    assert.ok(e.requiredBytes > e.limitBytes);
    return true;
  };
  const t0 = performance.now();
  await assert.rejects(MiniCPMV.load(engine, { model: path, mmproj: m.mmproj16x }), refused);
  await assert.rejects(Model.load(engine, path), refused);
  assert.ok(performance.now() - t0 < 5000, "refused from the header, without reading the data");

  const r = await runCli("node", ["generate", "--model", path, "--mmproj", m.mmproj16x]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /error: the model does not fit in WebAssembly memory: model \d\.\d+ GiB .* \+ mmproj/);
  assert.match(r.stderr, /load without --mmproj/);
});
