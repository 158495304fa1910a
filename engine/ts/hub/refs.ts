/**
 * Model references: a local path (the first shard of a split set brings the whole set), an
 * http(s) URL, `hf:owner/repo/path/file.gguf`, or `owner/repo:QUANT` (the file is picked by
 * quantization from the repository listing, like llama.cpp's `-hf`).
 */

import { ModelFetchError } from "../errors.ts";
import { parseSplitName, splitFileName } from "../gguf/model-files.ts";

export type ModelRef =
  | { kind: "path"; path: string }
  | { kind: "url"; url: string }
  | { kind: "hf-file"; repo: string; file: string; revision: string }
  | { kind: "hf-quant"; repo: string; quant: string; revision: string };

const REPO = "[A-Za-z0-9][\\w.-]*/[\\w.-]+";
const HF_FILE = new RegExp(`^hf:(?://)?(${REPO})/(.+\\.gguf)$`, "i");
const HF_QUANT = new RegExp(`^(?:hf:(?://)?)?(${REPO}):([\\w.-]+)$`);
const HF_REPO = new RegExp(`^hf:(?://)?(${REPO})$`);

export function parseModelRef(ref: string): ModelRef {
  const s = ref.trim();
  if (!s) throw new ModelFetchError("bad_reference", "empty model reference");
  if (/^https?:\/\//i.test(s)) {
    try {
      return { kind: "url", url: new URL(s).href };
    } catch {
      throw new ModelFetchError("bad_reference", `not a valid URL: ${s}`);
    }
  }
  if (/^file:\/\//i.test(s)) return { kind: "path", path: decodeURIComponent(new URL(s).pathname) };
  let m = HF_FILE.exec(s);
  if (m) return { kind: "hf-file", repo: m[1], file: m[2], revision: "main" };
  m = HF_QUANT.exec(s);
  if (m && !s.toLowerCase().endsWith(".gguf")) return { kind: "hf-quant", repo: m[1], quant: m[2], revision: "main" };
  m = HF_REPO.exec(s);
  if (m) return { kind: "hf-quant", repo: m[1], quant: "", revision: "main" };
  if (s.startsWith("hf:")) {
    throw new ModelFetchError(
      "bad_reference",
      `bad Hugging Face reference ${s}: use hf:owner/repo/file.gguf or owner/repo:QUANT`,
    );
  }
  return { kind: "path", path: s };
}

/** Whether the reference needs the network or the download cache (not a local path). */
export function isRemoteRef(ref: string): boolean {
  return parseModelRef(ref).kind !== "path";
}

/** The names of every shard when `name` is the first shard of a split set, else [name]. */
export function shardNames(name: string): string[] {
  const s = parseSplitName(name);
  if (!s) return [name];
  if (s.index !== 0) {
    throw new ModelFetchError(
      "bad_reference",
      `${name} is shard ${s.index + 1} of ${s.count}: name the first shard (-00001-of-...)`,
    );
  }
  return Array.from({ length: s.count }, (_, i) => splitFileName(s.prefix, i, s.count));
}

export function describeRef(r: ModelRef): string {
  switch (r.kind) {
    case "path":
      return r.path;
    case "url":
      return r.url;
    case "hf-file":
      return `hf:${r.repo}/${r.file}`;
    case "hf-quant":
      return `${r.repo}${r.quant ? `:${r.quant}` : ""}`;
  }
}
