/**
 * Turns model references into something the engine loads: a local path (the first shard of a
 * split set) on Deno/Bun/Node, or the files as Blobs in browsers. Remote references are
 * downloaded into the model cache first (shards in parallel) and reused on later runs without
 * any request; `offline` uses the cache only.
 */

import { AbortError, ModelFetchError } from "../errors.ts";
import { env } from "../platform/index.ts";
import { modelStore } from "./cache.ts";
import { downloadFile, type DownloadTarget, type Fetch } from "./download.ts";
import {
  ggufNames,
  hfEndpoint,
  hfFileUrl,
  hfHeaders,
  listRepoFiles,
  pickMmprojFile,
  pickModelFile,
  type RepoFile,
} from "./hf.ts";
import { DEFAULT_MODEL, DEFAULT_QUANT, DEFAULT_REPO, KNOWN_FILES } from "./manifest.ts";
import { type ProgressListener, ProgressTracker } from "./progress.ts";
import { describeRef, type ModelRef, parseModelRef, shardNames } from "./refs.ts";
import type { ModelStore } from "./store.ts";

export interface ResolveOptions {
  /** use the cache only, never the network (also MINICPMV_EDGE_OFFLINE=1 or HF_HUB_OFFLINE=1) */
  offline?: boolean;
  onProgress?: ProgressListener;
  signal?: AbortSignal;
  /** shards downloaded at once (default 4) */
  concurrency?: number;
  /** see DownloadOptions */
  retries?: number;
  stallMs?: number;
  /** the model cache (default: $MINICPMV_EDGE_CACHE or the platform cache dir; OPFS in browsers) */
  store?: ModelStore;
  fetch?: Fetch;
}

/** A resolved model: what to pass to Model.load / VisionModel.load, and the files behind it. */
export interface ResolvedModel {
  ref: string;
  /** local path of the file (first shard) on servers; the Blobs of every shard in browsers */
  source: string | Blob[];
  files: { key?: string; location: string; size: number; cached: boolean }[];
}

export interface ModelRefs {
  model: string;
  /** undefined with an `owner/repo:QUANT` model: the repository's mmproj; false: none */
  mmproj?: string | false;
}

function offlineFromEnv(): boolean {
  return ["1", "true", "yes"].includes((env("MINICPMV_EDGE_OFFLINE") ?? env("HF_HUB_OFFLINE") ?? "").toLowerCase());
}

/** A planned file: where it goes in the cache and where it comes from. */
interface Planned extends DownloadTarget {}

class Resolver {
  readonly tracker: ProgressTracker;
  private fetch: Fetch;
  readonly offline: boolean;
  constructor(readonly store: ModelStore, readonly o: ResolveOptions) {
    this.tracker = new ProgressTracker(o.onProgress);
    this.fetch = o.fetch ?? ((url, init) => fetch(url, init));
    this.offline = o.offline ?? offlineFromEnv();
  }

  /** The files of a reference (every shard), as cache keys with their origins. */
  async plan(ref: ModelRef, kind: "model" | "mmproj"): Promise<Planned[]> {
    switch (ref.kind) {
      case "url": {
        const u = new URL(ref.url);
        const dir = u.pathname.slice(0, u.pathname.lastIndexOf("/") + 1);
        const name = decodeURIComponent(u.pathname.slice(dir.length)) || "model.gguf";
        const keyDir = `urls/${safe(u.host)}${dir.split("/").map((p) => safe(decodeURIComponent(p))).join("/")}`;
        return shardNames(name).map((n) => ({
          url: new URL(dir + encodeURIComponent(n) + u.search, u).href,
          key: `${keyDir}${n}`.replace(/\/+/g, "/"),
          label: n === name ? ref.url : new URL(dir + n, u).href,
        }));
      }
      case "hf-file":
        return shardNames(ref.file).map((f) =>
          this.hfTarget(ref.repo, f, ref.revision, KNOWN_FILES[`${ref.repo}/${f}`])
        );
      case "hf-quant": {
        const files = await this.repoFiles(ref.repo, ref.revision);
        const pick = kind === "model" ? pickModelFile(files, ref.quant) : pickMmprojFile(files, "");
        if (!pick) {
          throw new ModelFetchError(
            "not_found",
            `${describeRef(ref)}: no ${
              kind === "model" ? `model file for quantization ${ref.quant || "Q4_K_M/Q8_0"}` : "mmproj"
            } in the repository (GGUF files: ${ggufNames(files).join(", ") || "none"})`,
          );
        }
        return shardNames(pick.path).map((p) => {
          const f = files.find((x) => x.path === p);
          if (!f) throw new ModelFetchError("not_found", `${ref.repo}: shard ${p} is missing from the repository`);
          return this.hfTarget(ref.repo, p, ref.revision, f);
        });
      }
      case "path":
        throw new Error("local paths are not planned");
    }
  }

