/**
 * Everything that differs between Deno, Bun, Node.js and the browser, behind one surface: files,
 * workers, environment, hashing, the emscripten host. The rest of the code base is
 * runtime-neutral and imports only this module.
 *
 * Which implementation is used is decided when the code is bundled, not by `if`s at run time:
 * this module re-exports server.ts (Deno and Bun run these sources directly; scripts/bundle.mjs
 * builds dist/node the same way), and the browser bundle resolves server.ts to browser.ts
 * (an esbuild plugin in scripts/bundle.mjs). Package.json `imports` conditions ("#platform",
 * browser/default) would also work on Deno 2.9, Bun 1.4 and esbuild, but a `#` specifier only
 * resolves inside a package.json scope (not when Deno imports mod.ts by URL), so the sources
 * keep plain relative imports and the one switch lives in the bundler.
 */

import type * as browser from "./browser.ts";
import type * as server from "./server.ts";

export type { Hasher, NodeFs, ParentPort, Port, Runtime, SyncReader } from "./types.ts";
export { blobSource } from "./web.ts";
export * from "./server.ts";

/** tsc checks here that browser.ts exports everything server.ts does, with compatible types. */
type Implements<Impl extends Surface, Surface> = [Impl, Surface];
export type BrowserImplementsServer = Implements<typeof browser, typeof server>;
