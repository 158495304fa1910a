/**
 * The model files the server runs, read-only, for the web page's "Run in this browser" mode
 * (docs/web.md): `GET /files/` lists them (`{model, mmproj, files: [{name, size, url}]}`), and
 * `GET|HEAD /files/NAME` serves one with HTTP Range, so the browser's model cache can resume a
 * download. Only these files, by their base names; a split model lists every shard. Behind the
 * API key like every other route but /health.
 */

import { Hono } from "hono";
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileResponse } from "./file-response.ts";

export interface ServedModelFiles {
  /** the model path (the first shard of a split set) */
  model: string;
  mmproj?: string;
}

/** Every shard of `path` when it is the first shard of a split set (NAME-00001-of-0000N.gguf), else itself. */
function shardsOf(path: string): string[] {
  const m = /^(.*)-00001-of-(\d{5})\.gguf$/i.exec(basename(path));
  if (!m) return [path];
  const n = Number(m[2]);
  const names = Array.from({ length: n }, (_, i) => `${m[1]}-${String(i + 1).padStart(5, "0")}-of-${m[2]}.gguf`);
  return names.map((name) => join(dirname(path), name)).filter((p) => existsSync(p));
}

export function modelFilesRoutes(served: ServedModelFiles): Hono {
  const byName = new Map<string, string>();
  for (const p of [...shardsOf(served.model), ...(served.mmproj ? [served.mmproj] : [])]) byName.set(basename(p), p);
  const app = new Hono();

  app.get("/files/", (c) =>
    c.json({
      model: basename(served.model),
      mmproj: served.mmproj ? basename(served.mmproj) : null,
      files: [...byName].map(([name, path]) => ({
        name,
        size: statSync(path).size,
        url: `/files/${encodeURIComponent(name)}`,
      })),
    }));

  // GET routes answer HEAD too (Hono)
  app.get("/files/:name", async (c) => {
    const path = byName.get(c.req.param("name"));
    const res = path ? await fileResponse(c.req.raw, path) : undefined;
    return res ?? c.notFound();
  });
  return app;
}
