/** Image decoding: every format to RGB, alpha onto white, EXIF orientation, limits and errors. */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";
import { encode as encodePng } from "fast-png";
import { GifWriter } from "omggif";
import bmp from "bmp-js";
import { decodeImage, probeImage } from "../engine/ts/vision/decode.ts";
import { InvalidRequestError } from "../mod.ts";
import { models } from "./helpers.ts";

const W = 6;
const H = 4;
/** distinct opaque colours per pixel */
const pixel = (x: number, y: number) => [x * 40, y * 60, 255 - x * 20];

function rgba(alpha: (x: number, y: number) => number = () => 255) {
  const out = new Uint8Array(W * H * 4);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out.set([...pixel(x, y), alpha(x, y)], (y * W + x) * 4);
  return out;
}

function assertPixels(img: { width: number; height: number; data: Uint8Array }, expected = pixel) {
  assert.equal(img.width, W);
  assert.equal(img.height, H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      assert.deepEqual([...img.data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3)], expected(x, y), `(${x},${y})`);
    }
  }
}

test("PNG: RGB exactly, alpha composited onto white like Pillow", async () => {
  assertPixels(await decodeImage(encodePng({ width: W, height: H, data: rgba(), channels: 4 })));
  const img = await decodeImage(
    encodePng({ width: W, height: H, data: rgba((x) => [0, 128, 255][x % 3]), channels: 4 }),
  );
  assert.deepEqual([...img.data.subarray(0, 3)], [255, 255, 255]); // alpha 0: white
  const half = (c: number) => Math.round((c * 128 + 255 * 127) / 255); // alpha 128, rounded like Pillow
  assert.deepEqual([...img.data.subarray(3, 6)], pixel(1, 0).map(half));
  assert.deepEqual([...img.data.subarray(6, 9)], pixel(2, 0)); // alpha 255: unchanged
});

test("GIF: first frame through its palette", async () => {
  const palette = Array.from(
    { length: 32 },
    (_, i) =>
      i < W * H
        ? (pixel(i % W, Math.floor(i / W))[0] << 16) | (pixel(i % W, Math.floor(i / W))[1] << 8) |
          pixel(i % W, Math.floor(i / W))[2]
        : 0,
  );
  const buf = new Uint8Array(1024);
  const gw = new GifWriter(buf, W, H, { palette });
  gw.addFrame(0, 0, W, H, Array.from({ length: W * H }, (_, i) => i));
  assertPixels(await decodeImage(buf.subarray(0, gw.end())));
});

test("BMP", async () => {
  const abgr = new Uint8Array(W * H * 4);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [r, g, b] = pixel(x, y);
      abgr.set([255, b, g, r], (y * W + x) * 4);
    }
  }
  const file = bmp.encode({ data: Buffer.from(abgr), width: W, height: H });
  assertPixels(await decodeImage(new Uint8Array(file.data)));
});

test("WebP (lossless)", async () => {
  const enc = await import("@jsquash/webp/encode.js");
  const wasm = createRequire(import.meta.url).resolve("@jsquash/webp/codec/enc/webp_enc.wasm");
  await enc.init(await WebAssembly.compile(readFileSync(wasm)));
  const file = await enc.default(
    { width: W, height: H, data: new Uint8ClampedArray(rgba()), colorSpace: "srgb" } as ImageData,
    { lossless: 1 },
  );
  assertPixels(await decodeImage(new Uint8Array(file)));
});

/** Inserts an EXIF APP1 segment with the given orientation after the JPEG SOI marker. */
function withOrientation(jpeg: Uint8Array, orientation: number): Uint8Array {
  const tiff = [0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0, 0, 0, 0, 0];
  const payload = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff];
  const len = payload.length + 2;
  return new Uint8Array([0xff, 0xd8, 0xff, 0xe1, len >> 8, len & 255, ...payload, ...jpeg.subarray(2)]);
}

test("JPEG, and EXIF orientation 6 (rotate 90 clockwise) and 3 (180)", async () => {
  const bytes = new Uint8Array(readFileSync(models().testJpeg));
  const plain = await decodeImage(bytes);
  assert.deepEqual([plain.width, plain.height], [640, 488]);
  const px = (
    img: typeof plain,
    x: number,
    y: number,
  ) => [...img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3)];
  const r6 = await decodeImage(withOrientation(bytes, 6));
  assert.deepEqual([r6.width, r6.height], [488, 640]);
  assert.deepEqual(px(r6, 0, 0), px(plain, 0, 487)); // the bottom-left corner comes to the top-left
  assert.deepEqual(px(r6, 487, 0), px(plain, 0, 0));
  const r3 = await decodeImage(withOrientation(bytes, 3));
  assert.deepEqual(px(r3, 0, 0), px(plain, 639, 487));
});

test("an oversized image is refused from its header, before decoding", async () => {
  const png = encodePng({ width: W, height: H, data: rgba(), channels: 4 });
  const big = png.slice();
  new DataView(big.buffer).setUint32(16, 20000); // IHDR width
  new DataView(big.buffer).setUint32(20, 20000); // IHDR height (CRC now wrong: decoding would fail)
  assert.deepEqual(probeImage(big), { width: 20000, height: 20000, format: "png" });
  await assert.rejects(
    decodeImage(big),
    (e: unknown) =>
      e instanceof InvalidRequestError && /20000x20000 \(400\.0 MP\); the limit is 50\.0 MP/.test(e.message),
  );
  await assert.rejects(decodeImage(png, { maxPixels: 10 }), /limit is 0\.0 MP/);
});

test("corrupt and unsupported data give clear errors", async () => {
  await assert.rejects(decodeImage(new TextEncoder().encode("hello, not an image")), /not a supported image/);
  const svg = new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>');
  await assert.rejects(decodeImage(svg), /unsupported image format svg/);
  const jpeg = new Uint8Array(readFileSync(models().testJpeg));
  const broken = jpeg.slice();
  broken.fill(0, 700, 6000); // header intact, entropy-coded data destroyed
  await assert.rejects(decodeImage(broken), InvalidRequestError);
});
