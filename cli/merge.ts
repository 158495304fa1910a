/** `merge FIRST_SHARD.gguf OUT.gguf`: joins a split set (every shard found from the first one's name) into one file. */

import { parseArgs } from "node:util";
import { GgufError, InvalidRequestError } from "../engine/ts/errors.ts";
import { mergeGguf, shardPaths } from "../engine/ts/gguf/split.ts";
import type { ByteSource } from "../engine/ts/gguf/reader.ts";
import { createFileSink, openFile } from "../engine/ts/platform/index.ts";

export async function run(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  const [first, out] = positionals;
  if (!first || !out) throw new InvalidRequestError("usage: merge FIRST_SHARD-00001-of-0000N.gguf OUT.gguf");
  const paths = shardPaths(first);
  const sources: ByteSource[] = [];
  for (const [i, p] of paths.entries()) {
    const s = await openFile(p);
    if (!s) {
      throw new GgufError(
        "split_missing",
        p,
        i === 0 ? "file not found" : `shard ${i + 1} of ${paths.length} is missing`,
      );
    }
    sources.push(s);
  }
  if (paths.includes(out)) throw new InvalidRequestError("the output would overwrite a shard");
  const tmp = `${out}.tmp`;
  await mergeGguf(sources, await createFileSink(tmp));
  const { promises } = await import("node:fs");
  await promises.rename(tmp, out);
  console.log(out);
  return 0;
}
