/**
 * Fuzzed model files through the TypeScript side (issue 17, point 6): 10,000 mutated GGUF files
 * (tests/fixtures/gguf-fuzz/fuzzer.ts) through the validator that runs before every engine load
 * (lean header read, split-set and architecture checks), the full header read, and split or
 * merge of what validates. Every outcome is a success or a GgufError; every parse is bounded in
 * time; hostile counts and lengths are refused before anything is allocated for them. The seed
 * is fixed (MCE_GGUF_FUZZ_SEED / MCE_GGUF_FUZZ_CASES explore further), and the regression corpus
 * (corpus.json) replays to its recorded outcomes.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import process from "node:process";
import { test } from "node:test";
import { GgufError } from "../../engine/ts/errors.ts";
import { ValueType } from "../../engine/ts/gguf/format.ts";
import { validateModelSources } from "../../engine/ts/gguf/model-files.ts";
import { readGgufHeader } from "../../engine/ts/gguf/reader.ts";
import { mergeGguf, splitGguf } from "../../engine/ts/gguf/split.ts";
import { type ByteSink, writeGguf } from "../../engine/ts/gguf/writer.ts";
import {
  type Bases,
  buildBases,
  caseFileNames,
  caseFiles,
  encodeModel,
  type FuzzCase,
  generateCase,
  type GgufModel,
  memorySource,
} from "../fixtures/gguf-fuzz/fuzzer.ts";

const SEED = Number(process.env.MCE_GGUF_FUZZ_SEED ?? 0x6775f17);
const CASES = Number(process.env.MCE_GGUF_FUZZ_CASES ?? 10_000);
/** split or merge every n-th valid case (a rewrite costs ~10 ms) */
const REWRITE_EVERY = 5;
/** generous: a parse of these ~0.4 MB files takes about a millisecond */
const PARSE_LIMIT_MS = 2_000;

const bases = buildBases();

function nullSink(): ByteSink & { bytes: number } {
  return {
    bytes: 0,
    write(b: Uint8Array) {
      this.bytes += b.length;
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
}

function memorySink(): ByteSink & { parts: Uint8Array[]; concat(): Uint8Array } {
  return {
    parts: [],
    write(b: Uint8Array) {
      this.parts.push(b.slice());
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
    concat() {
      const out = new Uint8Array(this.parts.reduce((a, p) => a + p.length, 0));
      let o = 0;
      for (const p of this.parts) (out.set(p, o), o += p.length);
      return out;
    },
  };
}

/** A GgufError's code; anything else is a bug in the reader, reported with the case that found it. */
function codeOf(c: FuzzCase, e: unknown): string {
  if (e instanceof GgufError) {
    assert.ok(e.message.length > 0 && e.file.length > 0, "a GgufError names its file and says what is wrong");
    return e.code;
  }
  throw new Error(`case ${JSON.stringify(c)} threw a non-GgufError: ${(e as Error)?.stack ?? e}`);
}

/**
 * What the TS side makes of a case: "ok" or the validator's error code. With `rewrite`, a valid
 * LLM is also split (or a valid split set merged), which reads every tensor's data back.
 */
async function readerOutcome(b: Bases, c: FuzzCase, rewrite = true): Promise<string> {
  const names = caseFileNames(c);
  const sources = caseFiles(b, c).map((bytes, i) => memorySource(names[i], bytes));
  const kind = c.base === "mmproj" ? "mmproj" : "llm";
  let outcome = "ok";
  try {
    await validateModelSources(sources, kind);
  } catch (e) {
    outcome = codeOf(c, e);
  }
  // the full read (vocabulary included) that split, merge and the mmproj conversion use
  for (const s of sources) await readGgufHeader(s).catch((e) => codeOf(c, e));
  if (outcome === "ok" && kind === "llm" && rewrite) {
    const done = sources.length > 1
      ? mergeGguf(sources, nullSink())
      : splitGguf(sources[0], "fuzz", { maxTensors: 20 }, () => Promise.resolve(nullSink()));
    await done.catch((e) => codeOf(c, e));
  }
  for (const s of sources) assert.ok(s.maxRead <= s.size, `read ${s.maxRead} bytes of a ${s.size}-byte file`);
  return outcome;
}

async function timed<T>(c: FuzzCase, run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`case ${JSON.stringify(c)} did not finish in 10 s`)), 10_000);
  });
  try {
    const value = await Promise.race([run(), hang]);
    return { value, ms: performance.now() - t0 };
  } finally {
    clearTimeout(timer);
  }
}

test("the base models are byte-identical to the project's writer and validate", async () => {
  const all: [string, GgufModel][] = [["llm", bases.llm], ["mmproj", bases.mmproj]];
  bases.split.forEach((m, i) => all.push([`shard ${i}`, m]));
  for (const [name, m] of all) {
    const sink = memorySink();
    await writeGguf(sink, m.kvs, m.tensors.map((t) => ({ ...t, chunks: () => [t.data] })), m.alignment);
    assert.deepEqual(encodeModel(m).bytes, sink.concat(), `${name}: the fuzzer's encoder matches writer.ts`);
  }
  for (const base of ["llm", "split", "mmproj"] as const) {
    assert.equal(await readerOutcome(bases, { base, ops: [] }), "ok", base);
  }
});

/** A base LLM with one numeric field set (before or after the lean array that holds `general.tags`). */
const hostile = (field: string, value: string): FuzzCase => ({ base: "llm", ops: [{ op: "set", field, value }] });

