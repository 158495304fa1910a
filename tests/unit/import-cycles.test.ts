/**
 * No import cycles in the repository's TypeScript, type-only imports included: a cycle ties
 * layers together that should stack, and with values it makes module initialisation order
 * matter. A small resolver of relative `import`/`export ... from` specifiers (and of
 * package.json `imports` aliases such as `#x`, every condition's target) builds the graph.
 */

import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SOURCES = ["mod.ts", "cli.ts", "cli", "engine", "routes", "bench", "tests", "scripts"];
const SKIP_DIRS = new Set(["node_modules", "dist"]);

/** Specifiers a module imports or re-exports, statically or through `import("...")`. */
function specifiers(source: string): string[] {
  const out: string[] = [];
  const patterns = [
    // import x from "m"; import type { X } from "m"; export { x } from "m"; export * from "m" (multi-line too)
    /^[ \t]*(?:import|export)\b[^;"'`]*?\bfrom[ \t]*["']([^"']+)["']/gm,
    // import "m";
    /^[ \t]*import[ \t]*["']([^"']+)["']/gm,
    // await import("m"), import("m").Type
    /\bimport\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) out.push(m[1]);
  return out;
}

function tsFile(path: string): string | undefined {
  for (const p of [path, `${path}.ts`, join(path, "index.ts")]) {
    if (p.endsWith(".ts") && existsSync(p) && statSync(p).isFile()) return p;
  }
  return undefined;
}

/** Every string target of a package.json `imports` entry (all conditions). */
function aliasTargets(spec: string, imports: Record<string, unknown>): string[] {
  const targets: string[] = [];
  const collect = (v: unknown, star: string) => {
    if (typeof v === "string") targets.push(v.replace("*", star));
    else if (v && typeof v === "object") { for (const x of Object.values(v)) collect(x, star); }
  };
  for (const [key, value] of Object.entries(imports)) {
    const i = key.indexOf("*");
    if (i < 0 ? key === spec : spec.startsWith(key.slice(0, i)) && spec.endsWith(key.slice(i + 1))) {
      collect(value, i < 0 ? "" : spec.slice(i, spec.length - (key.length - i - 1)));
    }
  }
  return targets.filter((t) => t.startsWith("."));
}

function resolveSpecifier(spec: string, from: string, imports: Record<string, unknown>): string[] {
  if (spec.startsWith(".")) return [tsFile(resolve(dirname(from), spec))].filter((f) => f !== undefined);
  if (spec.startsWith("#")) {
    return aliasTargets(spec, imports).map((t) => tsFile(resolve(ROOT, t))).filter((f) => f !== undefined);
  }
  return []; // packages, node:, npm:
}

function listTs(path: string, out: string[] = []): string[] {
  if (!existsSync(path)) return out;
  if (statSync(path).isFile()) {
    if (path.endsWith(".ts")) out.push(path);
    return out;
  }
  for (const name of readdirSync(path)) if (!SKIP_DIRS.has(name)) listTs(join(path, name), out);
  return out;
}

/** The repository's import graph: file (relative to the root) -> files it imports. */
function importGraph(): Map<string, Set<string>> {
  const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  const imports = (pkg.imports ?? {}) as Record<string, unknown>;
  const graph = new Map<string, Set<string>>();
  for (const file of SOURCES.flatMap((s) => listTs(join(ROOT, s)))) {
    const deps = specifiers(readFileSync(file, "utf8")).flatMap((s) => resolveSpecifier(s, file, imports));
    graph.set(relative(ROOT, file), new Set(deps.map((d) => relative(ROOT, d))));
  }
  return graph;
}

/** One cycle (as a path that returns to its start) per strongly connected component (Tarjan). */
function findCycles(graph: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const c: string[] = [];
      let w;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || graph.get(v)?.has(v)) components.push(c);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return components.map((c) => {
    // shortest way from the component's first file back to itself, inside the component
    const members = new Set(c);
    const start = [...c].sort()[0];
    const prev = new Map<string, string>();
    const queue = [start];
    while (queue.length) {
      const v = queue.shift()!;
      for (const w of [...(graph.get(v) ?? [])].sort()) {
        if (w === start) {
          const path = [start];
          for (let u: string | undefined = v; u !== undefined && u !== start; u = prev.get(u)) path.splice(1, 0, u);
          return [...path, start];
        }
        if (members.has(w) && !prev.has(w)) {
          prev.set(w, v);
          queue.push(w);
        }
      }
    }
    return [...c, c[0]];
  });
}

test("the scanner sees value, type, re-export, side-effect and dynamic imports, not comments", () => {
  const source = [
    `import { a } from "./a.ts";`,
    `import type { B } from "./b.ts";`,
    `import {`,
    `  type C,`,
    `  c,`,
    `} from "./c.ts";`,
    `export { d } from "./d.ts";`,
    `export type * from "./e.ts";`,
    `import "./f.ts";`,
    `const g = await import("./g.ts");`,
    `let h: import("./h.ts").H;`,
    `// import { no } from "./no1.ts";`,
    ` * import { no } from "./no2.ts";`,
    `export const s = "from './no3.ts'";`,
  ].join("\n");
  const expected = ["./a.ts", "./b.ts", "./c.ts", "./d.ts", "./e.ts", "./f.ts", "./g.ts", "./h.ts"];
  assert.deepEqual(specifiers(source).sort(), expected);
});

test("package.json import aliases resolve to every condition's target", () => {
  const imports = { "#platform": { browser: "./p/browser.ts", default: "./p/server.ts" }, "#x/*": "./x/*.ts" };
  assert.deepEqual(aliasTargets("#platform", imports), ["./p/browser.ts", "./p/server.ts"]);
  assert.deepEqual(aliasTargets("#x/y", imports), ["./x/y.ts"]);
  assert.deepEqual(aliasTargets("#other", imports), []);
});

test("findCycles reports each cycle as a path back to its start", () => {
  const g = (edges: Record<string, string[]>) => new Map(Object.entries(edges).map(([k, v]) => [k, new Set(v)]));
  assert.deepEqual(findCycles(g({ a: ["b"], b: ["c"], c: [], d: ["a"] })), []);
  assert.deepEqual(findCycles(g({ a: ["b"], b: ["c"], c: ["a"], d: ["a"] })), [["a", "b", "c", "a"]]);
  assert.deepEqual(findCycles(g({ a: ["a"] })), [["a", "a"]]);
  const two = findCycles(g({ a: ["b"], b: ["a"], x: ["y"], y: ["z"], z: ["x"] }));
  assert.deepEqual(two.map((c) => c.join(" -> ")).sort(), ["a -> b -> a", "x -> y -> z -> x"]);
});

test("the repository has no import cycles (type-only imports included)", () => {
  const graph = importGraph();
  assert.ok(graph.size > 50, `only ${graph.size} files found under ${ROOT}`);
  // a type-only import, so the graph follows those
  assert.ok(graph.get("engine/ts/generate.ts")?.has("engine/ts/model.ts"), "generate.ts -> model.ts not seen");
  const cycles = findCycles(graph);
  assert.equal(cycles.length, 0, `import cycles:\n${cycles.map((c) => "  " + c.join(" -> ")).join("\n")}`);
});
