/**
 * The web chat page (web/, built into dist/web by scripts/build-web.mjs; docs/web.md): `/` and
 * `/ui` serve the page, `/assets/*` its scripts and styles, `/engine/*` the browser engine (the
 * dist/browser bundle, dist/wasm and dist/ffmpeg) for the "Run in this browser" mode. Every
 * response carries COOP/COEP, so the page is cross-origin isolated and the wasm engine gets threads.
 * Open without the API key: the page holds no secret, and it sends the key the user types.
 */

import { type Context, Hono } from "hono";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fileResponse } from "./file-response.ts";

declare const MCE_BUNDLE: { workerFile: string; wasmDir: string } | undefined;

/** dist/: next to the Node bundle (dist/node/cli.js), or under the repository for the sources. */
function distDir(): string {
  const url = typeof MCE_BUNDLE !== "undefined"
    ? new URL("../", import.meta.url)
    : new URL("../dist/", import.meta.url);
  return fileURLToPath(url);
}

export const ISOLATION_HEADERS = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
  "cross-origin-resource-policy": "same-origin",
};

/** `a/b.js` made of plain names (no `..`, no hidden files), else undefined. */
function safeRelative(path: string): string | undefined {
  const parts = path.split("/");
  return parts.every((p) => /^[\w-][\w.-]*$/.test(p)) ? parts.join("/") : undefined;
}

export function uiRoutes(dist: string = distDir()): Hono {
  const app = new Hono();
  const send = async (req: Request, dir: string, rel: string) => {
    const safe = safeRelative(rel);
    return safe === undefined ? undefined : await fileResponse(req, join(dir, safe), { headers: ISOLATION_HEADERS });
  };
  const page = async (c: Context) => await send(c.req.raw, join(dist, "web"), "index.html") ?? c.notFound();

  app.get("/", page);
  app.get("/ui", page);
  app.get("/assets/*", async (c) => {
    return await send(c.req.raw, join(dist, "web/assets"), c.req.path.slice("/assets/".length)) ?? c.notFound();
  });
  app.get("/engine/:part{browser|wasm|ffmpeg}/*", async (c) => {
    const part = c.req.param("part");
    const rel = c.req.path.slice(`/engine/${part}/`.length);
    return await send(c.req.raw, join(dist, part), rel) ?? c.notFound();
  });
  return app;
}
