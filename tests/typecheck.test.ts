/** The whole code base type-checks under `tsc --strict` (tsconfig.json). */

import assert from "node:assert/strict";
import { test } from "node:test";
import { ROOT, run } from "./helpers.ts";

test("tsc --noEmit passes", async () => {
  const r = await run("node", [`${ROOT}/node_modules/typescript/bin/tsc`, "-p", ROOT], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
});
