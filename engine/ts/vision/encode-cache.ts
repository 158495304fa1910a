/** Tile embeddings kept within a memory budget (least recently used out first), keyed by content. */

import { createSha256 } from "../platform/index.ts";
import type { ImagePlan } from "./plan.ts";

export class EncodeCache {
  private entries = new Map<string, Float32Array>();
  private bytes = 0;
  hits = 0;
  misses = 0;

  constructor(readonly maxBytes = 256 * 1024 * 1024) {}

  get(key: string): Float32Array | undefined {
    const v = this.entries.get(key);
    if (!v) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key); // re-insert: most recently used last
    this.entries.set(key, v);
    return v;
  }

  set(key: string, value: Float32Array): void {
    if (value.byteLength > this.maxBytes) return;
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= old.byteLength;
      this.entries.delete(key);
    }
    this.entries.set(key, value);
    this.bytes += value.byteLength;
    for (const [k, v] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= v.byteLength;
    }
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }
}

/** Inputs larger than this are hashed in slices of this size. */
const HASH_SLICE = 16 * 2 ** 20;

/**
 * Hex SHA-256 of bytes (Web Crypto: the same on every runtime). A long video is hashed in slices
 * by the platform's incremental SHA-256 instead: Web Crypto would hold two more copies of it.
 */
export async function contentHash(bytes: Uint8Array): Promise<string> {
  if (bytes.length > HASH_SLICE) {
    const h = await createSha256();
    for (let at = 0; at < bytes.length; at += HASH_SLICE) h.update(bytes.subarray(at, at + HASH_SLICE));
    return h.hex();
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes.slice()));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * The cache key of one tile: what was encoded (`content`: an image's hash, or a video's hash and the
 * frames of the unit), how it was cut (mode and geometry), which tile and which mmproj.
 */
export function tileKey(content: string, plan: ImagePlan, tile: number, mmprojFile: string): string {
  return `${content}|${plan.mode}|${plan.overview.width}x${plan.overview.height}|` +
    `${plan.refined?.width}x${plan.refined?.height}|${plan.grid?.rows}x${plan.grid?.cols}|${tile}|${mmprojFile}`;
}
