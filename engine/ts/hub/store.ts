/**
 * Where downloaded model files live, behind one interface: a directory on servers
 * (store-fs.ts), the origin private file system in browsers (store-opfs.ts); cache.ts picks one.
 */

import type { ByteSink } from "../gguf/writer.ts";

/**
 * Keys are relative paths ("huggingface/owner/repo/file.gguf"); a file being downloaded is kept
 * as "<key>.part" until it is complete and checked.
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
