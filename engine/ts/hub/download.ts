/**
 * Downloads one file into the model store: resumable (HTTP Range, also across runs from the
 * `.part` file), retried when the connection drops, checked against the expected size and
 * SHA-256 when known, and refused early when the first bytes are not GGUF.
 */

import { AbortError, ModelFetchError } from "../errors.ts";
import { createSha256, readsRedirects } from "../platform/index.ts";
import type { ModelStore } from "./store.ts";

export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

export interface DownloadTarget {
  url: string;
  /** where it goes in the store */
  key: string;
  /** what to call it in messages and progress */
  label: string;
  size?: number;
  sha256?: string;
  headers?: Record<string, string>;
}

export interface DownloadOptions {
  fetch: Fetch;
  signal?: AbortSignal;
  /** extra attempts after a dropped connection or a 5xx (default 5) */
  retries?: number;
  /** give up when no response headers, or no body bytes, arrive for this long (default 15 s) */
  stallMs?: number;
  onBytes?: (received: number, total: number | undefined) => void;
}

/** What the store keeps beside each complete file (`<key>.json`). */
export interface FileMeta {
  url: string;
  size: number;
  sha256?: string;
  etag?: string;
  downloadedAt: string;
}

const GGUF = [0x47, 0x47, 0x55, 0x46];

/**
 * Follows redirects by hand on servers so that the Hub's `X-Linked-Etag` (the SHA-256 of an LFS
 * file) and `X-Linked-Size`, sent with the redirect to the CDN, can be read. The token is not
 * sent to another origin. Browsers follow redirects themselves (manual ones are opaque there).
 */
async function fetchFollow(doFetch: Fetch, url: string, init: RequestInit) {
  const linked: { sha256?: string; size?: number } = {};
  if (!readsRedirects) return { res: await doFetch(url, init), linked };
  let headers = { ...(init.headers as Record<string, string>) };
  for (let hop = 0; hop < 10; hop++) {
    const res = await doFetch(url, { ...init, headers, redirect: "manual" });
    const etag = res.headers.get("x-linked-etag")?.replace(/^W\//, "").replaceAll('"', "");
    if (etag && /^[0-9a-f]{64}$/.test(etag)) linked.sha256 = etag;
    const size = Number(res.headers.get("x-linked-size") ?? NaN);
    if (Number.isSafeInteger(size)) linked.size = size;
    const location = res.headers.get("location");
    if (res.status < 300 || res.status >= 400 || !location) return { res, linked };
    await res.body?.cancel();
    const next = new URL(location, url);
    if (next.origin !== new URL(url).origin) {
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== "authorization"));
    }
    url = next.href;
  }
  throw new Error("too many redirects");
}

/** A fetch whose headers and each body chunk must arrive within `stallMs`. */
async function fetchWithStall(doFetch: Fetch, url: string, init: RequestInit, stallMs: number, outer?: AbortSignal) {
  const ctrl = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stalled = false;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      ctrl.abort();
    }, stallMs);
  };
  const onAbort = () => ctrl.abort();
  outer?.addEventListener("abort", onAbort);
  arm();
  const done = () => {
    clearTimeout(timer);
    outer?.removeEventListener("abort", onAbort);
  };
  try {
    const { res, linked } = await fetchFollow(doFetch, url, { ...init, signal: ctrl.signal });
    return { res, linked, arm, done, stalled: () => stalled };
  } catch (e) {
    done();
    if (outer?.aborted) throw new AbortError("download aborted");
    throw stalled ? new Error(`no response within ${stallMs / 1000} s`) : e;
  }
}

function describeCause(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  const cause = err.cause?.code ?? err.cause?.message;
  return cause && !err.message.includes(cause) ? `${err.message} (${cause})` : err.message;
}

