/**
 * Pillow's BICUBIC resampling (a = -0.5, support widened when shrinking = antialiasing,
 * separable: horizontal then vertical, 22-bit fixed point, 8-bit between the passes), ported
 * bit-exactly from llama.cpp's img_tool::resize_pillow (tools/mtmd/mtmd-image.cpp), itself
 * from Pillow's libImaging/Resample.c. The reference processor (PIL backend) does the same.
 */

/** 8-bit RGB, rows top to bottom, pixels interleaved. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

const PRECISION_BITS = 32 - 8 - 2;
const SUPPORT = 2.0;

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coefficients {
  ksize: number;
  /** per output pixel: first input index, count */
  bounds: Int32Array;
  weights: Int32Array;
}

function precompute(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = SUPPORT * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const pre = new Float64Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bicubic((x + xmin - center + 0.5) * ss);
      pre[xx * ksize + x] = w;
      ww += w;
    }
    if (ww !== 0) { for (let x = 0; x < xmax; x++) pre[xx * ksize + x] /= ww; }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  const fxp = 2 ** PRECISION_BITS;
  const weights = new Int32Array(outSize * ksize);
  // Pillow adds +-0.5 and truncates toward zero
  for (let i = 0; i < pre.length; i++) weights[i] = Math.trunc(pre[i] * fxp + (pre[i] < 0 ? -0.5 : 0.5));
  return { ksize, bounds, weights };
}

const clip8 = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

function horizontal(src: RgbImage, outW: number, c: Coefficients): RgbImage {
  const { width: inW, height: h, data } = src;
  const out = new Uint8Array(outW * h * 3);
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < h; y++) {
    const row = y * inW * 3;
    const orow = y * outW * 3;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = c.bounds[xx * 2];
      const xcnt = c.bounds[xx * 2 + 1];
      const k = xx * c.ksize;
      let s0 = half, s1 = half, s2 = half;
      let p = row + xmin * 3;
      for (let x = 0; x < xcnt; x++, p += 3) {
        const w = c.weights[k + x];
        s0 += data[p] * w;
        s1 += data[p + 1] * w;
        s2 += data[p + 2] * w;
      }
      out[orow + xx * 3] = clip8(s0 >> PRECISION_BITS);
      out[orow + xx * 3 + 1] = clip8(s1 >> PRECISION_BITS);
      out[orow + xx * 3 + 2] = clip8(s2 >> PRECISION_BITS);
    }
  }
  return { width: outW, height: h, data: out };
}

function vertical(src: RgbImage, outH: number, c: Coefficients): RgbImage {
  const rowElems = src.width * 3;
  const out = new Uint8Array(rowElems * outH);
  const acc = new Int32Array(rowElems);
  const half = 1 << (PRECISION_BITS - 1);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = c.bounds[yy * 2];
    const ycnt = c.bounds[yy * 2 + 1];
    acc.fill(half);
    for (let y = 0; y < ycnt; y++) {
      const w = c.weights[yy * c.ksize + y];
      const base = (ymin + y) * rowElems;
      for (let i = 0; i < rowElems; i++) acc[i] += src.data[base + i] * w;
    }
    const o = yy * rowElems;
    for (let i = 0; i < rowElems; i++) out[o + i] = clip8(acc[i] >> PRECISION_BITS);
  }
  return { width: src.width, height: outH, data: out };
}

/** Resizes (stretches) to exactly width x height. */
export function resizeBicubic(src: RgbImage, width: number, height: number): RgbImage {
  if (!(width > 0 && height > 0 && width <= 65536 && height <= 65536)) {
    throw new RangeError(`resize target ${width}x${height} is out of range`);
  }
  let img = src;
  if (width !== img.width) img = horizontal(img, width, precompute(img.width, width));
  if (height !== img.height) img = vertical(img, height, precompute(img.height, height));
  return img === src ? { ...src, data: src.data.slice() } : img;
}

/** Copies the w x h rectangle at (x, y). */
export function crop(src: RgbImage, x: number, y: number, w: number, h: number): RgbImage {
  const out = new Uint8Array(w * h * 3);
  for (let r = 0; r < h; r++) {
    const from = ((y + r) * src.width + x) * 3;
    out.set(src.data.subarray(from, from + w * 3), r * w * 3);
  }
  return { width: w, height: h, data: out };
}

/** (u8 / 255 - mean) / std per channel, interleaved float32 (the engine's tile input). */
export function normalize(img: RgbImage, mean = [0.5, 0.5, 0.5], std = [0.5, 0.5, 0.5]): Float32Array {
  const out = new Float32Array(img.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = i % 3;
    out[i] = (img.data[i] / 255 - mean[c]) / std[c];
  }
  return out;
}
