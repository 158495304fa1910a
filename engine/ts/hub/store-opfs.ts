/**
 * The model store in browsers: the origin private file system (OPFS), under "minicpmv-edge/".
 * Persistent per origin and profile, so a model downloaded once loads offline later.
 */

import type { ModelStore } from "./store.ts";

/** How OPFS locations are written (ModelStore.location, cacheDir() in browsers). */
export const OPFS_LOCATION = "opfs:/minicpmv-edge";

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

export function opfsStore(): ModelStore {
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
    location: (key) => `${OPFS_LOCATION}/${key}`,
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
