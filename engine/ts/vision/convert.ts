/**
 * Rewrites an mmproj with its F16 matrices as Q8_0 (F32 where a row length is not a multiple of
 * 32, e.g. SigLIP's 4304-wide ffn_down): WASM has fast Q8_0 and F32 kernels, while its F16 path
 * is scalar-bound. Metadata and all other tensors are copied unchanged; streamed, tensor by tensor.
 */

import { tensorBytes, TensorType } from "../gguf/format.ts";
import type { ByteSource } from "../gguf/reader.ts";
import { readGgufHeader } from "../gguf/reader.ts";
import { type ByteSink, headerKvs, type TensorData, writeGguf } from "../gguf/writer.ts";
import { halfToFloatTable, toHalf } from "../gguf/half.ts";

/** ggml's quantize_row_q8_0_ref: per 32 values d = amax / 127, q = round(x / d) (ties away). */
function quantizeQ8_0(x: Float32Array, out: Uint8Array) {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[b * 32 + i]));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    view.setUint16(b * 34, toHalf(d), true);
    for (let i = 0; i < 32; i++) {
      const v = x[b * 32 + i] * id;
      view.setInt8(b * 34 + 2 + i, Math.sign(v) * Math.floor(Math.abs(v) + 0.5)); // roundf
    }
  }
}

const ROWS_PER_CHUNK = 256;

/** The tensors the rewrite changes: F16 matrices. A file without any is used as it is. */
export const isF16Matrix = (t: { type: TensorType; shape: number[] }) =>
  t.type === TensorType.F16 && t.shape.length === 2;

export async function convertMmprojToQ8(src: ByteSource, sink: ByteSink): Promise<{ q8: number; f32: number }> {
  const h = await readGgufHeader(src);
  let q8 = 0;
  let f32 = 0;
  const tensors: TensorData[] = h.tensors.map((t) => {
    const srcOffset = h.dataOffset + t.offset;
    const bytes = tensorBytes(t.type, t.shape)!;
    if (!isF16Matrix(t)) {
      return {
        ...t,
        chunks: async function* () {
          for (let o = 0; o < bytes; o += 1 << 24) yield await src.read(srcOffset + o, Math.min(1 << 24, bytes - o));
        },
      };
    }
    const [cols, rows] = t.shape;
    const type = cols % 32 === 0 ? TensorType.Q8_0 : TensorType.F32;
    if (type === TensorType.Q8_0) q8++;
    else f32++;
    return {
      name: t.name,
      shape: t.shape,
      type,
      chunks: async function* () {
        for (let r = 0; r < rows; r += ROWS_PER_CHUNK) {
          const n = Math.min(ROWS_PER_CHUNK, rows - r);
          const raw = await src.read(srcOffset + r * cols * 2, n * cols * 2);
          const half = new Uint16Array(raw.slice().buffer);
          const x = new Float32Array(half.length);
          const toFloat = halfToFloatTable();
          for (let i = 0; i < half.length; i++) x[i] = toFloat[half[i]];
          if (type === TensorType.F32) {
            yield new Uint8Array(x.buffer);
          } else {
            const out = new Uint8Array((x.length / 32) * 34);
            quantizeQ8_0(x, out);
            yield out;
          }
        }
      },
    };
  });
  await writeGguf(sink, headerKvs(h), tensors, h.alignment);
  return { q8, f32 };
}
