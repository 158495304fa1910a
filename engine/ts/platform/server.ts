/**
 * The platform on Deno, Bun and Node.js: one implementation for the three, since Deno and Bun
 * implement node:fs, node:crypto and node:module as Node does. The real differences stay small
 * branches on `runtime` here: Node runs the engine worker on worker_threads (Deno and Bun run
 * Web Workers, as browsers do), and Node 20 needs a V8 flag for relaxed SIMD. Engine code reaches
 * this module through index.ts; the browser bundle gets browser.ts in its place.
 */

import { Buffer } from "node:buffer";
import { availableParallelism, networkInterfaces } from "node:os";
import type { ByteSource } from "../gguf/reader.ts";
import type { ByteSink } from "../gguf/writer.ts";
import { runtime as probed } from "./probe.ts";
import type { Hasher, NodeFs, ParentPort, Port, Runtime, SyncReader } from "./types.ts";
import { blobSyncReader, fetchBytes, relaxedDotValidates, startWebWorker, webParentPort } from "./web.ts";

export const runtime: Runtime = probed;

export const isServerRuntime: boolean = runtime !== "browser";

/** Bytes of valid base64 text (the caller validates): Buffer's native decoder, ~100x atob + a JS loop. */
export function decodeBase64(text: string): Uint8Array {
  const b = Buffer.from(text, "base64");
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** This isolate's JS heap plus the external memory (ArrayBuffers) it holds. */
export function heapBytes(): number {
  // deno-lint-ignore no-process-global
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

/** Cores this process may use. Not `navigator.hardwareConcurrency`: Node 20 has no navigator. */
export function hardwareConcurrency(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Whether a fetch with `redirect: "manual"` shows the redirect's status and headers. Servers
 * do; browsers return an opaque response and must follow redirects themselves.
 */
export const readsRedirects: boolean = true;

/**
 * The addresses a host name resolves to, as the system resolver answers (getaddrinfo, as fetch
 * connects): node:dns/promises, which Deno and Bun implement too. Rejects when the name does not
 * resolve. Browsers cannot resolve names and answer undefined (browser.ts).
 */
export async function resolveHost(hostname: string): Promise<string[] | undefined> {
  const { lookup } = await import("node:dns/promises");
  return (await lookup(hostname, { all: true, verbatim: true })).map((a) => a.address);
}

/** This machine's own addresses (every interface's), or none where the runtime may not list them. */
export function localAddresses(): Promise<string[]> {
  try {
    return Promise.resolve(Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((i) => i.address)));
  } catch {
    return Promise.resolve([]); // e.g. Deno without --allow-sys
  }
}

// Loaded on first use, so that processes which never touch a file do not load it.
let fsModule: NodeFs | undefined;
export async function nodeFs(): Promise<NodeFs> {
  return fsModule ??= await import("node:fs");
}

/** Random access to a local file, or null when it does not exist. */
export async function openFile(path: string): Promise<ByteSource | null> {
  const fs = await nodeFs();
  let handle;
  try {
    handle = await fs.promises.open(path, "r");
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return null;
    throw e;
  }
  const size = (await handle.stat()).size;
  await handle.close();
  return {
    name: path,
    size,
    async read(offset, length) {
      const h = await fs.promises.open(path, "r");
      try {
        const buf = new Uint8Array(Math.min(length, size - offset));
        const { bytesRead } = await h.read(buf, 0, buf.length, offset);
        return buf.subarray(0, bytesRead);
      } finally {
        await h.close();
      }
    },
  };
}

export async function createFileSink(path: string): Promise<ByteSink> {
  const fs = await nodeFs();
  const h = await fs.promises.open(path, "w");
  return {
    async write(bytes) {
      let off = 0;
      while (off < bytes.length) off += (await h.write(bytes, off, bytes.length - off)).bytesWritten;
    },
    close: () => h.close(),
  };
}

/** The bytes at a file: or http(s) URL. */
export async function readBytes(url: URL): Promise<Uint8Array> {
  if (url.protocol !== "file:") return await fetchBytes(url);
  const fs = await nodeFs();
  const { fileURLToPath } = await import("node:url");
  return new Uint8Array(await fs.promises.readFile(fileURLToPath(url)));
}

/**
 * Whether this runtime can run the relaxed-SIMD build (relaxed 8-bit dot products). Node.js 20's
 * V8 has the feature behind a flag, set here for the whole process (workers included); Deno,
 * Bun and current browsers have it on by default.
 */
export async function relaxedSimdSupported(): Promise<boolean> {
  if (relaxedDotValidates()) return true;
  if (runtime !== "node") return false;
  const v8 = await import("node:v8");
  v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  return relaxedDotValidates();
}

/** Starts the engine worker: worker_threads on Node (wrapped to look like a Web Worker), else a Web Worker. */
export async function startWorker(url: URL): Promise<Port> {
  if (runtime !== "node") return startWebWorker(url);
  const { Worker } = await import("node:worker_threads");
  const w = new Worker(url);
  return {
    postMessage: (m, t) => w.postMessage(m, t as never),
    onMessage: (h) => w.on("message", h),
    onError: (h) => {
      w.on("error", h);
      w.on("exit", (code) => h(new Error(`engine worker exited with code ${code}`)));
    },
    terminate: () => void w.terminate(),
  };
}

/** The worker side of the channel (inside the engine worker). */
export async function parentPort(): Promise<ParentPort> {
  if (runtime !== "node") return webParentPort();
  const { parentPort } = await import("node:worker_threads");
  return {
    postMessage: (m, t) => parentPort!.postMessage(m, t as never),
    onMessage: (h) => parentPort!.on("message", h),
  };
}

/** A synchronous reader of a local file (by path) or a Blob, inside the engine worker. */
export async function openSyncReader(file: string | Blob): Promise<SyncReader> {
  if (typeof file !== "string") return blobSyncReader(file);
  const fs = await nodeFs();
  const fd = fs.openSync(file, "r");
  const size = fs.fstatSync(fd).size;
  return {
    size,
    readInto: (dst, position) => fs.readSync(fd, dst, 0, dst.length, position),
    close: () => fs.closeSync(fd),
  };
}

/** An environment variable (empty counts as unset). */
export function env(name: string): string | undefined {
  // deno-lint-ignore no-process-global
  return process.env[name] || undefined;
}

/** The user's cache directory by the OS's convention (~/Library/Caches, %LOCALAPPDATA%, $XDG_CACHE_HOME). */
export function userCacheDir(): string {
  const home = env("HOME") ?? env("USERPROFILE") ?? ".";
  // deno-lint-ignore no-process-global
  const os = process.platform;
  return os === "darwin"
    ? `${home}/Library/Caches`
    : os === "win32"
    ? (env("LOCALAPPDATA") ?? `${home}/AppData/Local`)
    : (env("XDG_CACHE_HOME") ?? `${home}/.cache`);
}

/** Incremental SHA-256 by node:crypto (native, fast). */
export async function createSha256(): Promise<Hasher> {
  const { createHash } = await import("node:crypto");
  const h = createHash("sha256");
  return { update: (b) => void h.update(b), hex: () => h.digest("hex") };
}

/**
 * A file shipped in an npm dependency (e.g. "@jsquash/webp/codec/dec/webp_dec.wasm"), read from
 * node_modules; browsers return null and the dependency fetches it by URL itself.
 */
export async function readDependencyFile(specifier: string): Promise<Uint8Array<ArrayBuffer> | null> {
  const { createRequire } = await import("node:module");
  const fs = await nodeFs();
  return fs.readFileSync(createRequire(import.meta.url).resolve(specifier)) as Uint8Array<ArrayBuffer>;
}

/**
 * Prepares the emscripten module's host and returns its locateFile. Emscripten 3.1.6 takes its
 * Node.js path on Deno, Bun and Node alike (all define `process`), where it expects CommonJS
 * globals and file paths, and its pthread workers start from pthread-bootstrap.cjs.
 */
export async function prepareEmscripten(wasmDir: URL, mainScript: URL): Promise<(file: string) => string> {
  const { createRequire } = await import("node:module");
  const { fileURLToPath } = await import("node:url");
  const g = globalThis as Record<string, unknown>;
  g.require ??= createRequire(mainScript);
  g.__dirname ??= fileURLToPath(new URL(".", wasmDir));
  g.global ??= globalThis;
  const pathOf = (url: URL) => decodeURIComponent(url.pathname);
  return (file) => pathOf(new URL(file.endsWith(".worker.js") ? "pthread-bootstrap.cjs" : file, wasmDir));
}
