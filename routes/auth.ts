/**
 * The API key check: `Authorization: Bearer <key>` on every route but /health. The key is taken
 * from that header only (never the query string, where it would end up in logs and histories),
 * compared in constant time (SHA-256 digests of both, compared byte by byte without an early
 * exit, so timing tells neither the key's length nor how much of it matched) and never echoed.
 * Web Crypto only: the app stays runtime-neutral.
 */

import type { MiddlewareHandler } from "hono";
import { HttpError } from "./errors.ts";

/** Routes answered without the key (load balancers probe them). */
const OPEN_PATHS = new Set(["/health", "/v1/health", "/livez"]);

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

/** Equal digests, in time independent of where they differ. */
function sameDigest(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length && i < b.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, message, "authentication_error", null, "invalid_api_key", {
    "www-authenticate": 'Bearer realm="minicpmv-edge"',
  });
}

/** Middleware: a 401 (JSON body, `WWW-Authenticate: Bearer`) unless the request carries `apiKey`. */
export function apiKeyCheck(apiKey: string): MiddlewareHandler {
  const expected = sha256(apiKey);
  return async (c, next) => {
    if (OPEN_PATHS.has(c.req.path)) return await next();
    const header = c.req.header("authorization");
    if (!header) throw unauthorized("Missing API key: send 'Authorization: Bearer <key>'");
    const token = /^Bearer +(.+)$/i.exec(header.trim())?.[1] ?? "";
    if (!sameDigest(await sha256(token), await expected)) throw unauthorized("Incorrect API key provided");
    await next();
  };
}
