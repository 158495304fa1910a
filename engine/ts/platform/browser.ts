/**
 * The platform in browsers; the browser bundle gets this module in place of server.ts
 * (scripts/bundle.mjs). There is no file system: whatever takes a path refuses it (pass Blobs or
 * Files; downloads go to OPFS, hub/store-opfs.ts), there are no environment variables, and
 * SHA-256 comes from @noble/hashes.
 */

import { InvalidRequestError } from "../errors.ts";
import type { ByteSource } from "../gguf/reader.ts";
import type { ByteSink } from "../gguf/writer.ts";
import type { Hasher, NodeFs, ParentPort, Port, Runtime, SyncReader } from "./types.ts";
import {
  blobSyncReader,
  fetchBytes,
  hardwareConcurrency,
  relaxedDotValidates,
  startWebWorker,
  webParentPort,
} from "./web.ts";

export const runtime: Runtime = "browser";

export const isServerRuntime: boolean = false;

export { hardwareConcurrency };

/** Bytes of valid base64 text (the caller validates). */
export function decodeBase64(text: string): Uint8Array {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A fetch with `redirect: "manual"` gives an opaque response here: browsers follow redirects. */
/** Browsers do not tell a worker its heap size (0: unknown). */
export function heapBytes(): number {
  return 0;
}

export const readsRedirects: boolean = false;

/** Browsers cannot resolve host names (callers judge literal addresses only). */
export function resolveHost(_hostname: string): Promise<string[] | undefined> {
  return Promise.resolve(undefined);
}

/** A page cannot list the machine's addresses. */
export function localAddresses(): Promise<string[]> {
  return Promise.resolve([]);
}

const noFiles = () => new InvalidRequestError("loading by path needs Deno, Bun or Node.js; pass a Blob");

export function nodeFs(): Promise<NodeFs> {
  return Promise.reject(noFiles());
}

export function openFile(_path: string): Promise<ByteSource | null> {
  return Promise.reject(noFiles());
}

export function createFileSink(_path: string): Promise<ByteSink> {
  return Promise.reject(noFiles());
}

export function readBytes(url: URL): Promise<Uint8Array> {
  return fetchBytes(url);
}

/** Current browsers have relaxed SIMD on by default where they have it at all. */
export function relaxedSimdSupported(): Promise<boolean> {
  return Promise.resolve(relaxedDotValidates());
}

export function startWorker(url: URL): Promise<Port> {
  return Promise.resolve(startWebWorker(url));
}

export function parentPort(): Promise<ParentPort> {
  return Promise.resolve(webParentPort());
}

export function openSyncReader(file: string | Blob): Promise<SyncReader> {
  return typeof file === "string" ? Promise.reject(noFiles()) : Promise.resolve(blobSyncReader(file));
}

export function env(_name: string): string | undefined {
  return undefined;
}

export function userCacheDir(): string {
  throw noFiles();
}

/** Incremental SHA-256 by @noble/hashes (loaded on first use). */
export async function createSha256(): Promise<Hasher> {
  const { sha256 } = await import("@noble/hashes/sha2.js");
  const h = sha256.create();
  return {
    update: (b) => void h.update(b),
    hex: () => Array.from(h.digest(), (x) => x.toString(16).padStart(2, "0")).join(""),
  };
}

/** null: a dependency fetches its files by URL here (the bundle ships them beside itself). */
export function readDependencyFile(_specifier: string): Promise<Uint8Array<ArrayBuffer> | null> {
  return Promise.resolve(null);
}

/** The emscripten module fetches its files (wasm, pthread workers) by URL from the wasm directory. */
export function prepareEmscripten(wasmDir: URL, _mainScript: URL): Promise<(file: string) => string> {
  return Promise.resolve((file) => new URL(file, wasmDir).href);
}
