/**
 * The model cache: where it is (cacheDir), its store (modelStore: a directory on servers, OPFS in
 * browsers; the one place outside platform/ that chooses by runtime) and what it holds.
 */

import { env, isServerRuntime, userCacheDir } from "../platform/index.ts";
import type { FileMeta } from "./download.ts";
import type { ModelStore } from "./store.ts";
import { fsStore } from "./store-fs.ts";
import { OPFS_LOCATION, opfsStore } from "./store-opfs.ts";

/** $MINICPMV_EDGE_CACHE, else the user's cache directory (servers); the OPFS location in browsers. */
export function cacheDir(): string {
  return env("MINICPMV_EDGE_CACHE") ?? (isServerRuntime ? `${userCacheDir()}/minicpmv-edge/models` : OPFS_LOCATION);
}

/** The model cache's store: files under `root` on servers, OPFS in browsers. */
export async function modelStore(root = cacheDir()): Promise<ModelStore> {
  return isServerRuntime ? await fsStore(root) : opfsStore();
}

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
