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