export async function downloadFile(t: DownloadTarget, store: ModelStore, o: DownloadOptions): Promise<FileMeta> {
  const retries = o.retries ?? 5;
  const stallMs = o.stallMs ?? 15_000;
  let attempt = 0;
  let expectSize = t.size;
  let expectSha = t.sha256;
  let total = t.size;
  let etag: string | undefined;
  const partMetaKey = `${t.key}.part.json`;
  try {
    etag = JSON.parse((await store.readText(partMetaKey)) ?? "{}").etag;
  } catch { /* no partial meta */ }

  for (;;) {
    if (o.signal?.aborted) throw new AbortError("download aborted");
    let offset = await store.partialSize(t.key);
    if (total !== undefined && offset > total) offset = 0;
    const headers: Record<string, string> = { ...t.headers };
    if (offset > 0) {
      headers.range = `bytes=${offset}-`;
      if (etag) headers["if-range"] = etag;
    }
    let req;
    try {
      req = await fetchWithStall(o.fetch, t.url, { headers }, stallMs, o.signal);
    } catch (e) {
      if (e instanceof AbortError) throw e;
      // an unreachable host fails fast; a resumed download gets its retries
      if (offset > 0 && attempt++ < retries) {
        await new Promise((r) => setTimeout(r, 500 * attempt));
        continue;
      }
      throw new ModelFetchError("network", `cannot download ${t.label} from ${t.url}: ${describeCause(e)}`, t.url);
    }
    const { res, linked } = req;
    expectSha ??= linked.sha256;
    expectSize ??= linked.size;
    total ??= expectSize;
    try {
      if (res.status === 416 && offset > 0 && total !== undefined && offset === total) {
        await res.body?.cancel();
        break; // the partial file is already complete
      }
      if (res.status === 404 || res.status === 410) {
        throw new ModelFetchError("not_found", `${t.label}: not found (HTTP ${res.status} from ${t.url})`, t.url);
      }
      if (res.status === 401 || res.status === 403) {
        throw new ModelFetchError(
          "http_error",
          `${t.label}: access denied (HTTP ${res.status} from ${t.url}); gated or private repositories need HF_TOKEN`,
          t.url,
        );
      }
      if (!res.ok) {
        const retryable = res.status >= 500 || res.status === 429;
        if (retryable && attempt++ < retries) {
          await res.body?.cancel();
          await new Promise((r) => setTimeout(r, 200 * attempt));
          continue;
        }
        throw new ModelFetchError("http_error", `${t.label}: HTTP ${res.status} from ${t.url}`, t.url);
      }
      let start = 0;
      if (res.status === 206) {
        const m = /bytes (\d+)-(\d+)\/(\d+|\*)/.exec(res.headers.get("content-range") ?? "");
        start = m ? Number(m[1]) : -1;
        if (m && m[3] !== "*") total ??= Number(m[3]);
        if (start !== offset) start = -1;
      } else {
        const len = res.headers.get("content-length");
        if (len !== null && res.headers.get("content-encoding") === null) total ??= Number(len);
      }
      if (start < 0) {
        // the server ignored or mangled the range: start over
        await res.body?.cancel();
        await store.remove(t.key);
        continue;
      }
      if (expectSize !== undefined && total !== undefined && total !== expectSize) {
        throw new ModelFetchError(
          "size_mismatch",
          `${t.label}: the server sends ${total} bytes, expected ${expectSize} (${t.url})`,
          t.url,
        );
      }
      etag = res.headers.get("etag") ?? etag;
      if (start === 0 && etag) await store.writeText(partMetaKey, JSON.stringify({ etag }));
      const received = await receive(res, t, store, start, total, req.arm, o);
      req.done();
      if (received === null) {
        if ((await store.partialSize(t.key)) > offset) attempt = 0; // progress was made: a fresh set of retries
        if (req.stalled() && attempt >= retries) {
          throw new ModelFetchError(
            "network",
            `${t.label}: the download stalled (no data for ${stallMs / 1000} s) from ${t.url}`,
            t.url,
          );
        }
        if (attempt++ >= retries) {
          throw new ModelFetchError(
            "network",
            `${t.label}: the connection dropped ${retries + 1} times (${t.url})`,
            t.url,
          );
        }
        continue;
      }
      total ??= received;
      if (received !== total) {
        if (attempt++ < retries) continue;
        throw new ModelFetchError(
          "size_mismatch",
          `${t.label}: received ${received} bytes, expected ${total} (${t.url})`,
          t.url,
        );
      }
      break;
    } catch (e) {
      req.done();
      await res.body?.cancel().catch(() => {});
      throw e;
    }
  }

  const size = await store.partialSize(t.key);
  let sha256: string | undefined;
  if (expectSha) {
    const h = await createSha256();
    for await (const chunk of store.readPartial(t.key)) h.update(chunk);
    sha256 = h.hex();
    if (sha256 !== expectSha.toLowerCase()) {
      await store.remove(t.key);
      await store.remove(partMetaKey);
      throw new ModelFetchError(
        "checksum_mismatch",
        `${t.label}: SHA-256 mismatch (got ${sha256}, expected ${expectSha}); the partial file was deleted (${t.url})`,
        t.url,
      );
    }
  }
  await store.commit(t.key);
  await store.remove(partMetaKey);
  const meta: FileMeta = { url: t.url, size, sha256, etag, downloadedAt: new Date().toISOString() };
  await store.writeText(`${t.key}.json`, JSON.stringify(meta));
  return meta;
}

/** Streams the body into the partial file. Returns the bytes now present, or null if the connection dropped. */
async function receive(
  res: Response,
  t: DownloadTarget,
  store: ModelStore,
  start: number,
  total: number | undefined,
  arm: () => void,
  o: DownloadOptions,
): Promise<number | null> {
  const sink = await store.openPartial(t.key, start);
  let pos = start;
  let head: Uint8Array | null = start === 0 ? new Uint8Array(0) : null; // first bytes, to refuse non-GGUF content early
  try {
    const reader = res.body!.getReader();
    for (;;) {
      let r;
      try {
        r = await reader.read();
      } catch {
        if (o.signal?.aborted) throw new AbortError("download aborted");
        return null;
      }
      if (r.done) break;
      arm();
      if (head !== null) {
        const h: Uint8Array = concat(head, r.value.subarray(0, 4 - head.length));
        head = h;
        if (h.length >= 4) {
          if (!GGUF.every((b, i) => h[i] === b)) {
            await reader.cancel().catch(() => {});
            const type = res.headers.get("content-type") ?? "unknown type";
            throw new ModelFetchError(
              "wrong_content",
              `${t.label}: ${t.url} is not a GGUF file (content-type ${type}, starts with ${
                JSON.stringify(new TextDecoder().decode(h))
              })`,
              t.url,
            );
          }
          head = null;
        }
      }
      await sink.write(r.value);
      pos += r.value.length;
      o.onBytes?.(pos, total);
    }
  } finally {
    await sink.close();
  }
  if (head) {
    throw new ModelFetchError("wrong_content", `${t.label}: ${t.url} is not a GGUF file (only ${pos} bytes)`, t.url);
  }
  return pos;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
