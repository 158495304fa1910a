/**
 * `pull [MODEL] [--mmproj REF | --no-mmproj] [--offline] [--json]`: downloads a model into the
 * cache without serving. MODEL is a path, http(s) URL, `hf:owner/repo/file.gguf` or
 * `owner/repo:QUANT`; with no MODEL, the official MiniCPM-V 4.6 pair (Q4_K_M + mmproj).
 */

import { parseArgs } from "node:util";
import type { ResolvedModel } from "../engine/ts/hub/resolve.ts";
import { formatBytes } from "./progress.ts";
import { resolveCliModels } from "./resolve-models.ts";

export async function run(args: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      model: { type: "string", short: "m" },
      mmproj: { type: "string" },
      "no-mmproj": { type: "boolean", default: false },
      offline: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const r = await resolveCliModels({
    model: v.model ?? positionals[0],
    mmproj: v["no-mmproj"] ? false : v.mmproj,
    offline: v.offline,
  });
  const show = (m: ResolvedModel) => ({
    ref: m.ref,
    path: m.source,
    files: m.files.map((f) => ({ path: f.location, size: f.size, cached: f.cached })),
  });
  const out = { model: show(r.model), mmproj: r.mmproj ? show(r.mmproj) : undefined };
  if (v.json) console.log(JSON.stringify(out));
  else {
    for (const [kind, m] of [["model", r.model], ["mmproj", r.mmproj]] as const) {
      if (!m) continue;
      const size = m.files.reduce((a, f) => a + f.size, 0);
      console.log(
        `${kind.padEnd(6)} ${m.source}  (${formatBytes(size)}${m.files.length > 1 ? `, ${m.files.length} shards` : ""}${
          m.files.every((f) => f.cached) ? ", cached" : ""
        })`,
      );
    }
  }
  return 0;
}
