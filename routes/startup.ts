/**
 * What `serve` answers while it resolves its model files, before the model service exists: the
 * process is alive (/livez 200), not ready (/health 503 "downloading" with the bytes so far, or
 * "loading" while cached files are checked), and every other route gets 503 with `Retry-After`.
 * So a replica downloading its model on first start is neither killed by a liveness probe nor sent
 * traffic.
 */

import { Hono } from "hono";
import type { DownloadProgress } from "../engine/ts/hub/progress.ts";
import { HttpError } from "./errors.ts";

export class StartupStatus {
  private progress: DownloadProgress | undefined;

  /** a download progress listener (ResolveOptions.onProgress) */
  readonly onProgress = (p: DownloadProgress) => {
    this.progress = p;
  };

  health(): { status: "downloading" | "loading"; received?: number; total?: number } {
    const p = this.progress;
    if (!p || p.filesDone === p.files) return { status: "loading" };
    return { status: "downloading", received: p.overallReceived, total: p.overallTotal };
  }
}

export function startupApp(status: StartupStatus): Hono {
  const app = new Hono();
  app.get("/livez", (c) => c.json({ status: "alive" }));
  for (const path of ["/health", "/v1/health"]) app.get(path, (c) => c.json(status.health(), 503));
  app.all("*", (c) => {
    const message = `the model is not loaded yet (${status.health().status}); retry later`;
    const e = new HttpError(503, message, "server_error", null, "model_loading");
    return c.json(e.body(), 503, { "retry-after": "5" });
  });
  return app;
}
