/** The model store on Deno, Bun and Node.js: a directory (the model cache, see cache.ts). */

import { nodeFs } from "../platform/index.ts";
import type { ModelStore } from "./store.ts";

export async function fsStore(root: string): Promise<ModelStore> {
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
