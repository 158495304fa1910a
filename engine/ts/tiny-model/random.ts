/** Seeded random tensor data for test models: deterministic for a given seed on every runtime. */

import { TensorType, typeLayout } from "../gguf/format.ts";
import { toHalf } from "../gguf/half.ts";

/** xorshift128+ over two 32-bit halves, seeded by splitmix32; fast and platform-independent. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  constructor(seed: number) {
    const next = () => {
      seed = (seed + 0x9e3779b9) | 0;
      let z = seed;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
  }
  /** uniform uint32 (xoshiro128**) */
  u32(): number {
    const r = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return r;
  }
  /** uniform in [0, 1) */
  float(): number {
    return this.u32() / 4294967296;
  }
  /** approximately standard normal (sum of uniforms; cheap and bounded) */
  normal(): number {
    return (this.float() + this.float() + this.float() + this.float() - 2) * 1.7320508;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** How a tensor's values are drawn. */
export type Init =
  | { kind: "normal"; std: number; mean?: number }
  | { kind: "const"; value: number };

const CHUNK_ELEMS = 1 << 20;

/**
 * The bytes of a tensor of `count` elements in `type`, in chunks. Quantized types get random
 * blocks whose dequantized values have roughly the requested spread; they are random weights,
 * not a quantization of some float tensor.
 */
export function* tensorChunks(type: number, count: number, init: Init, rng: Rng): Generator<Uint8Array> {
  const [blockElems, blockBytes] = typeLayout(type)!;
  const draw = () => init.kind === "const" ? init.value : (init.mean ?? 0) + init.std * rng.normal();
  const std = init.kind === "normal" ? init.std : Math.abs(init.value);
  for (let start = 0; start < count; start += CHUNK_ELEMS) {
    const n = Math.min(CHUNK_ELEMS, count - start);
    if (type === TensorType.F32) {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = draw();
      yield new Uint8Array(out.buffer);
    } else if (type === TensorType.F16) {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = toHalf(draw());
      yield new Uint8Array(out.buffer);
    } else {
      const blocks = n / blockElems;
      const out = new Uint8Array(blocks * blockBytes);
      const view = new DataView(out.buffer);
      for (let b = 0; b < blocks; b++) randomBlock(type, out, view, b * blockBytes, std, rng);
      yield out;
    }
  }
}

function randomBytes(out: Uint8Array, from: number, to: number, rng: Rng) {
  for (let i = from; i < to; i += 4) {
    const r = rng.u32();
    for (let k = 0; k < 4 && i + k < to; k++) out[i + k] = (r >>> (8 * k)) & 0xff;
  }
}

/** One random block. Layouts from ggml-common.h. */
function randomBlock(type: number, out: Uint8Array, view: DataView, o: number, std: number, rng: Rng) {
  switch (type) {
    case TensorType.Q8_0: // d (f16), qs[32] int8; int8 uniform has std ~73
      view.setUint16(o, toHalf(std / 73), true);
      randomBytes(out, o + 2, o + 34, rng);
      return;
    case TensorType.Q4_K: { // d, dmin (f16), scales[12] (6-bit), qs[128] (4-bit): w = d*sc*q - dmin*m
      const d = std / 200;
      view.setUint16(o, toHalf(d), true);
      view.setUint16(o + 2, toHalf(7.5 * d), true); // E[sc*q] = 7.5 E[m]: zero mean
      randomBytes(out, o + 4, o + 144, rng);
      return;
    }
    case TensorType.Q6_K: { // ql[128], qh[64], scales[16] int8, d (f16)
      randomBytes(out, o, o + 192, rng);
      for (let i = 0; i < 16; i++) out[o + 192 + i] = 16 + (rng.u32() % 48); // positive scales 16..63
      view.setUint16(o + 208, toHalf(std / 700), true);
      return;
    }
    default:
      throw new Error(`no random block generator for ggml type ${type}`);
  }
}
