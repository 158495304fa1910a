/**
 * Hugging Face Hub access: endpoint and token from the environment (HF_ENDPOINT, HF_TOKEN),
 * repository listings, and picking a file by quantization the way llama.cpp's `-hf` does
 * (common/download.cpp: find_best_model, find_best_mmproj).
 */

import { ModelFetchError } from "../errors.ts";
import { env } from "../platform/index.ts";
import { parseSplitName } from "../gguf/model-files.ts";

export function hfEndpoint(): string {
  return (env("MODEL_ENDPOINT") ?? env("HF_ENDPOINT") ?? "https://huggingface.co").replace(/\/+$/, "");
}

export function hfHeaders(): Record<string, string> {
  const token = env("HF_TOKEN") ?? env("HUGGING_FACE_HUB_TOKEN");
  return token ? { authorization: `Bearer ${token}` } : {};
}

export function hfFileUrl(repo: string, file: string, revision = "main"): string {
  return `${hfEndpoint()}/${repo}/resolve/${encodeURIComponent(revision)}/${
    file.split("/").map(encodeURIComponent).join("/")
  }`;
}

export interface RepoFile {
  path: string;
  size?: number;
  /** LFS files: the SHA-256 of the content */
  sha256?: string;
}

/** Files of a repository (GET /api/models/{repo}/tree/{revision}?recursive=true). */
export async function listRepoFiles(
  repo: string,
  revision: string,
  doFetch: (url: string, init: RequestInit) => Promise<Response>,
): Promise<RepoFile[]> {
  const url = `${hfEndpoint()}/api/models/${repo}/tree/${encodeURIComponent(revision)}?recursive=true`;
  const res = await doFetch(url, { headers: { accept: "application/json", ...hfHeaders() } });
  if (res.status === 404 || res.status === 401) {
    await res.body?.cancel();
    throw new ModelFetchError(
      "not_found",
      `repository ${repo} not found at ${hfEndpoint()} (HTTP ${res.status}${
        res.status === 401 ? "; private or gated: set HF_TOKEN" : ""
      })`,
      url,
    );
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new ModelFetchError("http_error", `listing ${repo} failed: HTTP ${res.status} from ${url}`, url);
  }
  let items: unknown;
  try {
    items = await res.json();
  } catch {
    throw new ModelFetchError("wrong_content", `listing ${repo}: ${url} did not return JSON`, url);
  }
  if (!Array.isArray(items)) {
    throw new ModelFetchError("wrong_content", `listing ${repo}: unexpected answer from ${url}`, url);
  }
  return items
    .filter((i) => i && i.type === "file" && typeof i.path === "string")
    .map((i) => ({
      path: i.path,
      size: typeof i.size === "number" ? i.size : undefined,
      sha256: /^[0-9a-f]{64}$/.test(i.lfs?.oid ?? "") ? i.lfs.oid : undefined,
    }));
}

const isGguf = (p: string) => p.toLowerCase().endsWith(".gguf");
const baseName = (p: string) => p.slice(p.lastIndexOf("/") + 1);

function isModelFile(p: string): boolean {
  const b = baseName(p);
  return isGguf(p) && !/mmproj|imatrix|mtp-|eagle3-|dflash-|dspark-/.test(b);
}

function isFirstShard(p: string): boolean {
  const s = parseSplitName(p);
  return !s || s.index === 0;
}

/** Quantization bits of a file name ("…-Q4_K_M.gguf" -> 4, "…-F16.gguf" -> 16), 0 if none. */
function quantBits(p: string): number {
  const stem = parseSplitName(p)?.prefix ?? p.replace(/\.gguf$/i, "");
  const tag = /[-.]([A-Z0-9_]+)$/i.exec(stem)?.[1] ?? "";
  const d = /\d+/.exec(tag);
  return d ? Number(d[0]) : 0;
}

/** The model file for a quantization tag (default: Q4_K_M, then Q8_0, then the first model). */
export function pickModelFile(files: RepoFile[], quant: string): RepoFile | undefined {
  const tags = quant ? [quant] : ["Q4_K_M", "Q8_0"];
  for (const t of tags) {
    const re = new RegExp(`${t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}[.-]`, "i");
    const f = files.find((f) => isModelFile(f.path) && re.test(f.path) && isFirstShard(f.path));
    if (f) return f;
  }
  return quant ? undefined : files.find((f) => isModelFile(f.path) && isFirstShard(f.path));
}

/** The mmproj for a model: in its directory or a parent (deepest first), closest quantization. */
export function pickMmprojFile(files: RepoFile[], model: string): RepoFile | undefined {
  const modelDir = model.slice(0, model.lastIndexOf("/") + 1);
  const bits = quantBits(model);
  let best: RepoFile | undefined;
  let bestDepth = -1;
  let bestDiff = Infinity;
  for (const f of files) {
    if (!isGguf(f.path) || !baseName(f.path).includes("mmproj")) continue;
    const dir = f.path.slice(0, f.path.lastIndexOf("/") + 1);
    if (!modelDir.startsWith(dir)) continue;
    const depth = dir.split("/").length;
    const diff = Math.abs(quantBits(f.path) - bits);
    if (depth > bestDepth || (depth === bestDepth && diff < bestDiff)) [best, bestDepth, bestDiff] = [f, depth, diff];
  }
  return best;
}

export function ggufNames(files: RepoFile[]): string[] {
  return files.filter((f) => isGguf(f.path)).map((f) => f.path);
}
