/**
 * The browser bundle carries no server code: scripts/bundle.mjs gives it platform/browser.ts in
 * place of platform/server.ts, and its esbuild metafile and output show no @hono/node-server, no
 * node: module and no use of `process`. Needs no wasm build or models (esbuild only, ~1 s).
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, test } from "node:test";
import { run } from "./helpers.ts";

interface Metafile {
  inputs: Record<string, { imports: { path: string; external?: boolean }[] }>;
  outputs: Record<string, { imports: { path: string; external?: boolean }[] }>;
}

const dir = mkdtempSync(join(tmpdir(), "mce-bundle-browser-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let built: Promise<Metafile> | undefined;
function build(): Promise<Metafile> {
  return built ??= (async () => {
    const r = await run("node", ["scripts/bundle.mjs", "--browser-only", dir]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(readFileSync(join(dir, "meta.json"), "utf8"));
  })();
}

/** `process.x`, `process?.x`, `process[...]`, `typeof process`, `globalThis.process`: the global, not a property named so. */
const PROCESS_USE =
  /(?<![\w$.])process\s*(?:\?\.|\.|\[)|\btypeof\s+process\b|\b(?:globalThis|self|window)\s*\.\s*process\b/;

test("the browser bundle gets platform/browser.ts, not server.ts or the runtime probe", async () => {
  const inputs = Object.keys((await build()).inputs);
  assert.ok(inputs.some((i) => i.endsWith("engine/ts/platform/browser.ts")), inputs.join("\n"));
  const server = inputs.filter((i) => /engine\/ts\/platform\/(server|probe)\.ts$/.test(i));
  assert.deepEqual(server, []);
});

test("the browser bundle's metafile has no @hono/node-server and no node: module", async () => {
  const meta = await build();
  const hono = Object.keys(meta.inputs).filter((i) => i.includes("@hono/node-server"));
  assert.deepEqual(hono, [], "@hono/node-server is in the browser bundle");
  const nodeInputs = Object.keys(meta.inputs).filter((i) => i.startsWith("node:"));
  assert.deepEqual(nodeInputs, []);
  const imports = [...Object.values(meta.inputs), ...Object.values(meta.outputs)].flatMap((f) => f.imports);
  const nodeImports = imports.filter((i) => i.path.startsWith("node:")).map((i) => i.path);
  assert.deepEqual(nodeImports, [], "node: modules imported by the browser bundle");
});

test("the browser bundle's code does not use process", async () => {
  const meta = await build();
  const outputs = Object.keys(meta.outputs).filter((o) => o.endsWith(".js")).map((o) => basename(o));
  for (const entry of ["mod.js", "worker.js"]) assert.ok(outputs.includes(entry), `${entry} missing: ${outputs}`);
  for (const name of outputs) {
    const lines = readFileSync(join(dir, name), "utf8").split("\n");
    const uses = lines.flatMap((l, i) => PROCESS_USE.test(l) ? [`${name}:${i + 1}: ${l.trim().slice(0, 160)}`] : []);
    assert.deepEqual(uses, [], `${name} uses process`);
  }
});

test("the process check finds the uses it must", () => {
  const uses = ["process.env.X", "a = process?.versions", "process[k]", "typeof process", "globalThis.process.pid"];
  for (const s of uses) assert.ok(PROCESS_USE.test(s), s);
  for (const s of ["this.process(view)", "// vision/preprocess.ts", "preprocess.x", "o.process.y"]) {
    assert.ok(!PROCESS_USE.test(s), s);
  }
});
