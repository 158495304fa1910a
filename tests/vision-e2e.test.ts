/**
 * Image understanding end to end through the real engine with the tiny pair: identical tokens
 * on Deno, Bun and Node, token accounting, several images, 16x/4x per request, the encode cache,
 * and bad images that leave the engine usable.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { encode as encodePng } from "fast-png";
import { Engine, InvalidRequestError } from "../mod.ts";
import { type Message, MiniCPMV } from "../engine/ts/minicpmv.ts";
import type { MediaInput } from "../engine/ts/media-source.ts";
import { renderChat } from "../engine/ts/chat/template.ts";
import { browserRun, maxRelativeError, models, runCli, type RuntimeName } from "./helpers.ts";
import { evaluate } from "../engine/ts/generate.ts";
import { nativeEvaluate } from "./parity-runs.ts";
import { decodeImage } from "../engine/ts/vision/decode.ts";
import bmp from "bmp-js";
import { readFileSync as readBytes, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";

const QUESTION = "What is in the image?";
let engine: Engine;
let mm: MiniCPMV;
let jpeg: Uint8Array;

before(async () => {
  engine = await Engine.create({ threads: 2, logLevel: "error" });
  mm = await MiniCPMV.load(engine, { model: models().llm, mmproj: models().mmproj16x, contextSize: 4096 });
  jpeg = new Uint8Array(readBytes(models().testJpeg));
});
after(() => engine.terminate());

const ask = (image: MediaInput, text = QUESTION): Message[] => [
  { role: "user", content: [{ type: "image", image }, { type: "text", text }] },
];

test("test-1.jpeg on Deno, Bun and Node: identical greedy tokens and image token counts", async () => {
  const args = [
    "generate",
    "--model",
    models().llm,
    "--mmproj",
    models().mmproj16x,
    "--image",
    models().testJpeg,
    "--prompt",
    QUESTION,
    "--temp",
    "0",
    "--max-tokens",
    "10",
    "--threads",
    "2",
    "--json",
  ];
  const outs = await Promise.all((["deno", "bun", "node"] as RuntimeName[]).map(async (rt) => {
    const r = await runCli(rt, args);
    assert.equal(r.code, 0, `${rt}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }));
  for (const o of outs) {
    assert.equal(o.usage.image_tokens, 183); // 504x392 overview (63) + 1x2 slices of 336x560 (60 each)
    assert.deepEqual(o.images[0].grid, { rows: 1, cols: 2 });
    assert.deepEqual(o.tokens, outs[0].tokens);
    assert.equal(o.usage.prompt_tokens, outs[0].usage.prompt_tokens);
  }
  assert.equal(outs[0].tokens.length, 10);
});

test("prompt tokens = the plan's image tokens + markup + text tokens", async () => {
  const run = await mm.chat(ask(jpeg), { temperature: 0, maxTokens: 1 });
  await run.generation.result;
  const textOnly = renderChat(mm.model.info.chatTemplate!, [{
    role: "user",
    content: [{ type: "image" }, { type: "text", text: QUESTION }],
  }])
    .replace("<|image_pad|>", "");
  const textTokens = (await mm.model.tokenize(textOnly)).length;
  // <image_id> 0 </image_id> <image> </image> and two slices <slice> </slice> in one row
  const markup = 3 + 2 + 2 * 2;
  assert.equal(run.plans[0].imageTokens, 183);
  assert.equal(run.promptTokens, 183 + markup + textTokens);
  assert.equal((await run.generation.result).usage.promptTokens, run.promptTokens);
});

test("two images in one prompt get ids 0 and 1", async () => {
  const png = encodePng({ width: 300, height: 200, data: new Uint8Array(300 * 200 * 3).fill(90), channels: 3 });
  const run = await mm.chat([{
    role: "user",
    content: [
      { type: "image", image: jpeg },
      { type: "image", image: png },
      { type: "text", text: "Compare them." },
    ],
  }], { temperature: 0, maxTokens: 4 });
  const r = await run.generation.result;
  assert.equal(run.plans.length, 2);
  assert.equal(run.plans[1].imageTokens, 70); // 300x200 upscaled to 560x392, not sliced
  assert.equal(run.media.imageTokens, 183 + 70);
  const text = mm.model.detokenize(run.prompt.tokens, { special: true });
  const first = text.indexOf("<image_id>0</image_id><image>");
  const second = text.indexOf("</slice><image_id>1</image_id><image>");
  assert.ok(first >= 0 && second > first, text.replace(/(<\|image_pad\|>)+/g, "[P]"));
  assert.equal(text.indexOf("<image_id>2</image_id>"), -1);
  assert.equal(run.prompt.embeddings!.length, 3 + 1); // tiles: overview + 2 slices, then one overview
  assert.equal(r.tokens.length, 4);
});

test("16x and 4x alternate on one loaded model; the encode cache serves repeats", async () => {
  const results: Record<string, number[]> = {};
  for (const mode of ["16x", "4x", "16x", "4x"] as const) {
    const run = await mm.chat(ask(jpeg), { temperature: 0, maxTokens: 6, downsampleMode: mode });
    const r = await run.generation.result;
    assert.equal(run.media.imageTokens, mode === "16x" ? 183 : 732);
    if (results[mode]) {
      assert.deepEqual(r.tokens, results[mode]);
      assert.equal(run.media.tilesEncoded, 0);
      assert.equal(run.media.tilesCached, 3);
    }
    results[mode] = r.tokens;
  }
});

test("a corrupt and an oversized image are refused; the next request works", async () => {
  const broken = jpeg.slice(0, 400);
  await assert.rejects(mm.chat(ask(broken)), InvalidRequestError);
  await assert.rejects(mm.chat(ask(jpeg), { maxImagePixels: 100_000 }), /limit is 0\.1 MP/);
  await assert.rejects(mm.chat(ask(jpeg), { downsampleMode: "2x" as "4x" }), /downsample_mode/);
  const run = await mm.chat(ask(jpeg), { temperature: 0, maxTokens: 3 });
  assert.equal((await run.generation.result).tokens.length, 3);
});

test("images as a data URL, a file path and an http URL (served locally)", async () => {
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => {
    if (req.url === "/photo.jpg") res.writeHead(200, { "content-type": "image/jpeg" }).end(jpeg);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const dataUrl = `data:image/jpeg;base64,${btoa(String.fromCharCode(...jpeg))}`;
    const results = [];
    for (const image of [dataUrl, models().testJpeg, `${base}/photo.jpg`]) {
      results.push((await (await mm.chat(ask(image), { temperature: 0, maxTokens: 5 })).generation.result).tokens);
    }
    assert.deepEqual(results[1], results[0]);
    assert.deepEqual(results[2], results[0]);
    await assert.rejects(
      mm.chat(ask(`${base}/missing.jpg`)),
      (e: unknown) => e instanceof InvalidRequestError && /HTTP 404/.test(e.message),
    );
    await assert.rejects(
      mm.chat(ask(`${base}/photo.jpg`), { fetch: { maxBytes: 1000 } }),
      /limit is 1000|exceeds 1000/,
    );
  } finally {
    server.close();
  }
});

test("the browser decodes (JPEG, BMP), slices and encodes the image like Node", async () => {
  const node = await runCli("node", [
    "generate",
    "--model",
    models().llm,
    "--mmproj",
    models().mmproj16x,
    "--image",
    models().testJpeg,
    "--prompt",
    QUESTION,
    "--temp",
    "0",
    "--max-tokens",
    "8",
    "--ctx-size",
    "1024",
    "--json",
  ]);
  assert.equal(node.code, 0, node.stderr);
  // the same pixels as a BMP (decoded here, re-encoded with bmp-js): same tokens expected
  const img = await decodeImage(jpeg);
  const abgr = new Uint8Array(img.width * img.height * 4);
  for (let p = 0; p < img.width * img.height; p++) {
    abgr.set([255, img.data[p * 3 + 2], img.data[p * 3 + 1], img.data[p * 3]], p * 4);
  }
  const bmpFile = `${tmpdir()}/mce-test-${process.pid}.bmp`;
  writeFileSync(bmpFile, bmp.encode({ data: Buffer.from(abgr), width: img.width, height: img.height }).data);
  try {
    for (const image of [models().testJpeg, bmpFile]) {
      const page = await browserRun([models().llm, QUESTION, "8", models().mmproj16x, image]);
      assert.equal(page.imageTokens, 183);
      assert.deepEqual(page.tokens, JSON.parse(node.stdout).tokens, image);
    }
  } finally {
    rmSync(bmpFile);
  }
});

test("image-prompt logits agree with native llama.cpp decoding the same embeddings", async () => {
  for (const mode of ["16x", "4x"] as const) {
    const run = await mm.chat(ask(jpeg), { temperature: 0, maxTokens: 0, downsampleMode: mode });
    await run.generation.result;
    const wasm = await evaluate(mm.context, run.prompt);
    // the same tokens and embeddings, decoded natively
    const native = await nativeEvaluate(models().llm, mm.model.info.nEmbd, run.prompt);
    const err = maxRelativeError(wasm, native);
    assert.ok(err <= 1e-3, `${mode}: max relative error ${err}`);
  }
});
