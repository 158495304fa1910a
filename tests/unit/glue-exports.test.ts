/**
 * The C glue, the wasm build's export lists and the TypeScript view of the module name the same
 * functions: engine/wasm/glue.cpp's MCE_EXPORT functions (with their parameter counts) against
 * `GlueExports` in engine/ts/wasm/exports.ts, build-wasm.sh's -sEXPORTED_FUNCTIONS and
 * -sEXPORTED_RUNTIME_METHODS against `RuntimeExports`, and every glue export is called by
 * engine/ts/wasm/api.ts. tsc checks api.ts against exports.ts; this closes the loop to the C side.
 * Reads the sources as text: no build needed.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const glue = read("engine/wasm/glue.cpp");
const buildScript = read("scripts/build-wasm.sh");
const exportsTs = read("engine/ts/wasm/exports.ts");
const apiTs = read("engine/ts/wasm/api.ts");

function paramCount(params: string): number {
  const p = params.trim();
  return p === "" || p === "void" ? 0 : p.split(",").filter((x) => x.trim()).length;
}

/** C name -> parameter count of every MCE_EXPORT function. */
function glueExports(cpp: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of cpp.matchAll(/^MCE_EXPORT\b[^(;{]*?\b(\w+)\s*\(([^)]*)\)/gm)) out.set(m[1], paramCount(m[2]));
  return out;
}

/** The comma-separated values of an emscripten -s setting in build-wasm.sh. */
function buildSetting(script: string, name: string): string[] {
  const m = script.match(new RegExp(`-s${name}=([\\w,]+)`));
  assert.ok(m, `build-wasm.sh has no -s${name}`);
  return m[1].split(",");
}

/** The body of `export interface NAME { ... }` in a TS source, without comments. */
function interfaceBody(ts: string, name: string): string {
  const start = ts.indexOf(`export interface ${name} `);
  assert.ok(start >= 0, `exports.ts has no interface ${name}`);
  const open = ts.indexOf("{", start);
  const close = ts.indexOf("\n}", open);
  return ts.slice(open + 1, close).replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
}

/** Member name -> parameter count (-1 for a property) of an interface body. */
function members(body: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of body.matchAll(/^\s*(\w+)\??\s*(\(([^)]*)\)|:)/gm)) {
    out.set(m[1], m[2] === ":" ? -1 : paramCount(m[3]));
  }
  return out;
}

const sorted = (xs: Iterable<string>) => [...xs].sort();

test("the parsers read C exports, build settings and interface members", () => {
  const cpp = [
    "MCE_EXPORT void mce_a(int x) { }",
    "MCE_EXPORT llama_model * mce_b(const char ** paths,",
    "                               int32_t n) {",
    'MCE_EXPORT const char * mce_c() { return ""; }',
    "static void mce_not_exported(int x) {}",
    '#define MCE_EXPORT extern "C"',
  ].join("\n");
  assert.deepEqual([...glueExports(cpp)], [["mce_a", 1], ["mce_b", 2], ["mce_c", 0]]);
  assert.deepEqual(buildSetting("  -sEXPORTED_FUNCTIONS=_malloc,_free\n", "EXPORTED_FUNCTIONS"), ["_malloc", "_free"]);
  const ts = [
    "export interface X {",
    "  /** doc(a, b) */",
    "  _mce_a(x: number): void;",
    "  _mce_b(",
    "    p: Ptr,",
    "    n: number,",
    "  ): Ptr;",
    "  FS: Fs;",
    "  f?(a: number, b?: number): string;",
    "}",
  ].join("\n");
  assert.deepEqual([...members(interfaceBody(ts, "X"))], [["_mce_a", 1], ["_mce_b", 2], ["FS", -1], ["f", 2]]);
});

test("glue.cpp's exports are exports.ts's GlueExports, with the same parameter counts", () => {
  const c = glueExports(glue);
  assert.ok(c.size > 20, `only ${c.size} MCE_EXPORT functions found in glue.cpp`);
  // anything exported by name in the link flags counts as a glue export too
  for (const f of buildSetting(buildScript, "EXPORTED_FUNCTIONS")) {
    if (f.startsWith("_mce_")) assert.ok(c.has(f.slice(1)), `${f} is in -sEXPORTED_FUNCTIONS but not in glue.cpp`);
  }
  const ts = members(interfaceBody(exportsTs, "GlueExports"));
  const cNames = sorted([...c.keys()].map((n) => `_${n}`));
  assert.deepEqual(sorted(ts.keys()), cNames, "glue.cpp and GlueExports name different functions");
  for (const [name, n] of c) assert.equal(ts.get(`_${name}`), n, `${name}: ${n} parameters in C`);
});

test("build-wasm.sh's other exports are exports.ts's RuntimeExports", () => {
  const linked = [
    ...buildSetting(buildScript, "EXPORTED_FUNCTIONS").filter((f) => !f.startsWith("_mce_")),
    ...buildSetting(buildScript, "EXPORTED_RUNTIME_METHODS"),
  ];
  assert.deepEqual(sorted(members(interfaceBody(exportsTs, "RuntimeExports")).keys()), sorted(linked));
});

test("api.ts calls every glue export (none is dead)", () => {
  const unused = [...glueExports(glue).keys()].filter((n) => !apiTs.includes(`._${n}(`));
  assert.deepEqual(unused, [], "exported by glue.cpp but never called by api.ts");
});
