/** `models [--json]`: what the model cache holds, with sizes. */

import { parseArgs } from "node:util";
import { listCachedModels } from "../engine/ts/hub/cache.ts";
import { cacheDir } from "../engine/ts/hub/cache.ts";
import { formatBytes } from "./progress.ts";

export async function run(args: string[]): Promise<number> {
  const { values: v } = parseArgs({ args, options: { json: { type: "boolean", default: false } } });
  const models = await listCachedModels();
  if (v.json) {
    console.log(JSON.stringify({ cache: cacheDir(), models }));
    return 0;
  }
  console.log(`cache: ${cacheDir()}`);
  if (!models.length) {
    console.log("(empty: `pull` downloads a model)");
    return 0;
  }
  const rows = models.map((m) => [formatBytes(m.size), m.ref ?? m.key]);
  const w = Math.max(...rows.map((r) => r[0].length));
  for (const r of rows) console.log(`${r[0].padStart(w)}  ${r[1]}`);
  console.log(`${formatBytes(models.reduce((a, m) => a + m.size, 0)).padStart(w)}  total`);
  return 0;
}
