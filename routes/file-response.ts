/**
 * One local file as an HTTP response: GET and HEAD, a single `Range: bytes=a-b` (206, or 416 when
 * it starts past the end), `ETag` from size and mtime (so a resumed download's `If-Range` detects a
 * changed file) and a content type from the extension. The body is read in chunks on demand, so a
 * multi-gigabyte model file is never held in memory. node:fs only: Deno, Bun and Node alike.
 */

import { open, stat } from "node:fs/promises";

const CONTENT_TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  json: "application/json",
  wasm: "application/wasm",
  svg: "image/svg+xml",
  png: "image/png",
};

const CHUNK_BYTES = 1 << 20;

export interface FileResponseOptions {
  /** extra response headers (e.g. cross-origin isolation) */
  headers?: Record<string, string>;
  /** Cache-Control (default "no-cache": revalidate by ETag) */
  cacheControl?: string;
}

function contentType(path: string): string {
  return CONTENT_TYPES[path.slice(path.lastIndexOf(".") + 1).toLowerCase()] ?? "application/octet-stream";
}

/** [start, end] inclusive of a `bytes=a-b` / `bytes=a-` / `bytes=-n` header; null: ignore it; "unsatisfiable". */
export function parseRange(header: string | undefined, size: number): [number, number] | null | "unsatisfiable" {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header?.trim() ?? "");
  if (!m || (m[1] === "" && m[2] === "")) return null; // absent, multi-range or malformed: the whole file
  if (m[1] === "") {
    const n = Number(m[2]);
    return n === 0 ? "unsatisfiable" : [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size) return "unsatisfiable";
  return end < start ? null : [start, end];
}

/** The file at `path` answering `req`; undefined when there is no such regular file. */
export async function fileResponse(req: Request, path: string, o: FileResponseOptions = {}) {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) return undefined;
  const size = info.size;
  const etag = `"${size.toString(16)}-${Math.floor(info.mtimeMs).toString(16)}"`;
  const headers = new Headers({
    ...o.headers,
    "content-type": contentType(path),
    "accept-ranges": "bytes",
    etag,
    "last-modified": new Date(info.mtimeMs).toUTCString(),
    "cache-control": o.cacheControl ?? "no-cache",
  });
  if (req.headers.get("if-none-match") === etag) return new Response(null, { status: 304, headers });

  const ifRange = req.headers.get("if-range");
  const range = ifRange && ifRange !== etag ? null : parseRange(req.headers.get("range") ?? undefined, size);
  if (range === "unsatisfiable") {
    headers.set("content-range", `bytes */${size}`);
    return new Response(null, { status: 416, headers });
  }
  const [start, end] = range ?? [0, size - 1];
  headers.set("content-length", String(Math.max(0, end - start + 1)));
  if (range) headers.set("content-range", `bytes ${start}-${end}/${size}`);
  const status = range ? 206 : 200;
  if (req.method === "HEAD" || size === 0) return new Response(null, { status, headers });
  return new Response(fileStream(path, start, end), { status, headers });
}

/** Bytes [start, end] of a file, read a chunk at a time as the consumer pulls. */
function fileStream(path: string, start: number, end: number): ReadableStream<Uint8Array> {
  let position = start;
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  return new ReadableStream({
    async pull(controller) {
      handle ??= await open(path, "r");
      const length = Math.min(CHUNK_BYTES, end + 1 - position);
      const buffer = new Uint8Array(length);
      const { bytesRead } = await handle.read(buffer, 0, length, position);
      position += bytesRead;
      if (bytesRead > 0) controller.enqueue(buffer.subarray(0, bytesRead));
      if (bytesRead === 0 || position > end) {
        await handle.close();
        controller.close();
      }
    },
    async cancel() {
      await handle?.close();
    },
  });
}