  hfTarget(repo: string, file: string, revision: string, known?: { size?: number; sha256?: string }): Planned {
    return {
      url: hfFileUrl(repo, file, revision),
      key: `huggingface/${repo}/${revision === "main" ? "" : `@${safe(revision)}/`}${file}`,
      label: `${repo}/${file}`,
      size: known?.size,
      sha256: known?.sha256,
      headers: hfHeaders(),
    };
  }

  /** The repository listing; cached, so that a resolved `owner/repo:QUANT` needs no request later. */
  async repoFiles(repo: string, revision: string): Promise<RepoFile[]> {
    const key = `huggingface/${repo}/.listing-${safe(revision)}.json`;
    const cached = await this.store.readText(key);
    if (cached) return JSON.parse(cached);
    if (this.offline) {
      throw new ModelFetchError(
        "not_cached",
        `${repo}: not in the model cache (${
          this.store.location(`huggingface/${repo}`)
        }) and offline mode is on; run \`pull ${repo}:QUANT\` first`,
      );
    }
    let files;
    try {
      files = await listRepoFiles(repo, revision, this.fetch);
    } catch (e) {
      if (e instanceof ModelFetchError) throw e;
      throw new ModelFetchError("network", `cannot list ${repo} at ${hfEndpoint()}: ${(e as Error).message}`);
    }
    await this.store.writeText(key, JSON.stringify(files));
    return files;
  }

  /** Makes sure every planned file is in the cache. */
  async fetchAll(planned: Planned[]): Promise<boolean[]> {
    const cached = await Promise.all(planned.map(async (p) => (await this.store.get(p.key)) !== null));
    for (const [i, p] of planned.entries()) {
      const size = cached[i] ? (await this.store.size(p.key))! : 0;
      if (cached[i]) this.tracker.update(p.label, "cached", size, size);
    }
    const missing = planned.filter((_, i) => !cached[i]);
    if (missing.length && this.offline) {
      throw new ModelFetchError(
        "not_cached",
        `not in the model cache and offline mode is on: ${missing.map((m) => m.label).join(", ")} (cache: ${
          this.store.location("")
        })`,
      );
    }
    let next = 0;
    const worker = async () => {
      while (next < missing.length) {
        const t = missing[next++];
        this.tracker.update(t.label, "start", await this.store.partialSize(t.key), t.size);
        const meta = await downloadFile(t, this.store, {
          fetch: this.fetch,
          signal: this.o.signal,
          retries: this.o.retries,
          stallMs: this.o.stallMs,
          onBytes: (r, total) => this.tracker.update(t.label, "progress", r, total),
        });
        this.tracker.update(t.label, "done", meta.size, meta.size);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency ?? 4, missing.length) }, worker));
    return cached;
  }

  async finish(ref: string, planned: Planned[], cached: boolean[]): Promise<ResolvedModel> {
    const files = await Promise.all(planned.map(async (p, i) => ({
      key: p.key,
      location: this.store.location(p.key),
      size: (await this.store.size(p.key)) ?? 0,
      cached: cached[i],
    })));
    // a file store gives paths (the first shard loads a split set), OPFS the File of every shard
    const sources = await Promise.all(planned.map((p) => this.store.get(p.key)));
    if (typeof sources[0] === "string") return { ref, source: sources[0], files };
    return { ref, source: sources as Blob[], files };
  }
}

