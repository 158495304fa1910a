/**
 * The HTTP side of `serve`: a fetch handler (the Hono app's `fetch`) served by the runtime's own
 * server (Deno.serve, Bun.serve, or @hono/node-server on Node.js), and the stop signals. Kept in
 * the CLI so that the library, and above all its browser bundle, carries no HTTP server.
 */

import process from "node:process";
import { runtime } from "../engine/ts/platform/index.ts";

export interface HttpServer {
  /** the port listened on (useful with port 0) */
  port: number;
  close(): Promise<void>;
}

type Handler = (req: Request) => Response | Promise<Response>;

export async function serveHttp(fetch: Handler, o: { hostname: string; port: number }): Promise<HttpServer> {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as unknown as Record<string, any>;
  if (runtime === "deno") {
    const server = g.Deno.serve({ hostname: o.hostname, port: o.port, onListen() {} }, fetch);
    return { port: server.addr.port, close: () => server.shutdown() };
  }
  if (runtime === "bun") {
    // idleTimeout 0: an image request may compute for minutes before its first byte
    const server = g.Bun.serve({ hostname: o.hostname, port: o.port, fetch, idleTimeout: 0 });
    return {
      port: server.port,
      close: () => {
        server.stop(true);
        return Promise.resolve();
      },
    };
  }
  const { serve } = await import("@hono/node-server");
  return await new Promise((resolve) => {
    const server = serve({ fetch, hostname: o.hostname, port: o.port }, (info) =>
      resolve({
        port: info.port,
        close: () =>
          new Promise<void>((r) => {
            (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
            server.close(() => r());
          }),
      }));
    // no time limit on computing a response; the bounded queue protects the server instead
    (server as unknown as { requestTimeout: number }).requestTimeout = 0;
  });
}

/** Calls `handler` when the process is asked to stop (Ctrl-C or SIGTERM). */
export function onStopSignal(handler: () => void) {
  if (runtime === "deno") {
    const deno = (globalThis as unknown as { Deno: { addSignalListener(s: string, h: () => void): void } }).Deno;
    for (const s of ["SIGINT", "SIGTERM"]) deno.addSignalListener(s, handler);
    return;
  }
  process.once("SIGINT", handler);
  process.once("SIGTERM", handler);
}
