/** Writes GGUF files (version 3), streaming tensor data so no whole file is held in memory. */

import { alignUp, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, tensorBytes, ValueType } from "./format.ts";
import type { GgufHeader, GgufValue } from "./reader.ts";

export interface KV {
  key: string;
  type: ValueType;
  value: GgufValue;
  /** element type when type is ARRAY */
  itemType?: ValueType;
}

export interface TensorSpec {
  name: string;
  shape: number[];
  type: number;
}

export interface TensorData extends TensorSpec {
  /** the tensor's bytes, in order, in any number of chunks */
  chunks(): Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

/** Where written bytes go (a file, in practice); see platform/. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

const encoder = new TextEncoder();

class Bytes {
  private parts: Uint8Array[] = [];
  length = 0;
  private push(b: Uint8Array) {
    this.parts.push(b);
    this.length += b.length;
  }
  private num(size: number, set: (v: DataView) => void) {
    const b = new Uint8Array(size);
    set(new DataView(b.buffer));
    this.push(b);
  }
  u8(v: number) {
    this.num(1, (d) => d.setUint8(0, v));
  }
  u32(v: number) {
    this.num(4, (d) => d.setUint32(0, v, true));
  }
  u64(v: number | bigint) {
    this.num(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }
  str(s: string) {
    const b = encoder.encode(s);
    this.u64(b.length);
    this.push(b);
  }
  value(t: ValueType, v: GgufValue) {
    switch (t) {
      case ValueType.UINT8:
        return this.num(1, (d) => d.setUint8(0, v as number));
      case ValueType.INT8:
        return this.num(1, (d) => d.setInt8(0, v as number));
      case ValueType.UINT16:
        return this.num(2, (d) => d.setUint16(0, v as number, true));
      case ValueType.INT16:
        return this.num(2, (d) => d.setInt16(0, v as number, true));
      case ValueType.UINT32:
        return this.num(4, (d) => d.setUint32(0, v as number, true));
      case ValueType.INT32:
        return this.num(4, (d) => d.setInt32(0, v as number, true));
      case ValueType.FLOAT32:
        return this.num(4, (d) => d.setFloat32(0, v as number, true));
      case ValueType.FLOAT64:
        return this.num(8, (d) => d.setFloat64(0, v as number, true));
      case ValueType.UINT64:
        return this.num(8, (d) => d.setBigUint64(0, BigInt(v as number), true));
      case ValueType.INT64:
        return this.num(8, (d) => d.setBigInt64(0, BigInt(v as number), true));
      case ValueType.BOOL:
        return this.u8(v ? 1 : 0);
      case ValueType.STRING:
        return this.str(v as string);
      default:
        throw new Error(`cannot write GGUF value type ${t}`);
    }
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** Header bytes (padded to the data section) and each tensor's offset in the data section. */
export function encodeHeader(kvs: KV[], tensors: TensorSpec[], alignment = GGUF_DEFAULT_ALIGNMENT) {
  const b = new Bytes();
  b.u32(GGUF_MAGIC);
  b.u32(3);
  b.u64(tensors.length);
  b.u64(kvs.length);
  for (const kv of kvs) {
    b.str(kv.key);
    b.u32(kv.type);
    if (kv.type === ValueType.ARRAY) {
      const items = kv.value as GgufValue[];
      b.u32(kv.itemType!);
      b.u64(items.length);
      for (const item of items) b.value(kv.itemType!, item);
    } else {
      b.value(kv.type, kv.value);
    }
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    const size = tensorBytes(t.type, t.shape);
    if (size === undefined) throw new Error(`tensor ${t.name}: type ${t.type} cannot hold shape [${t.shape}]`);
    b.str(t.name);
    b.u32(t.shape.length);
    for (const d of t.shape) b.u64(d);
    b.u32(t.type);
    b.u64(offset);
    offsets.push(offset);
    offset = alignUp(offset + size, alignment);
  }
  const headerLen = alignUp(b.length, alignment);
  const bytes = new Uint8Array(headerLen);
  bytes.set(b.concat());
  return { bytes, offsets, dataSize: offset };
}

/** Streams a whole GGUF file to the sink. */
export async function writeGguf(sink: ByteSink, kvs: KV[], tensors: TensorData[], alignment = GGUF_DEFAULT_ALIGNMENT) {
  const { bytes } = encodeHeader(kvs, tensors, alignment);
  await sink.write(bytes);
  for (const t of tensors) {
    const size = tensorBytes(t.type, t.shape)!;
    let written = 0;
    for await (const chunk of t.chunks()) {
      await sink.write(chunk);
      written += chunk.length;
    }
    if (written !== size) throw new Error(`tensor ${t.name}: wrote ${written} bytes, expected ${size}`);
    const pad = alignUp(size, alignment) - size;
    if (pad) await sink.write(new Uint8Array(pad));
  }
  await sink.close();
}

/** The metadata of a header read back, as KVs in file order (for split/merge). */
export function headerKvs(h: GgufHeader): KV[] {
  return [...h.metadata.entries()].map(([key, value]) => {
    const t = h.metadataTypes.get(key)!;
    return { key, value, type: t.type, itemType: t.itemType };
  });
}
