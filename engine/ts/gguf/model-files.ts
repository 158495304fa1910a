/** Validates a model given as one GGUF file or a split set, before any byte reaches the engine. */

import { GgufError } from "../errors.ts";
import { CLIP_KEY_TYPES } from "./clip-keys.ts";
import { ValueType } from "./format.ts";
import { type ByteSource, type GgufHeader, metaNumber, readGgufHeader } from "./reader.ts";

/** llama.cpp's split naming: <prefix>-00001-of-00003.gguf */
const SPLIT_NAME = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/;

export function splitFileName(prefix: string, index: number, count: number): string {
  const pad = (n: number) => String(n).padStart(5, "0");
  return `${prefix}-${pad(index + 1)}-of-${pad(count)}.gguf`;
}

/** { prefix, index (0-based), count } when the path follows the split naming. */
export function parseSplitName(path: string): { prefix: string; index: number; count: number } | undefined {
  const m = SPLIT_NAME.exec(path);
  if (!m) return undefined;
  return { prefix: m[1], index: Number(m[2]) - 1, count: Number(m[3]) };
}

export type ModelKind = "llm" | "mmproj";

export interface ModelFiles {
  kind: ModelKind;
  /** every file in load order (one, or the shards of a split set) */
  paths: string[];
  headers: GgufHeader[];
  /** sum of the file sizes */
  totalBytes: number;
  architecture: string;
}

/** Opens a file for random access; returns null when it does not exist. */
export type FileOpener = (path: string) => Promise<ByteSource | null>;

const EXPECTED: Record<ModelKind, { arch: string; describe: string }> = {
  llm: { arch: "qwen35", describe: "a qwen35 (MiniCPM-V 4.6 language model) GGUF" },
  mmproj: { arch: "clip", describe: "a minicpmv4_6 mmproj GGUF" },
};

/** Opens a model by path (the first shard of a split set brings the whole set) and validates it. */
export async function openModelFiles(path: string, kind: ModelKind, open: FileOpener): Promise<ModelFiles> {
  const named = parseSplitName(path);
  const paths = named
    ? Array.from({ length: named.count }, (_, i) => splitFileName(named.prefix, i, named.count))
    : [path];
  const sources: ByteSource[] = [];
  for (const [i, p] of paths.entries()) {
    const src = await open(p);
    if (!src) {
      if (p === path) throw new GgufError("split_missing", p, "file not found");
      throw new GgufError("split_missing", p, `shard ${i + 1} of ${paths.length} is missing (needed by ${path})`);
    }
    sources.push(src);
  }
  return await validateModelSources(sources, kind);
}

/**
 * Validates one file or the shards of a split set (in order) from any byte sources (files, Blobs).
 * The headers are read lean (no vocabulary or merges: the engine reads those itself).
 */
export async function validateModelSources(sources: ByteSource[], kind: ModelKind): Promise<ModelFiles> {
  const headers: GgufHeader[] = [];
  for (const src of sources) headers.push(await readGgufHeader(src, { lean: true }));
  const paths = sources.map((s) => s.name);
  checkSplitSet(paths, headers);
  const architecture = checkArchitecture(paths[0], headers[0], kind);
  return { kind, paths, headers, totalBytes: sources.reduce((a, s) => a + s.size, 0), architecture };
}

/** llama-gguf-split's types; llama.cpp reads split.no of later shards with an asserting getter. */
const SPLIT_KEY_TYPES: [string, ValueType][] = [
  ["split.no", ValueType.UINT16],
  ["split.count", ValueType.UINT16],
  ["split.tensors.count", ValueType.INT32],
];

