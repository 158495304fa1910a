/**
 * The house style, enforced (like Deno std's `deno task ok`): the formatter and the linter over
 * the whole repository, as configured in deno.json. Import cycles are checked by
 * import-cycles.test.ts. `deno fmt` fixes what the first test reports.
 */

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

function deno(...args: string[]) {
  // this suite runs under deno test, so the running binary is deno
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

test("deno fmt --check: every file is formatted", () => {
  const r = deno("fmt", "--check");
  const files = r.output.split("\n").filter((l) => l.startsWith("from ")).map((l) => l.slice(5));
  assert.equal(r.code, 0, `not formatted (run \`deno fmt\`):\n${files.join("\n") || r.output}`);
});

test("deno lint: no problems", () => {
  const r = deno("lint");
  assert.equal(r.code, 0, r.output.slice(-4000));
});
