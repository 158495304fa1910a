/**
 * Everything that differs between Deno, Bun, Node.js and the browser: which runtime this is,
 * files, workers, process exit. The rest of the code base is runtime-neutral and imports this.
 * Deno and Bun implement node:fs and node:worker_threads, so file access is shared with Node.
 */

import type { ByteSource } from "./gguf/reader.ts";
import type { ByteSink } from "./gguf/writer.ts";

declare const Deno: { version: { deno: string } } | undefined;
declare const Bun: { version: string } | undefined;

export type Runtime = "deno" | "bun" | "node" | "browser";

export const runtime: Runtime = typeof Deno !== "undefined"
  ? "deno"
  : typeof Bun !== "undefined"
  ? "bun"
  // deno-lint-ignore no-process-global
  : typeof process !== "undefined" && process.versions?.node
  ? "node"
  : "browser";

export const isServerRuntime = runtime !== "browser";

// Loaded lazily so browser bundles never touch them.
type Fs = typeof import("node:fs");
let fsModule: Fs | undefined;
export async function nodeFs(): Promise<Fs> {
  if (!isServerRuntime) throw new Error("file system access needs Deno, Bun or Node.js");
  return fsModule ??= await import("node:fs");
}

/** Peak resident memory of this process in bytes (benchmarks), or NaN where the runtime cannot tell. */
export function peakRssBytes(): number {
  const p = (globalThis as { process?: { resourceUsage?: () => { maxRSS: number } } }).process;
  return typeof p?.resourceUsage === "function" ? p.resourceUsage().maxRSS * 1024 : NaN; // maxRSS is in KiB
}

