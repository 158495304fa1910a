/**
 * The bytes of an image or a video from what callers pass: bytes, a Blob, a data URL, an http(s)
 * URL or a file path. One loader for both media kinds, so limits and errors read the same; remote
 * URLs go through net/remote-fetch.ts (timeouts, redirects, size cap, private-address policy).
 * A video file is read straight into shared memory (a SharedArrayBuffer where the runtime has
 * one), so the media worker that decodes it reads the same bytes instead of a clone of them.
 */

import { InvalidRequestError } from "./errors.ts";
import { fetchRemote } from "./net/remote-fetch.ts";
import { decodeBase64, type NodeFs, nodeFs } from "./platform/index.ts";

export type MediaInput = Uint8Array | ArrayBuffer | Blob | string;
export type MediaKind = "image" | "video";

export interface FetchLimits {
  /** largest remote file, bytes (default 20 MB) */
  maxBytes?: number;
  /** the whole remote transfer (redirects, headers and body), ms (default 10 s) */
  timeoutMs?: number;
  /** from each request until the remote server answers (headers), ms (default: timeoutMs) */
  connectTimeoutMs?: number;
  /** redirects followed (default 5) */
  maxRedirects?: number;
  /**
   * fetch URLs whose host is or resolves to a loopback, private, link-local or reserved address,
   * or this machine (default true in the library: callers fetch what they choose; the server
   * refuses them unless started with --allow-private-urls)
   */
  allowPrivate?: boolean;
  /** allow file paths (default true in the library; the server restricts it) */
  allowFiles?: boolean;
  /** cancels a remote fetch (AbortError), e.g. when the client that asked has left */
  signal?: AbortSignal;
}

export async function loadMediaBytes(
  input: MediaInput,
  limits: FetchLimits = {},
  kind: MediaKind = "image",
): Promise<Uint8Array> {
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (typeof Blob !== "undefined" && input instanceof Blob) return new Uint8Array(await input.arrayBuffer());
  if (typeof input !== "string") {
    throw new InvalidRequestError(`${article(kind)} must be bytes, a Blob, a URL or a path`, kind);
  }
  if (input.startsWith("data:")) return dataUrl(input, kind);
  if (/^https?:\/\//i.test(input)) return await fetchMedia(input, limits, kind);
  if (limits.allowFiles === false) {
    throw new InvalidRequestError(
      `local ${kind} files are not allowed here; send the ${kind} as a data URL or URL`,
      kind,
    );
  }
  try {
    // in browsers nodeFs() refuses: "cannot read image file x: loading by path needs Deno, ..."
    const fs = await nodeFs();
    if (kind === "video") return await readFileShared(fs, input);
    return new Uint8Array(await fs.promises.readFile(input));
  } catch (e) {
    throw new InvalidRequestError(`cannot read ${kind} file ${input}: ${(e as Error).message}`, kind);
  }
}

/** Whether memory can be shared with workers here (browsers: only in cross-origin isolated pages). */
function canShare(): boolean {
  return typeof SharedArrayBuffer !== "undefined" &&
    (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated !== false;
}

/**
 * `input` as something a worker can be sent without copying it: bytes in a SharedArrayBuffer
 * (copied there once if they are not; the caller's bytes stay as they are), a path or a Blob as is.
 */
export function shareableBytes<T>(input: T): T | Uint8Array {
  if (!(input instanceof Uint8Array) || input.buffer instanceof SharedArrayBuffer || !canShare()) return input;
  const shared = new Uint8Array(new SharedArrayBuffer(input.length));
  shared.set(input);
  return shared;
}

/** Reads up to 16 MiB at a time: a file never sits in memory twice (node:fs readFile may hold two copies). */
const READ_CHUNK = 16 * 2 ** 20;

/** A whole file, read in chunks into shared memory where there is some. */
async function readFileShared(fs: NodeFs, path: string): Promise<Uint8Array> {
  const file = await fs.promises.open(path, "r");
  try {
    const { size } = await file.stat();
    const bytes = new Uint8Array(canShare() ? new SharedArrayBuffer(size) : new ArrayBuffer(size));
    let at = 0;
    while (at < size) {
      const { bytesRead } = await file.read(bytes, at, Math.min(READ_CHUNK, size - at), at);
      if (bytesRead === 0) break; // the file shrank meanwhile
      at += bytesRead;
    }
    return at === size ? bytes : bytes.slice(0, at);
  } finally {
    await file.close();
  }
}

function article(kind: MediaKind): string {
  return kind === "image" ? "an image" : "a video";
}

function dataUrl(url: string, kind: MediaKind): Uint8Array {
  const m = /^data:([^;,]*)(;base64)?,(.*)$/s.exec(url);
  if (!m) throw new InvalidRequestError("malformed data URL", kind);
  try {
    if (!m[2]) return new TextEncoder().encode(decodeURIComponent(m[3]));
    const text = m[3].replace(/\s/g, "");
    // a request's data URL can be tens of MB: checked by one regex, decoded natively (platform)
    if (text.length % 4 === 1 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) throw new Error("bad base64");
    return decodeBase64(text);
  } catch {
    throw new InvalidRequestError("malformed data URL: bad base64", kind);
  }
}

function fetchMedia(url: string, limits: FetchLimits, kind: MediaKind): Promise<Uint8Array> {
  const timeoutMs = limits.timeoutMs ?? 10_000;
  return fetchRemote(url, {
    what: kind,
    maxBytes: limits.maxBytes ?? 20_000_000,
    timeoutMs,
    connectTimeoutMs: limits.connectTimeoutMs ?? timeoutMs,
    maxRedirects: limits.maxRedirects ?? 5,
    allowPrivate: limits.allowPrivate ?? true,
    signal: limits.signal,
  });
}
