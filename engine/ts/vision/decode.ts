/**
 * Image bytes to 8-bit RGB, the same on every runtime (pure JS / WASM codecs, no native addon):
 * JPEG (jpeg-js), PNG (fast-png), WebP (@jsquash/webp), GIF first frame (omggif), BMP (bmp-js).
 * The size is read from the header first, so an oversized image is refused before its pixels are
 * decoded. Alpha is composited onto white and EXIF orientation applied (reference behaviour,
 * docs/input-pipeline.md, "Decode").
 */

import jpeg from "jpeg-js";
import { decode as decodePng } from "fast-png";
import { GifReader } from "omggif";
import bmp from "bmp-js";
import { imageSize } from "image-size";
import exifr from "exifr";
import { InvalidRequestError } from "../errors.ts";
import { readDependencyFile } from "../platform/index.ts";
import type { RgbImage } from "./resize.ts";

export interface DecodeOptions {
  /** refuse images with more pixels than this (default 50 million) */
  maxPixels?: number;
}

export const DEFAULT_MAX_PIXELS = 50_000_000;

type Format = "jpg" | "png" | "webp" | "gif" | "bmp";
const SUPPORTED = new Set<string>(["jpg", "png", "webp", "gif", "bmp"]);

const bad = (msg: string) => new InvalidRequestError(msg, "image");

/** Width, height and format from the header alone. */
export function probeImage(bytes: Uint8Array): { width: number; height: number; format: Format } {
  let info;
  try {
    info = imageSize(bytes);
  } catch {
    throw bad("the data is not a supported image (JPEG, PNG, WebP, GIF or BMP) or is corrupt");
  }
  if (!info.type || !SUPPORTED.has(info.type)) {
    throw bad(`unsupported image format ${info.type ?? "unknown"}; supported: JPEG, PNG, WebP, GIF, BMP`);
  }
  if (!info.width || !info.height) throw bad("the image has no size");
  return { width: info.width, height: info.height, format: info.type as Format };
}

export async function decodeImage(bytes: Uint8Array, options: DecodeOptions = {}): Promise<RgbImage> {
  const { width, height, format } = probeImage(bytes);
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (width * height > maxPixels) {
    throw bad(
      `the image is ${width}x${height} (${(width * height / 1e6).toFixed(1)} MP); the limit is ${
        (maxPixels / 1e6).toFixed(1)
      } MP`,
    );
  }
  let rgb: RgbImage;
  try {
    rgb = await decodePixels(bytes, format);
  } catch (e) {
    if (e instanceof InvalidRequestError) throw e;
    throw bad(`cannot decode the ${format.toUpperCase()} image: ${(e as Error).message}`);
  }
  if (format === "jpg" || format === "webp" || format === "png") {
    const orientation = await exifr.orientation(bytes).catch(() => undefined);
    if (orientation && orientation > 1 && orientation <= 8) rgb = orient(rgb, orientation);
  }
  return rgb;
}

async function decodePixels(bytes: Uint8Array, format: Format): Promise<RgbImage> {
  switch (format) {
    case "jpg": {
      const r = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048 });
      return { width: r.width, height: r.height, data: r.data as Uint8Array };
    }
    case "png": {
      const r = decodePng(bytes);
      return pngToRgb(r.width, r.height, r.data, r.channels, r.depth, r.palette);
    }
    case "gif": {
      const g = new GifReader(bytes);
      const rgba = new Uint8Array(g.width * g.height * 4);
      g.decodeAndBlitFrameRGBA(0, rgba);
      return rgbaOnWhite(g.width, g.height, rgba);
    }
    case "bmp": {
      // bmp-js returns ABGR bytes; alpha is not meaningful in most BMPs
      const r = bmp.decode(await toBuffer(bytes));
      const out = new Uint8Array(r.width * r.height * 3);
      for (let i = 0, o = 0; o < out.length; i += 4, o += 3) {
        out[o] = r.data[i + 3];
        out[o + 1] = r.data[i + 2];
        out[o + 2] = r.data[i + 1];
      }
      return { width: r.width, height: r.height, data: out };
    }
    case "webp": {
      const img = await decodeWebp(bytes);
      return rgbaOnWhite(img.width, img.height, new Uint8Array(img.data.buffer, img.data.byteOffset, img.data.length));
    }
  }
}

