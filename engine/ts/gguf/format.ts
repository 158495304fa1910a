/** GGUF file-format constants (ggml/include/gguf.h, ggml/src/ggml.c type traits). */

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_DEFAULT_ALIGNMENT = 32;
export const SUPPORTED_VERSIONS = [2, 3];

export enum ValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** ggml tensor types used by MiniCPM-V files (ids from ggml.h). */
export enum TensorType {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30,
}

/** [elements per block, bytes per block] */
const TYPE_LAYOUT: Record<number, [number, number]> = {
  [TensorType.F32]: [1, 4],
  [TensorType.F16]: [1, 2],
  [TensorType.BF16]: [1, 2],
  [TensorType.Q4_0]: [32, 18],
  [TensorType.Q4_1]: [32, 20],
  [TensorType.Q5_0]: [32, 22],
  [TensorType.Q5_1]: [32, 24],
  [TensorType.Q8_0]: [32, 34],
  [TensorType.Q2_K]: [256, 84],
  [TensorType.Q3_K]: [256, 110],
  [TensorType.Q4_K]: [256, 144],
  [TensorType.Q5_K]: [256, 176],
  [TensorType.Q6_K]: [256, 210],
};

export function typeLayout(type: number): [number, number] | undefined {
  return TYPE_LAYOUT[type];
}

/**
 * Bytes taken by a tensor of the given type and shape (no dimensions: one element, as in ggml),
 * or undefined for an unknown type or rows that are not whole blocks.
 */
export function tensorBytes(type: number, shape: readonly number[]): number | undefined {
  const layout = TYPE_LAYOUT[type];
  if (!layout) return undefined;
  const [blockElems, blockBytes] = layout;
  if ((shape[0] ?? 1) % blockElems !== 0) return undefined;
  const n = shape.reduce((a, b) => a * b, 1);
  return (n / blockElems) * blockBytes;
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}
