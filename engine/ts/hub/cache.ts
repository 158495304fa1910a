/** What the model cache holds: every complete GGUF with its size and origin. */

import { type ModelStore, modelStore } from "../platform.ts";
import type { FileMeta } from "./download.ts";

export interface CachedModel {
  /** cache key: "huggingface/owner/repo/file.gguf", "urls/host/path/file.gguf", or a converted file */
  key: string;
  /** path on servers, opfs:/… in browsers */
  location: string;
  size: number;
  /** the reference that fetches it again ("hf:owner/repo/file.gguf" or the URL), when downloaded */
  ref?: string;
  sha256?: string;
  downloadedAt?: string;
}

export async function listCachedModels(store?: ModelStore): Promise<CachedModel[]> {
  const s = store ?? await modelStore();
  const out: CachedModel[] = [];
  for (const f of await s.list()) {
    let meta: Partial<FileMeta> = {};
    try {
      meta = JSON.parse((await s.readText(`${f.key}.json`)) ?? "{}");
    } catch { /* no metadata: a converted or hand-placed file */ }
    const hf = /^huggingface\/([^/]+\/[^/]+)\/(.+)$/.exec(f.key);
    out.push({
      key: f.key,
      location: s.location(f.key),
      size: f.size,
      ref: hf && !hf[2].startsWith("@") ? `hf:${hf[1]}/${hf[2]}` : meta.url,
      sha256: meta.sha256,
      downloadedAt: meta.downloadedAt,
    });
  }
  return out;
}
