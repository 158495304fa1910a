/**
 * The HTTP side of `serve`: a fetch handler (the Hono app's `fetch`) served by node:http through
 * @hono/node-server on every runtime, with limits on slow clients (header and request timeouts,
 * idle keep-alive, a connection cap), the count of responses in progress (for the drain) and the
 * stop signals. Kept in the CLI so that the library, and above all its browser bundle, carries no
 * HTTP server.
 */

import process from "node:process";
import { runtime } from "../engine/ts/platform/index.ts";

export interface HttpServer {
  /** the port listened on (useful with port 0) */
  port: number;
  /** requests being answered now (a streamed response counts until its last byte is written) */
  readonly active: number;
  /** Resolves true once no request is being answered, false when `timeoutMs` passes first. */
  idle(timeoutMs: number): Promise<boolean>;
  /** Closes the listener and every connection (responses still running are cut). */
  close(): Promise<void>;
}

export interface HttpServerOptions {
  hostname: string;
  port: number;
  /**
   * Receiving a request's headers, and (in the app: routes/body.ts) its body, may take this long;
   * 0: no limit. Computing and streaming the response are not timed.
   */
  requestTimeoutMs: number;
  /** open connections at once; 0: no cap */
  maxConnections: number;
}

/** How long an idle keep-alive connection stays open between requests. */
const KEEP_ALIVE_TIMEOUT_MS = 5000;

type Handler = (req: Request, env?: unknown) => Response | Promise<Response>;

interface RequestSource {
  on(event: "request", listener: (req: unknown, res: { once(e: "close", l: () => void): void }) => void): void;
}

export async function serveHttp(fetch: Handler, o: HttpServerOptions): Promise<HttpServer> {
  // node:http on every runtime (Deno and Bun implement it, timeouts included): Deno.serve (2.9)
  // has no header, idle or connection limits, and Bun.serve's idle timer is reset by every byte
  // (no defence against a client dripping its headers) and counts a response's computation
  const { serve } = await import("@hono/node-server");
  const timed = o.requestTimeoutMs > 0;
  let active = 0;
  let onIdle: (() => void)[] = [];
  const idle = (timeoutMs: number) =>
    new Promise<boolean>((resolve) => {
      if (active === 0) return resolve(true);
      const timer = setTimeout(() => resolve(false), timeoutMs);
      onIdle.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  return await new Promise((resolve) => {
    const server = serve({
      fetch,
      hostname: o.hostname,
      port: o.port,
      serverOptions: {
        // headers within the timeout; the whole request within twice that (a backstop: the app's
        // body deadline answers 408 first). Both stop counting once the request is in, so a long
        // computation or stream is never cut.
        headersTimeout: timed ? o.requestTimeoutMs : 0,
        requestTimeout: timed ? 2 * o.requestTimeoutMs : 0,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        // how often those timeouts are checked (Node's default, 30 s, would dwarf short timeouts)
        connectionsCheckingInterval: Math.min(1000, Math.max(100, o.requestTimeoutMs / 4 || 1000)),
      },
    }, (info) =>
      resolve({
        port: info.port,
        get active() {
          return active;
        },
        idle,
        close: () =>
          new Promise<void>((r) => {
            (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
            server.close(() => r());
          }),
      }));
    if (o.maxConnections > 0) capConnections(server as unknown as ConnectionSource, o.maxConnections);
    // a response is over when node:http closes it: written out, or its connection gone
    (server as unknown as RequestSource).on("request", (_req, res) => {
      active++;
      res.once("close", () => {
        if (--active > 0) return;
        const waiters = onIdle;
        onIdle = [];
        for (const w of waiters) w();
      });
    });
  });
}

interface ConnectionSource {
  on(event: "connection", listener: (socket: { destroy(): void; once(e: "close", l: () => void): void }) => void): void;
}

/**
 * Connections past `max` are closed as soon as they are accepted, unanswered (counted here rather
 * than with server.maxConnections, which not every runtime's node:http honours).
 */
function capConnections(server: ConnectionSource, max: number) {
  let open = 0;
  server.on("connection", (socket) => {
    if (open >= max) return socket.destroy();
    open++;
    socket.once("close", () => open--);
  });
}

/** Calls `handler` each time the process is asked to stop (Ctrl-C or SIGTERM). */
export function onStopSignal(handler: () => void) {
  if (runtime === "deno") {
    const deno = (globalThis as unknown as { Deno: { addSignalListener(s: string, h: () => void): void } }).Deno;
    for (const s of ["SIGINT", "SIGTERM"]) deno.addSignalListener(s, handler);
    return;
  }
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}
