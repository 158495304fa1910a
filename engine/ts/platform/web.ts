/**
 * The Web-standard pieces both implementations use: Deno and Bun run the engine worker as a Web
 * Worker like browsers do, and every runtime has Blob, fetch and WebAssembly.validate. Kept
 * here once so that server.ts and browser.ts differ only where the runtimes do.
 */

import type { ByteSource } from "../gguf/reader.ts";
import type { ParentPort, Port, SyncReader } from "./types.ts";

export function hardwareConcurrency(): number {
  const n = (globalThis.navigator as { hardwareConcurrency?: number } | undefined)?.hardwareConcurrency;
  return n && n > 0 ? n : 1;
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

export async function fetchBytes(url: URL): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

// (func (param v128 v128) (result v128) local.get 0 local.get 1 i16x8.relaxed_dot_i8x16_i7x16_s)
const RELAXED_DOT_PROBE = new Uint8Array([
  ...[0, 97, 115, 109, 1, 0, 0, 0], // "\0asm", version 1
  ...[1, 7, 1, 96, 2, 123, 123, 1, 123], // type section: (v128, v128) -> v128
  ...[3, 2, 1, 0], // function section: one function of that type
  ...[10, 11, 1, 9, 0, 32, 0, 32, 1, 253, 146, 2, 11], // code: the body above (0xfd 274: the relaxed dot)
]);

/** Whether WebAssembly here accepts relaxed-SIMD 8-bit dot products. */
export function relaxedDotValidates(): boolean {
  return WebAssembly.validate(RELAXED_DOT_PROBE);
}

/** Starts a module Web Worker. */
export function startWebWorker(url: URL): Port {
  const w = new Worker(url, { type: "module" });
  return {
    postMessage: (m, t) => w.postMessage(m, t ?? []),
    onMessage: (h) => w.addEventListener("message", (e) => h((e as MessageEvent).data)),
    onError: (h) =>
      w.addEventListener("error", (e) => {
        (e as Event).preventDefault?.();
        h(new Error((e as ErrorEvent).message || "engine worker failed"));
      }),
    terminate: () => w.terminate(),
  };
}

/** The channel to the page or process that started this Web Worker. */
export function webParentPort(): ParentPort {
  const self = globalThis as unknown as Worker;
  return {
    postMessage: (m, t) => self.postMessage(m, t ?? []),
    onMessage: (h) => self.addEventListener("message", (e) => h((e as MessageEvent).data)),
  };
}

/** Reads a Blob synchronously in a dedicated worker; a read copies only that slice. */
export function blobSyncReader(file: Blob): SyncReader {
  type FileReaderSync = { readAsArrayBuffer(b: Blob): ArrayBuffer };
  const reader = new (globalThis as unknown as { FileReaderSync: new () => FileReaderSync }).FileReaderSync();
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