/** A file or directory name that is safe on every file system. */
function safe(s: string): string {
  return s.replace(/[^\w.@=+-]/g, "_").replace(/^\.+/, "_");
}

async function resolveOne(
  r: Resolver,
  ref: string,
  kind: "model" | "mmproj",
  plannedIn?: Planned[],
): Promise<ResolvedModel> {
  const parsed = parseModelRef(ref);
  if (parsed.kind === "path") {
    return { ref, source: parsed.path, files: [] };
  }
  const planned = plannedIn ?? await r.plan(parsed, kind);
  const cached = await r.fetchAll(planned);
  return await r.finish(ref, planned, cached);
}

/**
 * Resolves a model reference (and downloads it if needed). Local paths are returned as they
 * are (validated later by the loader).
 */
export async function resolveModelRef(
  ref: string,
  options: ResolveOptions = {},
  kind: "model" | "mmproj" = "model",
): Promise<ResolvedModel> {
  const r = new Resolver(options.store ?? await modelStore(), options);
  return await wrapNetwork(() => resolveOne(r, ref, kind), [ref]);
}

/**
 * Resolves the language model and the mmproj together (their downloads run in parallel and
 * report one progress). With `owner/repo:QUANT` and no mmproj, the repository's mmproj is used.
 */
export async function resolveModelRefs(
  refs: ModelRefs,
  options: ResolveOptions = {},
): Promise<{ model: ResolvedModel; mmproj?: ResolvedModel }> {
  const r = new Resolver(options.store ?? await modelStore(), options);
  return await wrapNetwork(async () => {
    const parsed = parseModelRef(refs.model);
    let mmprojRef = refs.mmproj === false ? undefined : refs.mmproj;
    let mmprojPlan: Planned[] | undefined;
    if (refs.mmproj === undefined && parsed.kind === "hf-quant") {
      const files = await r.repoFiles(parsed.repo, parsed.revision);
      const model = pickModelFile(files, parsed.quant);
      const mm = model && pickMmprojFile(files, model.path);
      if (mm) {
        mmprojRef = `hf:${parsed.repo}/${mm.path}`;
        mmprojPlan = [r.hfTarget(parsed.repo, mm.path, parsed.revision, mm)];
      }
    }
    const [model, mmproj] = await Promise.all([
      resolveOne(r, refs.model, "model"),
      mmprojRef ? resolveOne(r, mmprojRef, "mmproj", mmprojPlan) : undefined,
    ]);
    return { model, mmproj };
  }, [refs.model, ...(refs.mmproj ? [refs.mmproj] : [])]);
}

/**
 * The official MiniCPM-V 4.6 pair (manifest.ts), downloaded if needed: what `serve` and `pull`
 * use when no model is named. If a manifest file name is not in the repository, the files are
 * picked from its listing by quantization (Q4_K_M) and "mmproj".
 */
export async function resolveDefaultModels(options: ResolveOptions = {}) {
  try {
    return await resolveModelRefs(DEFAULT_MODEL, options);
  } catch (e) {
    if (!(e instanceof ModelFetchError) || e.code !== "not_found") throw e;
    return await resolveModelRefs({ model: `${DEFAULT_REPO}:${DEFAULT_QUANT}` }, options);
  }
}

/** Network failures get a message that says what was tried and how to use a local model. */
async function wrapNetwork<T>(fn: () => Promise<T>, refs: string[]): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof AbortError) throw e;
    if (e instanceof ModelFetchError && (e.code === "network" || e.code === "not_cached")) {
      throw new ModelFetchError(
        e.code,
        `${e.message}\n  tried: ${refs.join(", ")}${
          e.code === "network" ? ` (Hugging Face endpoint ${hfEndpoint()})` : ""
        }\n` +
          "  to use local files instead: --model FILE.gguf [--mmproj MMPROJ.gguf] (the first shard of a split set loads the whole set);\n" +
          "  HF_ENDPOINT=URL selects a mirror; --offline uses only files already in the cache",
        e.url,
      );
    }
    throw e;
  }
}
