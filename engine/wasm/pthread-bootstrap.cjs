// Starts an emscripten pthread worker under worker_threads on Node.js, Bun and Deno.
// emscripten's worker script is CommonJS and assigns `location` on the worker global,
// which Deno forbids unless the property is plain and writable first.
"use strict";
const fs = require("fs");
const path = require("path");
const script = path.join(__dirname, "minicpmv-edge.worker.js");
Object.defineProperty(globalThis, "location", { value: { href: script }, writable: true, configurable: true });
new Function("require", "__filename", "__dirname", "global", fs.readFileSync(script, "utf8"))(
  require,
  script,
  __dirname,
  globalThis,
);
