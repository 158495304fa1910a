/**
 * The bytes of an image or a video from what callers pass: bytes, a Blob, a data URL, an http(s)
 * URL or a file path. One loader for both media kinds, so limits and errors read the same.
 */

import { InvalidRequestError } from "./errors.ts";
import { nodeFs } from "./platform/index.ts";

export type MediaInput = Uint8Array | ArrayBuffer | Blob | string;
export type MediaKind = "image" | "video";

export interface FetchLimits {
  /** largest remote file, bytes (default 20 MB) */
  maxBytes?: number;
  /** remote fetch timeout, ms (default 10 s) */
  timeoutMs?: number;
  /** allow file paths (default true in the library; the server restricts it) */
  allowFiles?: boolean;
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
    return new Uint8Array(await fs.promises.readFile(input));
  } catch (e) {
    throw new InvalidRequestError(`cannot read ${kind} file ${input}: ${(e as Error).message}`, kind);
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
    const bin = atob(m[3].replace(/\s/g, ""));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch {
    throw new InvalidRequestError("malformed data URL: bad base64", kind);
  }
}

async function fetchMedia(url: string, limits: FetchLimits, kind: MediaKind): Promise<Uint8Array> {
  const maxBytes = limits.maxBytes ?? 20_000_000;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(limits.timeoutMs ?? 10_000) });
  } catch (e) {
    throw new InvalidRequestError(`cannot fetch ${kind} ${url}: ${(e as Error).message}`, kind);
  }
  if (!res.ok) throw new InvalidRequestError(`cannot fetch ${kind} ${url}: HTTP ${res.status}`, kind);
  const declared = Number(res.headers.get("content-length") ?? 0);
  if (declared > maxBytes) {
    throw new InvalidRequestError(`${kind} ${url} is ${declared} bytes; the limit is ${maxBytes}`, kind);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > maxBytes) throw new InvalidRequestError(`${kind} ${url} exceeds ${maxBytes} bytes`, kind);
    chunks.push(chunk);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}
