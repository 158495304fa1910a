/** GGUF reading, writing and validation: every bad model file gets a typed error naming it. */

import assert from "node:assert/strict";
import { closeSync, copyFileSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { after, before, test } from "node:test";
import { Engine, EngineError, GgufError, Model } from "../mod.ts";
import { ValueType } from "../engine/ts/gguf/format.ts";
import { readGgufHeader } from "../engine/ts/gguf/reader.ts";
import { type KV, writeGguf } from "../engine/ts/gguf/writer.ts";
import { createFileSink, openFile } from "../engine/ts/platform/index.ts";
import { llmMetadata, TINY_LLM } from "../engine/ts/tiny-model/generate.ts";
import { models } from "./helpers.ts";

let engine: Engine;
let dir: string;
before(async () => {
  engine = await Engine.create({ threads: 1, logLevel: "none" });
  dir = mkdtempSync(`${tmpdir()}/mce-gguf-`);
});
after(() => {
  engine.terminate();
  rmSync(dir, { recursive: true, force: true });
});

async function expectGgufError(path: string, code: string, mention = path) {
  await assert.rejects(Model.load(engine, path), (e: unknown) => {
    assert.ok(e instanceof GgufError, `expected GgufError, got ${e}`);
    assert.equal(e.code, code);
    assert.ok(e.message.includes(mention), `message should name ${mention}: ${e.message}`);
    return true;
  });
}

function copyPrefix(src: string, dst: string, bytes: number) {
  const buf = new Uint8Array(bytes);
  const fd = openSync(src, "r");
  readSync(fd, buf, 0, bytes, 0);
  closeSync(fd);
  writeFileSync(dst, buf);
}

async function writeSmall(path: string, kvs: KV[]) {
  await writeGguf(await createFileSink(path), kvs, []);
}

test("reader reads what the writer wrote", async () => {
  const path = `${dir}/roundtrip.gguf`;
  const kvs: KV[] = [
    { key: "general.architecture", type: ValueType.STRING, value: "qwen35" },
    { key: "a.u32", type: ValueType.UINT32, value: 7 },
    { key: "a.f32", type: ValueType.FLOAT32, value: 0.5 },
    { key: "a.bool", type: ValueType.BOOL, value: true },
    { key: "a.arr", type: ValueType.ARRAY, itemType: ValueType.INT32, value: [1, -2, 3] },
    { key: "a.strs", type: ValueType.ARRAY, itemType: ValueType.STRING, value: ["x", "ÿ", ""] },
  ];
  const data = new Float32Array([1, 2, 3, 4]);
  await writeGguf(await createFileSink(path), kvs, [
    { name: "t", shape: [4], type: 0, chunks: () => [new Uint8Array(data.buffer)] },
  ]);
  const h = await readGgufHeader((await openFile(path))!);
  assert.equal(h.version, 3);
  for (const kv of kvs) assert.deepEqual(h.metadata.get(kv.key), kv.value);
  assert.deepEqual(h.tensors, [{ name: "t", shape: [4], type: 0, offset: 0 }]);
  const src = (await openFile(path))!;
  const bytes = await src.read(h.dataOffset, 16);
  assert.deepEqual(new Float32Array(bytes.slice().buffer), data);
});

test("a lean read passes over the vocabulary and merges and agrees on the rest", async () => {
  const full = await readGgufHeader((await openFile(models().llm))!);
  const lean = await readGgufHeader((await openFile(models().llm))!, { lean: true });
  const long = [...full.metadata].filter(([, v]) => Array.isArray(v) && v.length > 4096);
  assert.deepEqual(long.map(([k]) => k), [
    "tokenizer.ggml.tokens",
    "tokenizer.ggml.token_type",
    "tokenizer.ggml.merges",
  ]);
  assert.deepEqual([...lean.skipped!], long.map(([k, v]) => [k, (v as unknown[]).length]));
  assert.deepEqual([...lean.metadata], [...full.metadata].filter(([k]) => !lean.skipped!.has(k)));
  assert.deepEqual([lean.tensors, lean.dataOffset, lean.dataSize], [full.tensors, full.dataOffset, full.dataSize]);
});

test("not a GGUF file", async () => {
  const path = `${dir}/notes.txt.gguf`;
  writeFileSync(path, "this is not a model\n".repeat(10));
  await expectGgufError(path, "not_gguf");
});

test("empty file", async () => {
  const path = `${dir}/empty.gguf`;
  writeFileSync(path, "");
  await expectGgufError(path, "not_gguf");
});

test("missing file", async () => {
  await expectGgufError(`${dir}/nope.gguf`, "split_missing");
});

test("truncated in the header and in the tensor data", async () => {
  copyPrefix(models().llm, `${dir}/trunc-header.gguf`, 4096);
  await expectGgufError(`${dir}/trunc-header.gguf`, "truncated");
  const size = (await openFile(models().llm))!.size;
  copyPrefix(models().llm, `${dir}/trunc-data.gguf`, size - 1000);
  await expectGgufError(`${dir}/trunc-data.gguf`, "truncated");
});

test("unsupported version", async () => {
  const path = `${dir}/v99.gguf`;
  await writeSmall(path, llmMetadata(TINY_LLM, "x"));
  const fd = openSync(path, "r+");
  const { writeSync } = await import("node:fs");
  writeSync(fd, new Uint8Array([99, 0, 0, 0]), 0, 4, 4);
  closeSync(fd);
  await expectGgufError(path, "unsupported_version");
});

test("wrong architecture", async () => {
  const path = `${dir}/llama.gguf`;
  await writeSmall(path, [{ key: "general.architecture", type: ValueType.STRING, value: "llama" }]);
  await expectGgufError(path, "wrong_architecture");
  // an mmproj passed as the language model
  await expectGgufError(models().mmproj16x, "wrong_architecture");
});

test("split set: missing shard", async () => {
  const d = `${dir}/missing`;
  (await import("node:fs")).mkdirSync(d);
  for (const n of [1, 3]) {
    copyFileSync(`${models().splitDir}/tiny-llm-0000${n}-of-00003.gguf`, `${d}/tiny-llm-0000${n}-of-00003.gguf`);
  }
  await expectGgufError(`${d}/tiny-llm-00001-of-00003.gguf`, "split_missing", "tiny-llm-00002-of-00003.gguf");
});

test("split set: duplicate shard", async () => {
  const d = `${dir}/dup`;
  (await import("node:fs")).mkdirSync(d);
  for (const n of [1, 2]) {
    copyFileSync(`${models().splitDir}/tiny-llm-0000${n}-of-00003.gguf`, `${d}/tiny-llm-0000${n}-of-00003.gguf`);
  }
  copyFileSync(`${models().splitDir}/tiny-llm-00002-of-00003.gguf`, `${d}/tiny-llm-00003-of-00003.gguf`);
  await expectGgufError(`${d}/tiny-llm-00001-of-00003.gguf`, "split_duplicate", "tiny-llm-00003-of-00003.gguf");
});

test("split set: shard from another set", async () => {
  const d = `${dir}/mismatch`;
  (await import("node:fs")).mkdirSync(d);
  for (const n of [1, 3]) {
    copyFileSync(`${models().splitDir}/tiny-llm-0000${n}-of-00003.gguf`, `${d}/tiny-llm-0000${n}-of-00003.gguf`);
  }
  await writeSmall(`${d}/tiny-llm-00002-of-00003.gguf`, [
    { key: "split.no", type: ValueType.UINT16, value: 1 },
    { key: "split.count", type: ValueType.UINT16, value: 4 },
    { key: "split.tensors.count", type: ValueType.INT32, value: 99 },
  ]);
  await expectGgufError(`${d}/tiny-llm-00001-of-00003.gguf`, "split_mismatch", "tiny-llm-00002-of-00003.gguf");
});

test("a shard of a set renamed as a single file", async () => {
  const path = `${dir}/renamed.gguf`;
  copyFileSync(`${models().splitDir}/tiny-llm-00001-of-00003.gguf`, path);
  await expectGgufError(path, "split_missing");
});

test("a valid header llama.cpp still refuses gives EngineError, and the engine keeps working", async () => {
  const path = `${dir}/no-tensors.gguf`;
  await writeSmall(path, llmMetadata(TINY_LLM, "no tensors"));
  await assert.rejects(Model.load(engine, path), (e: unknown) => {
    assert.ok(e instanceof EngineError, `expected EngineError, got ${e}`);
    assert.equal(e.code, "load_failed");
    return true;
  });
  const model = await Model.load(engine, models().llm);
  assert.equal(model.info.nVocab, 151936);
  await model.close();
});

test("Blob sources are validated the same way (browser path)", async () => {
  await assert.rejects(Model.load(engine, [new File(["not a model at all"], "notes.gguf")]), (e: unknown) => {
    assert.ok(e instanceof GgufError);
    assert.equal(e.code, "not_gguf");
    assert.match(e.message, /notes\.gguf/);
    return true;
  });
  const { readFileSync } = await import("node:fs");
  const mmproj = new File([readFileSync(models().mmproj16x)], "mmproj.gguf");
  await assert.rejects(
    Model.load(engine, [mmproj]),
    (e: unknown) => e instanceof GgufError && e.code === "wrong_architecture",
  );
  const shards = [1, 3].map((n) =>
    new File([readFileSync(`${models().splitDir}/tiny-llm-0000${n}-of-00003.gguf`)], `s${n}.gguf`)
  );
  await assert.rejects(
    Model.load(engine, shards),
    (e: unknown) => e instanceof GgufError && e.code === "split_mismatch",
  );
});