test("hostile counts and lengths are refused before anything is allocated for them", async () => {
  const cases: [string, FuzzCase, string, RegExp][] = [
    ["2^40 tensors", hostile("n_tensors", String(2 ** 40)), "truncated", /1099511627776 tensors/],
    ["2^40 metadata keys", hostile("n_kv", String(2 ** 40)), "truncated", /1099511627776 metadata/],
    ["a 2^60-byte key", hostile("kv[general.architecture].keylen", String(2n ** 60n)), "truncated", /string of/],
    ["a 2^60-byte value", hostile("kv[general.name].value.len", String(2n ** 60n)), "truncated", /string of/],
    ["a 2^40-item array", hostile("kv[qwen35.rope.dimension_sections].count", String(2 ** 40)), "truncated", /array/],
    ["2^24 strings", hostile("kv[tokenizer.ggml.merges].count", String(2 ** 24)), "truncated", /16777216 items/],
    ["2^24 strings (lean)", hostile("kv[general.tags].count", String(2 ** 24)), "truncated", /16777216 items/],
    ["2^27 int32s", hostile("kv[tokenizer.ggml.token_type].count", String(2 ** 27)), "truncated", /134217728/],
    ["a 2^62-element tensor", hostile("tensor[output_norm.weight].dim0", String(2n ** 62n)), "bad_metadata", /dim/],
  ];
  const rss0 = process.memoryUsage().rss;
  for (const [what, c, code, message] of cases) {
    const names = caseFileNames(c);
    const src = memorySource(names[0], caseFiles(bases, c)[0]);
    const t0 = performance.now();
    for (const lean of [true, false]) {
      await assert.rejects(readGgufHeader(src, { lean }), (e: unknown) => {
        assert.ok(e instanceof GgufError, `${what}: ${e}`);
        assert.equal(e.code, code, `${what}: ${e.message}`);
        assert.match(e.message, message, what);
        return true;
      });
    }
    assert.ok(performance.now() - t0 < 200, `${what} took ${performance.now() - t0} ms`);
  }
  // a dense 2^24-slot array alone would be 128 MB
  const grown = (process.memoryUsage().rss - rss0) / 2 ** 20;
  assert.ok(grown < 64, `resident memory grew by ${grown.toFixed(0)} MB while refusing them`);
});

test(`${CASES} mutated files: each a success or a GgufError, each parse bounded`, async () => {
  console.log(`gguf-fuzz: seed ${SEED} (MCE_GGUF_FUZZ_SEED), ${CASES} cases`);
  const outcomes = new Map<string, number>();
  const bySize = new Map<string, number>();
  let slowest = { ms: 0, c: undefined as FuzzCase | undefined };
  const t0 = performance.now();
  const failures = new Map<string, string>(); // first line of the failure -> the first case with it
  for (let i = 0; i < CASES; i++) {
    const c = generateCase(bases, SEED, i);
    let run;
    try {
      run = await timed(c, () => readerOutcome(bases, c, i % REWRITE_EVERY === 0));
    } catch (e) {
      const what = String((e as Error).message).split("\n")[0].replace(/^case .* threw/, "threw");
      if (!failures.has(what)) failures.set(what, `${(e as Error).message.slice(0, 1500)}`);
      continue;
    }
    const { value, ms } = run;
    outcomes.set(value, (outcomes.get(value) ?? 0) + 1);
    bySize.set(c.base, (bySize.get(c.base) ?? 0) + 1);
    if (ms > slowest.ms) slowest = { ms, c };
  }
  const seconds = (performance.now() - t0) / 1000;
  const counts = [...outcomes].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ");
  console.log(
    `gguf-fuzz: ${CASES} files in ${seconds.toFixed(1)} s (${[...bySize].map((e) => e.join(" ")).join(", ")})`,
  );
  console.log(`gguf-fuzz: outcomes: ${counts}`);
  console.log(`gguf-fuzz: slowest ${slowest.ms.toFixed(1)} ms: ${JSON.stringify(slowest.c)}`);
  assert.equal(failures.size, 0, [...failures.values()].slice(0, 8).join("\n\n"));
  assert.ok(slowest.ms < PARSE_LIMIT_MS, `a parse took ${slowest.ms} ms`);
  // the mutations reach past the first checks: several distinct refusals, and some files still valid
  assert.ok(outcomes.size >= 5, counts);
  assert.ok((outcomes.get("ok") ?? 0) > CASES / 20, counts);
});

interface CorpusEntry {
  name: string;
  case: FuzzCase;
  reader: string;
  engine?: string;
}

test("the regression corpus replays to its recorded outcomes", async () => {
  const corpus = JSON.parse(readFileSync(new URL("../fixtures/gguf-fuzz/corpus.json", import.meta.url), "utf8")) as {
    seed: number;
    entries: CorpusEntry[];
  };
  assert.ok(corpus.entries.length >= 20);
  for (const e of corpus.entries) assert.equal(await readerOutcome(bases, e.case), e.reader, e.name);
});

test("a metadata value of every type survives the round trip the fuzzer relies on", async () => {
  // put_kv writes each value type; the reader gives it back (the fuzzer's type mutations are real)
  const types = [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12];
  for (const type of types) {
    const c: FuzzCase = { base: "mmproj", ops: [{ op: "put_kv", key: "general.fuzz", type, value: 7 }] };
    const h = await readGgufHeader(memorySource("t.gguf", caseFiles(bases, c)[0]));
    const v = h.metadata.get("general.fuzz");
    const want = type === ValueType.STRING ? "7" : type === ValueType.BOOL ? true : type >= 10 && type <= 11 ? 7n : 7;
    assert.deepEqual(v, want, `type ${type}`);
  }
});
