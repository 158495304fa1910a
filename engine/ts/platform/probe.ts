/**
 * Which JavaScript runtime this is. Only the server implementation's few per-runtime branches
 * (server.ts), the CLI's HTTP server and the benchmarks ask; the browser bundle never includes
 * this module (browser.ts knows where it runs).
 */

import type { Runtime } from "./types.ts";

declare const Deno: { version: { deno: string } } | undefined;
declare const Bun: { version: string } | undefined;

function probe(): Runtime {
  if (typeof Deno !== "undefined") return "deno";
  if (typeof Bun !== "undefined") return "bun";
  // deno-lint-ignore no-process-global
  if (typeof process !== "undefined" && process.versions?.node) return "node";
  return "browser";
}

export const runtime: Runtime = probe();