/** bmp-js reads and allocates with the global Buffer; browsers get the `buffer` package's. */
async function toBuffer(bytes: Uint8Array): Promise<Buffer> {
  const g = globalThis as { Buffer?: typeof Buffer };
  g.Buffer ??= (await import("buffer")).Buffer as unknown as typeof Buffer;
  return g.Buffer.from(bytes);
}

let webp: Promise<(b: ArrayBuffer) => Promise<{ width: number; height: number; data: Uint8ClampedArray }>> | undefined;
async function decodeWebp(bytes: Uint8Array) {
  webp ??= (async () => {
    const mod = await import("@jsquash/webp/decode.js");
    // on servers the codec's .wasm is compiled from node_modules; browsers fetch it by URL (null)
    const wasm = await readDependencyFile("@jsquash/webp/codec/dec/webp_dec.wasm");
    if (wasm) await mod.init(await WebAssembly.compile(wasm));
    return mod.default;
  })();
  const decode = await webp;
  return await decode(bytes.slice().buffer);
}

/** Pillow's alpha_composite over an opaque white background, then RGB. */
export function rgbaOnWhite(width: number, height: number, rgba: Uint8Array): RgbImage {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0, o = 0; o < out.length; i += 4, o += 3) {
    const a = rgba[i + 3];
    if (a === 255) {
      out[o] = rgba[i];
      out[o + 1] = rgba[i + 1];
      out[o + 2] = rgba[i + 2];
      continue;
    }
    const c1 = a * 128; // Pillow: coef1 = a * 255 * 255 * 2^7 / outa255, outa255 = 255 * 255 here
    const c2 = 255 * 128 - c1;
    for (let k = 0; k < 3; k++) {
      const t = rgba[i + k] * c1 + 255 * c2 + (0x80 << 7);
      out[o + k] = ((((t >> 8) + t) >> 8) >> 7) & 0xff;
    }
  }
  return { width, height, data: out };
}

function pngToRgb(
  width: number,
  height: number,
  data: ArrayLike<number>,
  channels: number,
  depth: number,
  palette?: number[][],
): RgbImage {
  const n = width * height;
  const rgba = new Uint8Array(n * 4).fill(255);
  const max = (1 << depth) - 1;
  const to8 = (v: number) => (depth === 8 ? v : depth === 16 ? v >> 8 : Math.round((v * 255) / max));
  for (let p = 0, o = 0; p < n; p++, o += 4) {
    if (palette) {
      const e = palette[data[p]] ?? [0, 0, 0];
      rgba[o] = e[0];
      rgba[o + 1] = e[1];
      rgba[o + 2] = e[2];
      if (e.length > 3) rgba[o + 3] = e[3];
    } else if (channels <= 2) {
      rgba[o] = rgba[o + 1] = rgba[o + 2] = to8(data[p * channels]);
      if (channels === 2) rgba[o + 3] = to8(data[p * 2 + 1]);
    } else {
      const i = p * channels;
      rgba[o] = to8(data[i]);
      rgba[o + 1] = to8(data[i + 1]);
      rgba[o + 2] = to8(data[i + 2]);
      if (channels === 4) rgba[o + 3] = to8(data[i + 3]);
    }
  }
  return rgbaOnWhite(width, height, rgba);
}

/** Applies EXIF orientation 2..8 (as Pillow's ImageOps.exif_transpose). */
export function orient(img: RgbImage, orientation: number): RgbImage {
  const { width: w, height: h, data } = img;
  const swap = orientation >= 5;
  const ow = swap ? h : w;
  const oh = swap ? w : h;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let nx: number, ny: number;
      switch (orientation) {
        case 2:
          nx = w - 1 - x;
          ny = y;
          break; // mirror horizontal
        case 3:
          nx = w - 1 - x;
          ny = h - 1 - y;
          break; // rotate 180
        case 4:
          nx = x;
          ny = h - 1 - y;
          break; // mirror vertical
        case 5:
          nx = y;
          ny = x;
          break; // transpose
        case 6:
          nx = h - 1 - y;
          ny = x;
          break; // rotate 90 clockwise
        case 7:
          nx = h - 1 - y;
          ny = w - 1 - x;
          break; // transverse
        default:
          nx = y;
          ny = w - 1 - x;
          break; // 8: rotate 90 counter-clockwise
      }
      const s = (y * w + x) * 3;
      const d = (ny * ow + nx) * 3;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  }
  return { width: ow, height: oh, data: out };
}
