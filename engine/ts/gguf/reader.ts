/** Reads a GGUF header (metadata and tensor infos) from any random-access byte source. */

import { GgufError } from "../errors.ts";
import { alignUp, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, SUPPORTED_VERSIONS, tensorBytes, ValueType } from "./format.ts";

/** Random access to a file's bytes; implemented per runtime (see platform/). */
export interface ByteSource {
  readonly name: string;
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface TensorInfo {
  name: string;
  /** ggml order: shape[0] is the contiguous axis */
  shape: number[];
  type: number;
  /** offset inside the data section */
  offset: number;
}

export interface GgufHeader {
  version: number;
  metadata: Map<string, GgufValue>;
  /** types of metadata values, needed to write them back unchanged */
  metadataTypes: Map<string, { type: ValueType; itemType?: ValueType }>;
  tensors: TensorInfo[];
  alignment: number;
  /** absolute offset of the tensor data section */
  dataOffset: number;
  /** bytes the tensor data needs (end of the last tensor) */
  dataSize: number;
  /** with `lean`: the long arrays passed over (key -> item count), absent from `metadata` */
  skipped?: Map<string, number>;
}

export interface ReadOptions {
  /**
   * Pass over arrays of more than 4096 items (the tokenizer's vocabulary and merges) instead of
   * decoding them: validating the real model before a load then takes no ~1.4 s and no ~100 MB
   * of transient JS memory; the engine reads the vocabulary itself.
   */
  lean?: boolean;
}

const LEAN_MAX_ITEMS = 4096;

const CHUNK = 1 << 20;
const decoder = new TextDecoder("utf-8", { fatal: false });

/** A forward cursor that refills from the source in large chunks. */
class Cursor {
  private buf: Uint8Array = new Uint8Array(0);
  private view = new DataView(this.buf.buffer);
  private start = 0; // file offset of buf[0]
  pos = 0; // file offset of the next byte

  constructor(private src: ByteSource) {}

  get available(): number {
    return this.start + this.buf.length - this.pos;
  }

  async need(n: number): Promise<void> {
    if (this.available >= n) return;
    if (this.pos + n > this.src.size) {
      throw new GgufError(
        "truncated",
        this.src.name,
        `file is truncated (header needs byte ${this.pos + n}, file has ${this.src.size})`,
      );
    }
    const len = Math.min(Math.max(n, CHUNK), this.src.size - this.pos);
    this.buf = await this.src.read(this.pos, len);
    if (this.buf.length < n) throw new GgufError("truncated", this.src.name, "file is truncated");
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    this.start = this.pos;
  }

