/**
 * Fuzzed model files through the real engine load (issue 17, point 6): a seeded sample of
 * mutated GGUF files (tests/fixtures/gguf-fuzz/fuzzer.ts, weighted toward mutations the TS
 * validator lets through, so they reach llama.cpp's loaders inside wasm) written to a temporary
 * directory and loaded by path with Model.load and VisionModel.load. Each must be a typed error (GgufError, MemoryBudgetError,
 * EngineError) or a successful load; an engine that crashes says so (engine_crashed) and a new
 * one loads the base model. The corpus's recorded engine outcomes replay too.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import { test } from "node:test";
import { Engine, EngineError, GgufError, MemoryBudgetError, Model, VisionModel } from "../mod.ts";
import {
  type Bases,
  buildBases,
  caseFileNames,
  caseFiles,
  type FuzzCase,
  generateCase,
} from "./fixtures/gguf-fuzz/fuzzer.ts";

const SEED = Number(process.env.MCE_GGUF_FUZZ_ENGINE_SEED ?? 0x6775e6);
const SAMPLE = Number(process.env.MCE_GGUF_FUZZ_ENGINE_CASES ?? 520);
const LOAD_LIMIT_MS = 20_000;

const bases = buildBases();

const dir = mkdtempSync(`${tmpdir()}/gguf-fuzz-`);
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

/** Writes a case's files (the split set under llama.cpp's names) and returns the path to load. */
function writeCase(b: Bases, c: FuzzCase): string {
  const names = caseFileNames(c);
  caseFiles(b, c).forEach((bytes, i) => writeFileSync(`${dir}/${names[i]}`, bytes));
  return `${dir}/${names[0]}`;
}

/** Loads a case's files by path; the outcome is "ok" or the typed error's code. Other errors are thrown. */
async function loadOutcome(engine: Engine, b: Bases, c: FuzzCase): Promise<string> {
  const path = writeCase(b, c);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`load did not finish in ${LOAD_LIMIT_MS} ms`)), LOAD_LIMIT_MS);
  });
  try {
    const load = c.base === "mmproj"
      ? VisionModel.load(engine, path, { weights: "as-is" }).then((v) => v.close())
      : Model.load(engine, path).then((m) => m.close());
    await Promise.race([load, hang]);
    return "ok";
  } catch (e) {
    if (e instanceof GgufError) return e.code;
    if (e instanceof MemoryBudgetError) return e.code;
    if (e instanceof EngineError) return e.code;
    throw new Error(`case ${JSON.stringify(c)} failed with an untyped error: ${(e as Error)?.stack ?? e}`);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs cases on one engine, replacing it after a crash (and checking the replacement loads the base). */
async function runCases(cases: FuzzCase[]): Promise<{ outcomes: string[]; crashes: FuzzCase[] }> {
  let engine = await Engine.create({ threads: 2, logLevel: "none" });
  const outcomes: string[] = [];
  const crashes: FuzzCase[] = [];
  try {
    for (const c of cases) {
      const outcome = await loadOutcome(engine, bases, c);
      outcomes.push(outcome);
      if (outcome === "engine_crashed" || !engine.alive) {
        crashes.push(c);
        engine.terminate();
        engine = await Engine.create({ threads: 2, logLevel: "none" });
        assert.equal(await loadOutcome(engine, bases, { base: c.base, ops: [] }), "ok", "a new engine loads the base");
      }
    }
  } finally {
    engine.terminate();
  }
  return { outcomes, crashes };
}

test("the base models load in the engine (the fuzz starts from valid files)", async () => {
  const engine = await Engine.create({ threads: 2, logLevel: "none" });
  try {
    const model = await Model.load(engine, writeCase(bases, { base: "llm", ops: [] }));
    assert.equal(model.info.nEmbd, 64);
    assert.ok((await model.tokenize("the cat\n")).length > 0);
    await model.close();
    for (const base of ["split", "mmproj"] as const) {
      assert.equal(await loadOutcome(engine, bases, { base, ops: [] }), "ok", base);
    }
  } finally {
    engine.terminate();
  }
});

test(`${SAMPLE} mutated files through the engine load: typed errors or loads, no hang`, async () => {
  console.log(`gguf-fuzz-engine: seed ${SEED} (MCE_GGUF_FUZZ_ENGINE_SEED), ${SAMPLE} cases`);
  const cases = Array.from(
    { length: SAMPLE },
    (_, i) => generateCase(bases, SEED, i, { structural: 0.8, bytesToo: 0.1 }),
  );
  const t0 = performance.now();
  const { outcomes, crashes } = await runCases(cases);
  const counts = new Map<string, number>();
  for (const o of outcomes) counts.set(o, (counts.get(o) ?? 0) + 1);
  const summary = [...counts].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(", ");
  console.log(`gguf-fuzz-engine: ${SAMPLE} loads in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${summary}`);
  for (const c of crashes.slice(0, 40)) console.log(`gguf-fuzz-engine: engine crash: ${JSON.stringify(c)}`);
  const reached = outcomes.filter((o) => o === "ok" || o === "load_failed" || o === "engine_crashed").length;
  console.log(`gguf-fuzz-engine: ${reached} passed the TS validator and reached the wasm loaders`);
  assert.ok(reached >= SAMPLE / 4, `only ${reached} cases reached the engine: ${summary}`);
  assert.equal(crashes.length, 0, `the engine crashed on ${crashes.length} files, e.g. ${JSON.stringify(crashes[0])}`);
});

test("the corpus's recorded engine outcomes replay", async () => {
  const corpus = JSON.parse(readFileSync(new URL("./fixtures/gguf-fuzz/corpus.json", import.meta.url), "utf8")) as {
    entries: { name: string; case: FuzzCase; engine?: string }[];
  };
  const withEngine = corpus.entries.filter((e) => e.engine !== undefined);
  assert.ok(withEngine.length >= 10);
  const { outcomes } = await runCases(withEngine.map((e) => e.case));
  withEngine.forEach((e, i) => assert.equal(outcomes[i], e.engine, e.name));
});
