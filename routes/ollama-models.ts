/**
 * Ollama's model management on the model cache: POST /api/pull downloads a Hugging Face model (and, for
 * `owner/repo:QUANT`, the repository's mmproj) with newline-delimited status lines, resuming a partial
 * download (engine/ts/hub/download.ts keeps the `.part` file); DELETE /api/delete removes a cached model's
 * files. Names are Hugging Face references as the `ollama` CLI writes them (`hf.co/owner/repo:QUANT`) or
 * as `pull` takes them (`owner/repo:QUANT`, `hf:owner/repo/file.gguf`); URLs and paths are refused, so a
 * client cannot make the server fetch or remove arbitrary things. Pulls run one at a time.
 */

import { createHash } from "node:crypto";
import { Hono } from "hono";
import { stream as honoStream } from "hono/streaming";
import { z } from "zod";
import { ModelFetchError } from "../engine/ts/errors.ts";
import { modelStore } from "../engine/ts/hub/cache.ts";
import type { DownloadProgress } from "../engine/ts/hub/progress.ts";
import { parseModelRef } from "../engine/ts/hub/refs.ts";
import { type ModelRefs, type ResolvedModel, resolveModelRefs } from "../engine/ts/hub/resolve.ts";
import { readBody } from "./body.ts";
import { HttpError, toHttpError } from "./errors.ts";
import type { ModelService } from "./service.ts";

const nameSchema = { model: z.string().optional(), name: z.string().optional() };
const pullSchema = z.object({ ...nameSchema, insecure: z.boolean().optional(), stream: z.boolean().default(true) });
const deleteSchema = z.object(nameSchema);

/** progress lines of one file at most this often (the last one of a file always goes out) */
const PROGRESS_INTERVAL_MS = 250;

/**
 * The model references of an Ollama model name: `hf.co/owner/repo[:QUANT]` (":latest" or no tag: the
 * default quantization) and the forms `pull` takes. An `owner/repo:QUANT` brings the repository's mmproj.
 */
export function pullRefs(name: string | undefined): ModelRefs {
  const raw = (name ?? "").trim();
  if (!raw) throw new HttpError(400, "you must provide a model name", "invalid_request_error", "model");
  let ref = raw.replace(/^(https?:\/\/)?(hf\.co|huggingface\.co)\//i, "");
  if (ref !== raw) ref = ref.replace(/:latest$/i, "").includes(":") ? ref : `hf:${ref.replace(/:latest$/i, "")}`;
  const kind = (() => {
    try {
      return parseModelRef(ref).kind;
    } catch {
      return "bad";
    }
  })();
  if (kind !== "hf-file" && kind !== "hf-quant") {
    throw new HttpError(
      400,
      `'${raw}' is not a Hugging Face model: name one as hf.co/owner/repo:QUANT, owner/repo:QUANT or ` +
        "hf:owner/repo/file.gguf (URLs and paths are not pulled over the API)",
      "invalid_request_error",
      "model",
    );
  }
  return { model: ref, mmproj: kind === "hf-quant" ? undefined : false };
}

/** Ollama's `digest` of a file: here the SHA-256 of its reference (a stable id; Ollama's CLI shows part of it). */
export function fileDigest(label: string): string {
  return `sha256:${createHash("sha256").update(label).digest("hex")}`;
}

/** A status line of a file's progress. */
export function progressLine(p: DownloadProgress) {
  const digest = fileDigest(p.file);
  return { status: `pulling ${digest.slice(7, 19)}`, digest, total: p.total ?? p.received, completed: p.received };
}

export function ollamaModelRoutes(service: ModelService): Hono {
  const app = new Hono();
  let pulls: Promise<unknown> = Promise.resolve();
  /** runs `job` after the pulls before it (two pulls of one file must not write one `.part`) */
  const oneAtATime = <T>(job: () => Promise<T>): Promise<T> => {
    const run = pulls.then(job, job);
    pulls = run.catch(() => {});
    return run;
  };

  const pull = (refs: ModelRefs, signal: AbortSignal, send: (line: unknown) => void) =>
    oneAtATime(async () => {
      send({ status: "pulling manifest" });
      const last = new Map<string, number>();
      await resolveModelRefs(refs, {
        signal,
        onProgress: (p) => {
          const now = performance.now();
          const final = p.state !== "progress";
          if (!final && now - (last.get(p.file) ?? -Infinity) < PROGRESS_INTERVAL_MS) return;
          last.set(p.file, now);
          send(progressLine(p));
        },
      });
      send({ status: "verifying sha256 digest" });
      send({ status: "writing manifest" });
      send({ status: "success" });
    });

  app.post("/api/pull", async (c) => {
    const b = await readBody(c, pullSchema);
    const refs = pullRefs(b.model ?? b.name);
    const ctrl = new AbortController();
    c.req.raw.signal.addEventListener("abort", () => ctrl.abort(), { once: true });
    if (!b.stream) {
      await pull(refs, ctrl.signal, () => {}).catch(rethrow);
      return c.json({ status: "success" });
    }
    c.header("content-type", "application/x-ndjson");
    return honoStream(c, async (stream) => {
      stream.onAbort(() => ctrl.abort());
      let writing = Promise.resolve();
      const send = (v: unknown) => {
        writing = writing.then(() => stream.write(JSON.stringify(v) + "\n")).then(() => {}, () => {});
      };
      try {
        await pull(refs, ctrl.signal, send);
      } catch (e) {
        if (!ctrl.signal.aborted) send({ error: toHttpError(rethrowable(e)).message });
      }
      await writing;
    });
  });

  app.delete("/api/delete", async (c) => {
    const b = await readBody(c, deleteSchema);
    const name = b.model ?? b.name;
    const refs = pullRefs(name);
    // only the model's own files: an mmproj may serve other quantizations of its repository
    const found = await oneAtATime(() =>
      resolveModelRefs({ model: refs.model, mmproj: false }, { offline: true }).catch((e) => {
        if (e instanceof ModelFetchError && (e.code === "not_cached" || e.code === "not_found")) return undefined;
        throw e;
      })
    );
    if (!found) throw new HttpError(404, `model '${name}' not found`, "not_found_error", "model", "model_not_found");
    checkNotServed(service, found.model);
    const store = await modelStore();
    for (const f of found.model.files) {
      if (!f.key) continue;
      for (const key of [f.key, `${f.key}.json`, `${f.key}.part.json`]) await store.remove(key);
    }
    return c.body(null, 200);
  });

  return app;
}

/** A model this server has loaded (or reloads after idling) cannot be deleted under it. */
function checkNotServed(service: ModelService, m: ResolvedModel) {
  const served: unknown[] = [service.options.load.model, service.options.load.mmproj];
  if (m.files.some((f) => served.includes(f.location))) {
    throw new HttpError(409, `model '${m.ref}' is the one this server serves`, "invalid_request_error", "model");
  }
}

/** A model that is not on the Hub is the client's mistake (404), not the server's (503 elsewhere). */
function rethrowable(e: unknown): unknown {
  if (e instanceof ModelFetchError && e.code === "not_found") {
    return new HttpError(404, `pull model manifest: ${e.message}`, "not_found_error", "model", "model_not_found");
  }
  if (e instanceof ModelFetchError && e.code === "bad_reference") {
    return new HttpError(400, e.message, "invalid_request_error", "model");
  }
  return e;
}

function rethrow(e: unknown): never {
  throw rethrowable(e);
}