export function checkSplitSet(paths: string[], headers: GgufHeader[]): void {
  headers.forEach((h, i) => {
    for (const [key, want] of SPLIT_KEY_TYPES) {
      const type = h.metadataTypes.get(key)?.type ?? (h.skipped?.has(key) ? ValueType.ARRAY : undefined);
      if (type !== undefined && type !== want) {
        throw new GgufError(
          "split_mismatch",
          paths[i],
          `${key} is stored as ${ValueType[type] ?? type}, not ${ValueType[want]}`,
        );
      }
    }
  });
  const count = metaNumber(headers[0], "split.count");
  if (paths.length === 1) {
    if (count !== undefined && count > 1) {
      throw new GgufError(
        "split_missing",
        paths[0],
        `file is shard ${
          (metaNumber(headers[0], "split.no") ?? 0) + 1
        } of a ${count}-file split set, but its name does not follow <name>-00001-of-${
          String(count).padStart(5, "0")
        }.gguf`,
      );
    }
    return;
  }
  const seen = new Map<number, string>();
  const tensorNames = new Set<string>();
  let tensorTotal = 0;
  headers.forEach((h, i) => {
    const no = metaNumber(h, "split.no");
    const n = metaNumber(h, "split.count");
    if (no === undefined || n === undefined) {
      throw new GgufError("split_mismatch", paths[i], "file is not part of a split set (no split.no / split.count)");
    }
    if (seen.has(no)) {
      throw new GgufError("split_duplicate", paths[i], `duplicate shard: split.no ${no} is also in ${seen.get(no)}`);
    }
    seen.set(no, paths[i]);
    if (no !== i) {
      throw new GgufError("split_mismatch", paths[i], `file name says shard ${i + 1} but split.no is ${no}`);
    }
    if (n !== paths.length) {
      throw new GgufError("split_mismatch", paths[i], `split.count is ${n} but the set has ${paths.length} files`);
    }
    for (const t of h.tensors) {
      if (tensorNames.has(t.name)) {
        throw new GgufError("split_duplicate", paths[i], `tensor ${t.name} appears in more than one shard`);
      }
      tensorNames.add(t.name);
    }
    tensorTotal += h.tensors.length;
  });
  const expected = metaNumber(headers[0], "split.tensors.count");
  if (expected !== undefined && expected !== tensorTotal) {
    throw new GgufError(
      "split_mismatch",
      paths[0],
      `split.tensors.count is ${expected} but the shards hold ${tensorTotal} tensors`,
    );
  }
}

function checkArchitecture(path: string, h: GgufHeader, kind: ModelKind): string {
  const arch = h.metadata.get("general.architecture");
  const want = EXPECTED[kind];
  if (typeof arch !== "string") {
    throw new GgufError("wrong_architecture", path, `no general.architecture; expected ${want.describe}`);
  }
  if (arch !== want.arch) {
    throw new GgufError("wrong_architecture", path, `architecture is ${arch}; expected ${want.describe}`);
  }
  if (kind === "mmproj") {
    const projector = h.metadata.get("clip.projector_type") ?? h.metadata.get("clip.vision.projector_type");
    if (projector !== "minicpmv4_6") {
      throw new GgufError(
        "wrong_architecture",
        path,
        `projector type is ${String(projector)}; expected ${want.describe}`,
      );
    }
    checkClipKeyTypes(path, h);
    // clip.cpp asserts it (GGML_ASSERT aborts the engine): 4 for 16x, 2 for 4x
    const merge = h.metadata.get("clip.vision.projector.scale_factor");
    if (merge !== undefined && merge !== 2 && merge !== 4) {
      throw new GgufError(
        "bad_metadata",
        path,
        `clip.vision.projector.scale_factor is ${merge}; expected 4 (16x) or 2 (4x)`,
      );
    }
  } else {
    // llama.cpp asserts 0 < n_layer <= LLAMA_MAX_LAYERS (an abort, not a failed load)
    const layers = h.metadata.get(`${arch}.block_count`);
    if (
      layers !== undefined && !(typeof layers === "number" && Number.isInteger(layers) && layers >= 1 && layers <= 512)
    ) {
      throw new GgufError("bad_metadata", path, `${arch}.block_count is ${layers}; expected 1 to 512 layers`);
    }
  }
  return arch;
}

/** A mistyped key clip.cpp reads would abort the engine (its getters assert the type): refuse it here. */
function checkClipKeyTypes(path: string, h: GgufHeader): void {
  for (const [key, want] of CLIP_KEY_TYPES) {
    const type = h.metadataTypes.get(key)?.type ?? (h.skipped?.has(key) ? ValueType.ARRAY : undefined);
    if (type !== undefined && type !== want) {
      throw new GgufError(
        "bad_metadata",
        path,
        `${key} is stored as ${ValueType[type] ?? type}; the mmproj loader needs ${ValueType[want]}`,
      );
    }
  }
}
