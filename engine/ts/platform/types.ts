/**
 * The shapes the two platform implementations (server.ts, browser.ts) share with the engine:
 * the worker message channel, synchronous file reads inside the worker, incremental hashing.
 * A module of its own so that the implementations and index.ts all import it without a cycle.
 */

export type Runtime = "deno" | "bun" | "node" | "browser";

/** The message channel of a worker, the same shape on every runtime. */
export interface Port {
  postMessage(msg: unknown, transfer?: Transferable[]): void;
  onMessage(handler: (msg: unknown) => void): void;
  onError(handler: (err: Error) => void): void;
  terminate(): void;
}

/** The worker side of the channel (inside the engine worker). */
export type ParentPort = Pick<Port, "postMessage" | "onMessage">;

/** Synchronous random reads of a file inside the engine worker (feeds the wasm file system). */
export interface SyncReader {
  size: number;
  readInto(dst: Uint8Array, position: number): number;
  close(): void;
}

/** Incremental SHA-256. */
export interface Hasher {
  update(bytes: Uint8Array): void;
  hex(): string;
}

/** The node:fs module, which Deno and Bun implement too (server runtimes only). */
export type NodeFs = typeof import("node:fs");
