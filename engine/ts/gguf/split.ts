/**
 * Splits a GGUF into shards and merges shards back, in llama.cpp's gguf-split layout: all
 * metadata in shard 1 followed by split.no / split.count / split.tensors.count, the other shards
 * only those three keys, tensors in file order. Data are streamed tensor by tensor, so neither
 * side holds a whole file. merge(split(f)) is byte-identical to f (the split.* keys are dropped).
 */

import { GgufError } from "../errors.ts";
import { alignUp, tensorBytes, ValueType } from "./format.ts";
import { checkSplitSet, parseSplitName, splitFileName } from "./model-files.ts";
import { type ByteSource, type GgufHeader, metaNumber, readGgufHeader } from "./reader.ts";
import { type ByteSink, headerKvs, type KV, type TensorData, writeGguf } from "./writer.ts";

export interface SplitOptions {
  /** at most this many tensors per shard (llama-gguf-split --split-max-tensors; its default is 128) */
  maxTensors?: number;
  /** at most this many bytes of tensor data per shard (--split-max-size) */
  maxBytes?: number;
}

const SPLIT_KEYS = ["split.no", "split.count", "split.tensors.count"];
const CHUNK = 16 << 20;

function tensorData(src: ByteSource, h: GgufHeader, t: GgufHeader["tensors"][number]): TensorData {
  const size = tensorBytes(t.type, t.shape)!;
  const start = h.dataOffset + t.offset;
  return {
    name: t.name,
    shape: t.shape,
    type: t.type,
    async *chunks() {
      for (let pos = 0; pos < size; pos += CHUNK) {
        const bytes = await src.read(start + pos, Math.min(CHUNK, size - pos));
        if (bytes.length !== Math.min(CHUNK, size - pos)) {
          throw new GgufError("truncated", src.name, `tensor ${t.name} is cut short`);
        }
        yield bytes;
      }
    },
  };
}

/** Which tensors go to which shard, the way llama-gguf-split plans it. */
export function planSplit(h: GgufHeader, o: SplitOptions): number[][] {
  if (!o.maxTensors === !o.maxBytes) throw new Error("give exactly one of maxTensors and maxBytes");
  const groups: number[][] = [[]];
  let bytes = 0;
  h.tensors.forEach((t, i) => {
    const n = alignUp(tensorBytes(t.type, t.shape)!, h.alignment);
    const full = o.maxTensors ? i > 0 && i % o.maxTensors === 0 : bytes + n > o.maxBytes!;
    if (full) {
      if (groups[groups.length - 1].length === 0) {
        throw new Error(`tensor ${t.name} (${n} bytes) is larger than the maximum shard size ${o.maxBytes}`);
      }
      groups.push([]);
      bytes = 0;
    }
    groups[groups.length - 1].push(i);
    bytes += n;
  });
  return groups;
}

/** In llama-gguf-split's order: it sets split.count last (once the shard count is known). */
function splitKvs(no: number, count: number, tensors: number): KV[] {
  return [
    { key: "split.no", type: ValueType.UINT16, value: no },
    { key: "split.tensors.count", type: ValueType.INT32, value: tensors },
    { key: "split.count", type: ValueType.UINT16, value: count },
  ];
}

/** Splits `src` into `<outPrefix>-0000i-of-0000n.gguf`; returns the shard paths. */
export async function splitGguf(
  src: ByteSource,
  outPrefix: string,
  o: SplitOptions,
  createSink: (path: string) => Promise<ByteSink>,
): Promise<string[]> {
  const h = await readGgufHeader(src);
  if ((metaNumber(h, "split.count") ?? 0) > 1) {
    throw new GgufError("split_mismatch", src.name, "file is already a shard of a split set: merge it first");
  }
  const groups = planSplit(h, o);
  const kvs = headerKvs(h).filter((kv) => !SPLIT_KEYS.includes(kv.key));
  const paths: string[] = [];
  for (const [i, group] of groups.entries()) {
    const path = splitFileName(outPrefix, i, groups.length);
    const shardKvs = [...(i === 0 ? kvs : []), ...splitKvs(i, groups.length, h.tensors.length)];
    await writeGguf(await createSink(path), shardKvs, group.map((k) => tensorData(src, h, h.tensors[k])), h.alignment);
    paths.push(path);
  }
  return paths;
}

/** Merges the shards of a split set (in order) into one file without the split.* keys. */
export async function mergeGguf(shards: ByteSource[], sink: ByteSink): Promise<void> {
  const headers: GgufHeader[] = [];
  for (const s of shards) headers.push(await readGgufHeader(s));
  checkSplitSet(shards.map((s) => s.name), headers);
  const kvs = headerKvs(headers[0]).filter((kv) => !SPLIT_KEYS.includes(kv.key));
  const tensors = headers.flatMap((h, i) => h.tensors.map((t) => tensorData(shards[i], h, t)));
  await writeGguf(sink, kvs, tensors, headers[0].alignment);
}

/** The shard names of a split set given its first shard ([path] when it is not split). */
export function shardPaths(first: string): string[] {
  const s = parseSplitName(first);
  if (!s) return [first];
  return Array.from({ length: s.count }, (_, i) => splitFileName(s.prefix, i, s.count));
}