  private at(n: number): number {
    const i = this.pos - this.start;
    this.pos += n;
    return i;
  }
  u8() {
    return this.view.getUint8(this.at(1));
  }
  i8() {
    return this.view.getInt8(this.at(1));
  }
  u16() {
    return this.view.getUint16(this.at(2), true);
  }
  i16() {
    return this.view.getInt16(this.at(2), true);
  }
  u32() {
    return this.view.getUint32(this.at(4), true);
  }
  i32() {
    return this.view.getInt32(this.at(4), true);
  }
  f32() {
    return this.view.getFloat32(this.at(4), true);
  }
  f64() {
    return this.view.getFloat64(this.at(8), true);
  }
  u64() {
    return this.view.getBigUint64(this.at(8), true);
  }
  i64() {
    return this.view.getBigInt64(this.at(8), true);
  }
  /** the next u64, without moving past it (the caller checked it is buffered) */
  peekU64() {
    return this.view.getBigUint64(this.pos - this.start, true);
  }
  /** length of the last byte run taken by bytes(): a string's size in bytes */
  lastStringBytes = 0;
  bytes(n: number) {
    const i = this.at(n);
    this.lastStringBytes = n;
    return this.buf.subarray(i, i + n);
  }
  /** moves past n bytes without reading them (the next need() refills from there) */
  skip(n: number) {
    this.pos += n;
  }
}

const SCALAR_SIZE: Partial<Record<ValueType, number>> = {
  [ValueType.UINT8]: 1,
  [ValueType.INT8]: 1,
  [ValueType.BOOL]: 1,
  [ValueType.UINT16]: 2,
  [ValueType.INT16]: 2,
  [ValueType.UINT32]: 4,
  [ValueType.INT32]: 4,
  [ValueType.FLOAT32]: 4,
  [ValueType.UINT64]: 8,
  [ValueType.INT64]: 8,
  [ValueType.FLOAT64]: 8,
};

/**
 * The fewest bytes a metadata pair (key length, a 1-byte key, type, a 1-byte value) and a tensor
 * info (name length, empty name, dimension count, type, offset) take: a header's counts are
 * checked against the bytes left before anything is allocated for them.
 */
const MIN_KV_BYTES = 14n;
const MIN_TENSOR_BYTES = 24n;
/** ggml's GGML_MAX_NAME: tensor names are at most 63 bytes */
const MAX_TENSOR_NAME = 63;
const MAX_DIMS = 4;

export async function readGgufHeader(src: ByteSource, options: ReadOptions = {}): Promise<GgufHeader> {
  const c = new Cursor(src);
  const bad = (msg: string) => new GgufError("bad_metadata", src.name, msg);
  /** bytes from the cursor to the end of the file */
  const left = () => BigInt(Math.max(0, src.size - c.pos));

  if (src.size < 4) throw new GgufError("not_gguf", src.name, "not a GGUF file (too short)");
  await c.need(4);
  if (c.u32() !== GGUF_MAGIC) throw new GgufError("not_gguf", src.name, "not a GGUF file (bad magic)");
  await c.need(20);
  const version = c.u32();
  if (!SUPPORTED_VERSIONS.includes(version)) {
    throw new GgufError(
      "unsupported_version",
      src.name,
      `unsupported GGUF version ${version} (supported: ${SUPPORTED_VERSIONS.join(", ")})`,
    );
  }
  const tensorCount = c.u64();
  const kvCount = c.u64();
  const claims = (what: string) =>
    new GgufError("truncated", src.name, `header claims ${what}, more than the ${left()} bytes after it can hold`);
  if (kvCount * MIN_KV_BYTES > left()) throw claims(`${kvCount} metadata pairs`);
  if (tensorCount * MIN_TENSOR_BYTES > left()) throw claims(`${tensorCount} tensors`);
  const nTensors = Number(tensorCount);
  const nKv = Number(kvCount);

  /** a length-prefixed string, refused before reading when it would run past the end of the file */
  const str = async (what: string): Promise<string> => {
    await c.need(8);
    const at = c.pos;
    const len = c.u64();
    if (len > left()) {
      throw new GgufError(
        "truncated",
        src.name,
        `${what}: string of ${len} bytes at offset ${at} runs past the end of the file (${src.size} bytes)`,
      );
    }
    if (c.available < Number(len)) await c.need(Number(len));
    return decoder.decode(c.bytes(Number(len)));
  };
  /** the next string when it is already buffered (no await per vocabulary entry), else undefined */
  const bufferedStr = (): string | undefined => {
    if (c.available < 8) return undefined;
    const len = Number(c.peekU64());
    if (c.available < 8 + len) return undefined;
    c.skip(8);
    return decoder.decode(c.bytes(len));
  };

  const scalar = (t: ValueType): GgufValue => {
    switch (t) {
      case ValueType.UINT8:
        return c.u8();
      case ValueType.INT8:
        return c.i8();
      case ValueType.UINT16:
        return c.u16();
      case ValueType.INT16:
        return c.i16();
      case ValueType.UINT32:
        return c.u32();
      case ValueType.INT32:
        return c.i32();
      case ValueType.FLOAT32:
        return c.f32();
      case ValueType.FLOAT64:
        return c.f64();
      case ValueType.BOOL:
        return c.u8() !== 0;
      case ValueType.UINT64:
        return c.u64();
      case ValueType.INT64:
        return c.i64();
      default:
        throw bad(`unknown metadata value type ${t}`);
    }
  };

  const metadata = new Map<string, GgufValue>();
  const metadataTypes = new Map<string, { type: ValueType; itemType?: ValueType }>();
  const skipped = new Map<string, number>();
  const keys = new Set<string>();
  for (let i = 0; i < nKv; i++) {
    const key = await str(`metadata key ${i}`);
    if (key === "") throw bad(`metadata key ${i} is empty`);
    if (keys.has(key)) throw bad(`duplicate metadata key ${key}`);
    keys.add(key);
    await c.need(4);
    const type = c.u32() as ValueType;
    if (type === ValueType.ARRAY) {
      await c.need(12);
      const itemType = c.u32() as ValueType;
      const count = c.u64();
      if (itemType === ValueType.ARRAY) throw bad(`${key}: nested arrays are not supported`);
      const size = SCALAR_SIZE[itemType];
      if (size === undefined && itemType !== ValueType.STRING) {
        throw bad(`${key}: unknown metadata value type ${itemType}`);
      }
      // each item takes at least its size (a string, its 8-byte length): refuse counts the file cannot hold
      if (count * BigInt(size ?? 8) > left()) {
        throw new GgufError(
          "truncated",
          src.name,
          `${key}: array of ${count} items runs past the end of the file (${left()} bytes left)`,
        );
      }
      const n = Number(count);
      if (options.lean && n > LEAN_MAX_ITEMS) {
        if (size !== undefined) c.skip(n * size);
        else {
          for (let j = 0; j < n; j++) {
            await c.need(8);
            const len = c.u64();
            if (len > left()) {
              throw new GgufError("truncated", src.name, `${key}: item ${j} runs past the end of the file`);
            }
            c.skip(Number(len));
          }
        }
        skipped.set(key, n);
        continue;
      }
      // grown as items are read, so memory follows the bytes actually there, not the count claimed
      const items: GgufValue[] = [];
      if (size !== undefined) {
        await c.need(n * size);
        for (let j = 0; j < n; j++) items.push(scalar(itemType));
      } else {
        for (let j = 0; j < n; j++) items.push(bufferedStr() ?? await str(`${key} item ${j}`));
      }
      metadata.set(key, items);
      metadataTypes.set(key, { type, itemType });
    } else if (type === ValueType.STRING) {
      metadata.set(key, await str(key));
      metadataTypes.set(key, { type });
    } else {
      const size = SCALAR_SIZE[type];
      if (size === undefined) throw bad(`${key}: unknown metadata value type ${type}`);
      await c.need(size);
      metadata.set(key, scalar(type));
      metadataTypes.set(key, { type });
    }
  }

  const tensors: TensorInfo[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = await str(`tensor ${i} name`);
    const nameBytes = c.lastStringBytes;
    if (nameBytes > MAX_TENSOR_NAME) {
      throw bad(`tensor ${i} name is ${nameBytes} bytes (at most ${MAX_TENSOR_NAME}): ${name.slice(0, 80)}`);
    }
    if (names.has(name)) throw bad(`duplicate tensor name ${name}`);
    names.add(name);
    await c.need(4);
    const nDims = c.u32();
    if (nDims > MAX_DIMS) throw bad(`tensor ${name} has ${nDims} dimensions (at most ${MAX_DIMS})`);
    await c.need(nDims * 8 + 12);
    const shape: number[] = [];
    for (let d = 0; d < nDims; d++) {
      const dim = c.u64();
      if (dim > BigInt(Number.MAX_SAFE_INTEGER)) throw bad(`tensor ${name} has an implausible dimension ${dim}`);
      shape.push(Number(dim));
    }
    const type = c.u32();
    const offset = Number(c.u64());
    tensors.push({ name, shape, type, offset });
  }

  const alignment = readAlignment(metadata, metadataTypes, skipped, bad);
  const dataOffset = alignUp(c.pos, alignment);
  // llama.cpp's rule: tensor data follows in header order, each at the next aligned offset
  let dataSize = 0;
  let expected = 0;
  for (const t of tensors) {
    const bytes = tensorBytes(t.type, t.shape);
    if (bytes === undefined) throw bad(`tensor ${t.name} has unsupported type ${t.type} or shape [${t.shape}]`);
    if (t.offset !== expected) {
      throw bad(`tensor ${t.name} has data offset ${t.offset}, expected ${expected} (in order, ${alignment}-aligned)`);
    }
    dataSize = t.offset + bytes;
    expected = alignUp(dataSize, alignment);
  }
  if (tensors.length > 0 && dataOffset + dataSize > src.size) {
    throw new GgufError(
      "truncated",
      src.name,
      `file is truncated: tensor data needs ${dataOffset + dataSize} bytes, file has ${src.size}`,
    );
  }
  return {
    version,
    metadata,
    metadataTypes,
    tensors,
    alignment,
    dataOffset,
    dataSize,
    ...(options.lean ? { skipped } : {}),
  };
}

/** general.alignment: a UINT32 power of two when present (llama.cpp refuses anything else), default 32. */
function readAlignment(
  metadata: Map<string, GgufValue>,
  types: Map<string, { type: ValueType }>,
  skipped: Map<string, number>,
  bad: (msg: string) => GgufError,
): number {
  const key = "general.alignment";
  if (!metadata.has(key) && !skipped.has(key)) return GGUF_DEFAULT_ALIGNMENT;
  const v = metadata.get(key);
  if (types.get(key)?.type !== ValueType.UINT32 || typeof v !== "number" || v === 0 || (v & (v - 1)) !== 0) {
    throw bad(`${key} must be a power of two stored as UINT32, got ${String(v)}`);
  }
  return v;
}

/** Typed metadata access with a clear error naming the file and key. */
export function metaString(h: GgufHeader, file: string, key: string): string {
  const v = h.metadata.get(key);
  if (typeof v !== "string") throw new GgufError("bad_metadata", file, `missing or non-string metadata key ${key}`);
  return v;
}

export function metaNumber(h: GgufHeader, key: string): number | undefined {
  const v = h.metadata.get(key);
  if (typeof v === "number") return v;
  if (typeof v === "bigint") return Number(v);
  return undefined;
}
