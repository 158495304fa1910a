/**
 * Vision encoder parity: for the same preprocessed tile, WASM embeddings equal native llama.cpp
 * embeddings (tests/oracle/oracle.cpp encode) within 1e-3 relative, in 16x and in 4x; 4x from
 * the 16x file equals the 4x file's output.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { after, before, test } from "node:test";
import { Engine, EngineError, InvalidRequestError } from "../mod.ts";
import { VisionModel } from "../engine/ts/vision/vision-model.ts";
import { rowCosines } from "../engine/ts/vision/similarity.ts";
import { Rng } from "../engine/ts/tiny-model/random.ts";
import { TINY_VISION, visionMetadata, visionTensors } from "../engine/ts/tiny-model/generate.ts";
import { TensorType } from "../engine/ts/gguf/format.ts";
import { writeGguf } from "../engine/ts/gguf/writer.ts";
import { createFileSink } from "../engine/ts/platform/index.ts";
import { maxRelativeError, models, nativeBin, run } from "./helpers.ts";

const TOLERANCE = 1e-3;
let engine: Engine;
let v16: VisionModel;
let v4: VisionModel;
let dir: string;

before(async () => {
  engine = await Engine.create({ threads: 2, logLevel: "error" });
  v16 = await VisionModel.load(engine, models().mmproj16x);
  v4 = await VisionModel.load(engine, models().mmproj4x);
  dir = mkdtempSync(`${tmpdir()}/mce-vision-`);
});
after(() => {
  engine.terminate();
  rmSync(dir, { recursive: true, force: true });
});

function randomTile(width: number, height: number, seed: number) {
  const rng = new Rng(seed);
  return { width, height, data: Float32Array.from({ length: width * height * 3 }, () => rng.float() * 2 - 1) };
}

async function nativeEncode(
  mmproj: string,
  tile: { width: number; height: number; data: Float32Array },
  merge: number,
) {
  const inp = `${dir}/tile-${tile.width}x${tile.height}.f32`;
  const out = `${dir}/embd.f32`;
  writeFileSync(inp, new Uint8Array(tile.data.buffer));
  const r = await run(nativeBin("oracle"), [
    "encode",
    "--mmproj",
    mmproj,
    "--tile",
    inp,
    "--width",
    String(tile.width),
    "--height",
    String(tile.height),
    "--merge",
    String(merge),
    "--out",
    out,
  ]);
  assert.equal(r.code, 0, r.stderr);
  return {
    ...JSON.parse(r.stdout) as { n_tokens: number; n_embd: number },
    embd: new Float32Array(readFileSync(out).buffer.slice(0)),
  };
}

for (const [w, h] of [[448, 448], [504, 392], [336, 560]]) {
  for (const [mode, merge] of [["16x", 4], ["4x", 2]] as const) {
    test(`WASM encoder equals native: ${w}x${h} tile, ${mode}`, async () => {
      const tile = randomTile(w, h, w * 7 + h);
      const native = await nativeEncode(models().mmproj16x, tile, merge);
      const wasm = await v16.encodeTile(tile, mode);
      assert.equal(native.n_tokens, (w / 14) * (h / 14) / (merge * merge));
      assert.equal(wasm.length, native.n_tokens * native.n_embd);
      const err = maxRelativeError(wasm, native.embd);
      assert.ok(err <= TOLERANCE, `max relative error ${err}`);
    });
  }
}

test("4x from the 16x file equals the 4x file", async () => {
  const tile = randomTile(448, 448, 9);
  const a = await v16.encodeTile(tile, "4x");
  const b = await v4.encodeTile(tile, "4x");
  assert.deepEqual(a, b);
});

test("16x and 4x alternate on one loaded model with stable results", async () => {
  const tile = randomTile(448, 448, 11);
  const first16 = await v16.encodeTile(tile, "16x");
  const first4 = await v16.encodeTile(tile, "4x");
  assert.equal(first16.length * 4, first4.length);
  assert.deepEqual(await v16.encodeTile(tile, "16x"), first16);
  assert.deepEqual(await v16.encodeTile(tile, "4x"), first4);
});

test("16x on a 4x-only file and bad tiles give clear errors", async () => {
  await assert.rejects(v4.encodeTile(randomTile(448, 448, 1), "16x"), InvalidRequestError);
  await assert.rejects(
    v16.encodeTile(randomTile(450, 448, 1), "16x"),
    (e: unknown) => e instanceof EngineError && /not a multiple of 56/.test(e.message),
  );
  await assert.rejects(v16.encodeTile({ width: 448, height: 448, data: new Float32Array(3) }), InvalidRequestError);
  // still usable afterwards
  assert.equal((await v16.encodeTile(randomTile(448, 448, 2), "16x")).length, 64 * v16.info.nEmbd);
});

// Q8_0 weights re-quantise every activation to 8 bits, which turns float rounding differences
// (x86 vs wasm summation order) into whole quantisation steps: native llama.cpp with and without
// AVX differs as much on the same converted file (1.8e-2 max relative on the real-shape mmproj).
// So WASM vs native on converted weights is held to cosine, not to the 1e-3 of the F32/F16 paths.
const Q8_NATIVE_COSINE = 0.999;
const Q8_TO_F16_COSINE = 0.999;

test("Q8_0 vision weights: converted once and reused, close to F16 and equal to native on the same file", async () => {
  // an F16 mmproj whose ffn_down rows (100) are not a multiple of 32: those become F32
  const shape = { ...TINY_VISION, ff: 100, matrixType: TensorType.F16 };
  const f16 = `${dir}/tiny-f16.gguf`;
  await writeGguf(
    await createFileSink(f16),
    visionMetadata(shape, 64, "16x", "f16"),
    visionTensors(shape, 64, "16x", 5),
  );
  const converted = `${dir}/converted`;
  const q8 = await VisionModel.load(engine, f16, { convertedDir: converted }); // q8_0 is the default
  const [file] = readdirSync(converted);
  const made = statSync(`${converted}/${file}`).mtimeMs;
  const fp = await VisionModel.load(engine, f16, { weights: "as-is" });
  const tile = randomTile(448, 448, 21);
  for (const [mode, merge] of [["16x", 4], ["4x", 2]] as const) {
    const wasm = await q8.encodeTile(tile, mode);
    const toF16 = rowCosines(wasm, await fp.encodeTile(tile, mode), q8.info.nEmbd).min;
    assert.ok(toF16 > Q8_TO_F16_COSINE, `${mode}: cosine to F16 ${toF16}`);
    const native = await nativeEncode(`${converted}/${file}`, tile, merge);
    const toNative = rowCosines(wasm, native.embd, q8.info.nEmbd).min;
    assert.ok(toNative > Q8_NATIVE_COSINE, `${mode}: cosine to native on the Q8_0 file ${toNative}`);
  }
  await VisionModel.load(engine, f16, { weights: "q8_0", convertedDir: converted });
  assert.equal(statSync(`${converted}/${file}`).mtimeMs, made, "the converted file is reused");
  // a file without F16 matrices (the tiny F32 mmproj) is loaded as it is
  await VisionModel.load(engine, models().mmproj16x, { convertedDir: `${dir}/unused` });
  assert.throws(() => statSync(`${dir}/unused`), "nothing converted");
});