export function hardwareConcurrency(): number {
  const n = (globalThis.navigator as { hardwareConcurrency?: number } | undefined)?.hardwareConcurrency;
  return n && n > 0 ? n : 1;
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

/** A ByteSource over a Blob or File (browser, or any runtime with Blob). */
export function blobSource(name: string, blob: Blob): ByteSource {
  return {
    name,
    size: blob.size,
    async read(offset, length) {
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
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

export async function readBytes(url: URL): Promise<Uint8Array> {
  if (url.protocol === "file:") {
    const fs = await nodeFs();
    const { fileURLToPath } = await import("node:url");
    return new Uint8Array(await fs.promises.readFile(fileURLToPath(url)));
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Whether this runtime can run the relaxed-SIMD build (relaxed 8-bit dot products). Node.js 20's
 * V8 has the feature behind a flag, set here for the whole process (workers included); Deno,
 * Bun and current browsers have it on by default.
 */
export async function relaxedSimdSupported(): Promise<boolean> {
  if (WebAssembly.validate(RELAXED_DOT_PROBE)) return true;
  if (runtime !== "node") return false;
  const v8 = await import("node:v8");
  v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  return WebAssembly.validate(RELAXED_DOT_PROBE);
}

// (func (param v128 v128) (result v128) local.get 0 local.get 1 i16x8.relaxed_dot_i8x16_i7x16_s)
const RELAXED_DOT_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 7, 1, 96, 2, 123, 123, 1, 123, 3, 2, 1, 0,
  10, 11, 1, 9, 0, 32, 0, 32, 1, 253, 146, 2, 11,
]);

/** The message channel of a worker, the same shape on every runtime. */
export interface Port {
  postMessage(msg: unknown, transfer?: Transferable[]): void;
  onMessage(handler: (msg: unknown) => void): void;
  onError(handler: (err: Error) => void): void;
  terminate(): void;
}

/** Starts a module worker. Node's worker_threads is wrapped to look like a Web Worker. */
export async function startWorker(url: URL): Promise<Port> {
  if (runtime === "node") {
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
  const w = new Worker(url, { type: "module" });
  return {
    postMessage: (m, t) => w.postMessage(m, t ?? []),
    onMessage: (h) => w.addEventListener("message", (e) => h((e as MessageEvent).data)),
    onError: (h) => w.addEventListener("error", (e) => {
      (e as Event).preventDefault?.();
      h(new Error((e as ErrorEvent).message || "engine worker failed"));
    }),
    terminate: () => w.terminate(),
  };
}

/** The worker side of the channel (inside the engine worker). */
export async function parentPort(): Promise<Pick<Port, "postMessage" | "onMessage">> {
  if (runtime === "node") {
    const { parentPort } = await import("node:worker_threads");
    return {
      postMessage: (m, t) => parentPort!.postMessage(m, t as never),
      onMessage: (h) => parentPort!.on("message", h),
    };
  }
  const self = globalThis as unknown as Worker;
  return {
    postMessage: (m, t) => self.postMessage(m, t ?? []),
    onMessage: (h) => self.addEventListener("message", (e) => h((e as MessageEvent).data)),
  };
}

/** Synchronous random reads of a file inside the engine worker (feeds the wasm file system). */
export interface SyncReader {
  size: number;
  readInto(dst: Uint8Array, position: number): number;
  close(): void;
}

export async function openSyncReader(file: string | Blob): Promise<SyncReader> {
  if (typeof file !== "string") {
    // Dedicated workers have FileReaderSync; reading a Blob slice copies only that slice.
    const reader = new (globalThis as unknown as { FileReaderSync: new () => { readAsArrayBuffer(b: Blob): ArrayBuffer } })
      .FileReaderSync();
    return {
      size: file.size,
      readInto(dst, position) {
        const bytes = new Uint8Array(reader.readAsArrayBuffer(file.slice(position, position + dst.length)));
        dst.set(bytes);
        return bytes.length;
      },
      close() {},
    };
  }
  const fs = await nodeFs();
  const fd = fs.openSync(file, "r");
  const size = fs.fstatSync(fd).size;
  return {
    size,
    readInto: (dst, position) => fs.readSync(fd, dst, 0, dst.length, position),
    close: () => fs.closeSync(fd),
  };
}

export interface HttpServer {
  /** the port listened on (useful with port 0) */
  port: number;
  close(): Promise<void>;
}

/**
 * Serves a fetch handler (a Hono app's `fetch`) over HTTP with the runtime's own server:
 * Deno.serve, Bun.serve, or @hono/node-server on Node.js.
 */
export async function serveHttp(fetch: (req: Request) => Response | Promise<Response>, o: { hostname: string; port: number }): Promise<HttpServer> {
  const g = globalThis as unknown as Record<string, any>; // deno-lint-ignore no-explicit-any
  if (runtime === "deno") {
    const server = g.Deno.serve({ hostname: o.hostname, port: o.port, onListen() {} }, fetch);
    return { port: server.addr.port, close: () => server.shutdown() };
  }
  if (runtime === "bun") {
    // idleTimeout 0: an image request may compute for minutes before its first byte
    const server = g.Bun.serve({ hostname: o.hostname, port: o.port, fetch, idleTimeout: 0 });
    return { port: server.port, close: async () => void server.stop(true) };
  }
  if (runtime === "node") {
    const { serve } = await import("@hono/node-server");
    return await new Promise((resolve) => {
      const server = serve({ fetch, hostname: o.hostname, port: o.port }, (info) =>
        resolve({
          port: info.port,
          close: () => new Promise<void>((r) => {
            (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
            server.close(() => r());
          }),
        }));
      // no time limit on computing a response; the bounded queue protects the server instead
      (server as unknown as { requestTimeout: number }).requestTimeout = 0;
    });
  }
  throw new Error("serving HTTP needs Deno, Bun or Node.js");
}

/** Resolves when the process is asked to stop (Ctrl-C or SIGTERM). */
export async function onStopSignal(handler: () => void) {
  if (!isServerRuntime) return;
  const g = globalThis as unknown as Record<string, any>; // deno-lint-ignore no-explicit-any
  if (runtime === "deno") {
    for (const s of ["SIGINT", "SIGTERM"]) g.Deno.addSignalListener(s, handler);
    return;
  }
  const proc = (await import("node:process")).default;
  proc.once("SIGINT", handler);
  proc.once("SIGTERM", handler);
}

// ---- model cache, environment, terminal (used by engine/ts/hub/) ----------------------------

/** An environment variable (Deno, Bun, Node); always undefined in browsers. */
export function env(name: string): string | undefined {
  if (!isServerRuntime) return undefined;
  // deno-lint-ignore no-process-global
  return process.env[name] || undefined;
}

/** $MINICPMV_EDGE_CACHE, else the platform cache directory (server runtimes). */
export function cacheDir(): string {
  const e = (n: string) => env(n);
  if (e("MINICPMV_EDGE_CACHE")) return e("MINICPMV_EDGE_CACHE")!;
  // deno-lint-ignore no-process-global
  const platform = isServerRuntime ? process.platform : "browser";
  const home = e("HOME") ?? e("USERPROFILE") ?? ".";
  const base = platform === "darwin"
    ? `${home}/Library/Caches`
    : platform === "win32"
    ? (e("LOCALAPPDATA") ?? `${home}/AppData/Local`)
    : (e("XDG_CACHE_HOME") ?? `${home}/.cache`);
  return `${base}/minicpmv-edge/models`;
}

/** Whether progress can be drawn on stderr (a terminal, and not disabled). */
export function stderrIsTty(): boolean {
  // deno-lint-ignore no-process-global
  return isServerRuntime && !!(process.stderr as { isTTY?: boolean }).isTTY;
}

/** Incremental SHA-256: node:crypto on servers (fast, native), @noble/hashes in browsers. */
export interface Hasher {
  update(bytes: Uint8Array): void;
  hex(): string;
}
export async function createSha256(): Promise<Hasher> {
  if (isServerRuntime) {
    const { createHash } = await import("node:crypto");
    const h = createHash("sha256");
    return { update: (b) => void h.update(b), hex: () => h.digest("hex") };
  }
  const { sha256 } = await import("@noble/hashes/sha2.js");
  const h = sha256.create();
  return {
    update: (b) => void h.update(b),
    hex: () => Array.from(h.digest(), (x) => x.toString(16).padStart(2, "0")).join(""),
  };
}

/**
 * Where downloaded model files live: a directory on servers, the origin private file system
 * (OPFS) in browsers. Keys are relative paths ("huggingface/owner/repo/file.gguf"); a file
 * being downloaded is kept as "<key>.part" until it is complete and checked.
 */
export interface ModelStore {
  /** describes where `key` lives (a path on servers, "opfs:/key" in browsers) */
  location(key: string): string;
  /** a complete file: its path (servers) or a File (browsers), or null */
  get(key: string): Promise<string | Blob | null>;
  size(key: string): Promise<number | null>;
  /** appends to the partial file from `offset`, dropping anything after it */
  openPartial(key: string, offset: number): Promise<ByteSink>;
  /** the bytes of the partial file, in chunks (for the checksum of resumed downloads) */
  readPartial(key: string): AsyncIterable<Uint8Array>;
  partialSize(key: string): Promise<number>;
  commit(key: string): Promise<void>;
  remove(key: string): Promise<void>;
  readText(key: string): Promise<string | null>;
  writeText(key: string, text: string): Promise<void>;
  /** every complete file under `prefix` (recursively), with sizes */
  list(prefix?: string): Promise<{ key: string; size: number }[]>;
}

export async function modelStore(root = cacheDir()): Promise<ModelStore> {
  return isServerRuntime ? await fsStore(root) : opfsStore();
}

async function fsStore(root: string): Promise<ModelStore> {
  const fs = await nodeFs();
  const p = fs.promises;
  const path = (key: string) => `${root}/${key}`;
  const dirOf = (f: string) => f.slice(0, f.lastIndexOf("/"));
  const statSize = async (f: string) => {
    try {
      return (await p.stat(f)).size;
    } catch {
      return null;
    }
  };
  return {
    location: path,
    get: async (key) => ((await statSize(path(key))) === null ? null : path(key)),
    size: (key) => statSize(path(key)),
    async openPartial(key, offset) {
      const f = `${path(key)}.part`;
      await p.mkdir(dirOf(f), { recursive: true });
      const h = await p.open(f, fs.existsSync(f) ? "r+" : "w");
      await h.truncate(offset);
      let pos = offset;
      return {
        async write(bytes) {
          let off = 0;
          while (off < bytes.length) {
            const { bytesWritten } = await h.write(bytes, off, bytes.length - off, pos);
            off += bytesWritten;
            pos += bytesWritten;
          }
        },
        close: () => h.close(),
      };
    },
    async *readPartial(key) {
      const h = await p.open(`${path(key)}.part`, "r");
      try {
        const buf = new Uint8Array(1 << 22);
        for (let pos = 0;;) {
          const { bytesRead } = await h.read(buf, 0, buf.length, pos);
          if (!bytesRead) break;
          pos += bytesRead;
          yield buf.subarray(0, bytesRead);
        }
      } finally {
        await h.close();
      }
    },
    partialSize: async (key) => (await statSize(`${path(key)}.part`)) ?? 0,
    commit: (key) => p.rename(`${path(key)}.part`, path(key)),
    async remove(key) {
      await p.rm(path(key), { force: true });
      await p.rm(`${path(key)}.part`, { force: true });
    },
    readText: async (key) => {
      try {
        return await p.readFile(path(key), "utf8");
      } catch {
        return null;
      }
    },
    async writeText(key, text) {
      await p.mkdir(dirOf(path(key)), { recursive: true });
      const tmp = `${path(key)}.${Date.now()}.tmp`;
      await p.writeFile(tmp, text);
      await p.rename(tmp, path(key));
    },
    async list(prefix = "") {
      const out: { key: string; size: number }[] = [];
      const walk = async (rel: string) => {
        let entries;
        try {
          entries = await p.readdir(path(rel), { withFileTypes: true });
        } catch {
          return;
        }
        for (const e of entries) {
          const k = rel ? `${rel}/${e.name}` : e.name;
          if (e.isDirectory()) await walk(k);
          else if (e.isFile() && e.name.endsWith(".gguf")) out.push({ key: k, size: (await statSize(path(k)))! });
        }
      };
      await walk(prefix.replace(/\/$/, ""));
      return out.sort((a, b) => a.key.localeCompare(b.key));
    },
  };
}

// OPFS types are recent in lib.dom; the few calls used are typed here.
interface OpfsDir {
  getDirectoryHandle(name: string, o?: { create?: boolean }): Promise<OpfsDir>;
  getFileHandle(name: string, o?: { create?: boolean }): Promise<OpfsFile>;
  removeEntry(name: string): Promise<void>;
  entries(): AsyncIterable<[string, OpfsDir | OpfsFile]>;
  kind: "directory";
}
interface OpfsFile {
  kind: "file";
  getFile(): Promise<File>;
  /** Chromium 110+, Firefox 111+ (OPFS); absent in older browsers */
  move?(dir: OpfsDir, name: string): Promise<void>;
  createWritable(o?: { keepExistingData?: boolean }): Promise<{
    seek(n: number): Promise<void>;
    truncate(n: number): Promise<void>;
    write(b: Uint8Array): Promise<void>;
    close(): Promise<void>;
  }>;
}

function opfsStore(): ModelStore {
  const root = async (): Promise<OpfsDir> =>
    (await (navigator as unknown as { storage: { getDirectory(): Promise<OpfsDir> } }).storage.getDirectory())
      .getDirectoryHandle("minicpmv-edge", { create: true });
  const dirFor = async (key: string, create: boolean) => {
    let d = await root();
    const parts = key.split("/");
    for (const part of parts.slice(0, -1)) d = await d.getDirectoryHandle(part, { create });
    return { dir: d, name: parts[parts.length - 1] };
  };
  const file = async (key: string, create = false): Promise<OpfsFile | null> => {
    try {
      const { dir, name } = await dirFor(key, create);
      return await dir.getFileHandle(name, { create });
    } catch {
      return null;
    }
  };
  const size = async (key: string) => {
    const f = await file(key);
    return f ? (await f.getFile()).size : null;
  };
  return {
    location: (key) => `opfs:/minicpmv-edge/${key}`,
    get: async (key) => (await (await file(key))?.getFile()) ?? null,
    size,
    async openPartial(key, offset) {
      const w = await (await file(`${key}.part`, true))!.createWritable({ keepExistingData: true });
      await w.truncate(offset);
      await w.seek(offset);
      return { write: (b) => w.write(b), close: () => w.close() };
    },
    async *readPartial(key) {
      const blob = await (await file(`${key}.part`))!.getFile();
      for (let pos = 0; pos < blob.size; pos += 1 << 22) {
        yield new Uint8Array(await blob.slice(pos, pos + (1 << 22)).arrayBuffer());
      }
    },
    partialSize: async (key) => (await size(`${key}.part`)) ?? 0,
    async commit(key) {
      const handle = (await file(`${key}.part`))!;
      if (handle.move) {
        const { dir, name } = await dirFor(key, true);
        await dir.removeEntry(name).catch(() => {}); // a stale copy, if any
        return await handle.move(dir, name);
      }
      // no move() in this browser: copy the part into place, then drop it
      const part = await handle.getFile();
      const w = await (await file(key, true))!.createWritable();
      for (let pos = 0; pos < part.size; pos += 1 << 24) {
        await w.write(new Uint8Array(await part.slice(pos, pos + (1 << 24)).arrayBuffer()));
      }
      await w.close();
      const { dir, name } = await dirFor(`${key}.part`, false);
      await dir.removeEntry(name);
    },
    async remove(key) {
      for (const k of [key, `${key}.part`]) {
        try {
          const { dir, name } = await dirFor(k, false);
          await dir.removeEntry(name);
        } catch { /* absent */ }
      }
    },
    readText: async (key) => (await (await file(key))?.getFile())?.text() ?? null,
    async writeText(key, text) {
      const w = await (await file(key, true))!.createWritable();
      await w.write(new TextEncoder().encode(text));
      await w.close();
    },
    async list(prefix = "") {
      const out: { key: string; size: number }[] = [];
      const walk = async (d: OpfsDir, rel: string) => {
        for await (const [name, h] of d.entries()) {
          const k = rel ? `${rel}/${name}` : name;
          if (h.kind === "directory") await walk(h, k);
          else if (name.endsWith(".gguf") && k.startsWith(prefix)) out.push({ key: k, size: (await h.getFile()).size });
        }
      };
      await walk(await root(), "");
      return out.sort((a, b) => a.key.localeCompare(b.key));
    },
  };
}
