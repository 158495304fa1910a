/**
 * `split IN.gguf OUT_PREFIX (--max-size N[M|G] | --max-tensors N)`: writes
 * OUT_PREFIX-00001-of-0000N.gguf ... in llama.cpp's gguf-split layout (sizes in decimal MB/GB,
 * as llama-gguf-split counts them).
 */

import { parseArgs } from "node:util";
import { InvalidRequestError } from "../engine/ts/errors.ts";
import { GgufError } from "../engine/ts/errors.ts";
import { splitGguf } from "../engine/ts/gguf/split.ts";
import { createFileSink, nodeFs, openFile } from "../engine/ts/platform/index.ts";

export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)B?$/i.exec(s.trim());
  if (!m) throw new InvalidRequestError(`--max-size must look like 500M or 2G, got ${s}`, "max-size");
  const mult = { "": 1, K: 1e3, M: 1e6, G: 1e9 }[m[2].toUpperCase() as "" | "K" | "M" | "G"];
  return Math.floor(Number(m[1]) * mult);
}

export async function run(args: string[]): Promise<number> {
  const { values: v, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { "max-size": { type: "string" }, "max-tensors": { type: "string" } },
  });
  const [input, prefix] = positionals;
  if (!input || !prefix) {
    throw new InvalidRequestError("usage: split IN.gguf OUT_PREFIX (--max-size 2G | --max-tensors 128)");
  }
  if (!v["max-size"] === !v["max-tensors"]) {
    throw new InvalidRequestError("give one of --max-size N(M|G) and --max-tensors N");
  }
  const maxTensors = v["max-tensors"] ? Number(v["max-tensors"]) : undefined;
  if (maxTensors !== undefined && !(Number.isInteger(maxTensors) && maxTensors > 0)) {
    throw new InvalidRequestError("--max-tensors must be a positive integer", "max-tensors");
  }
  const src = await openFile(input);
  if (!src) throw new GgufError("split_missing", input, "file not found");
  const prefixName = prefix.replace(/\.gguf$/i, "");
  if (prefixName.includes("/")) {
    await (await nodeFs()).promises.mkdir(prefixName.slice(0, prefixName.lastIndexOf("/")), { recursive: true });
  }
  let paths;
  try {
    paths = await splitGguf(src, prefixName, {
      maxTensors,
      maxBytes: v["max-size"] ? parseSize(v["max-size"]) : undefined,
    }, createFileSink);
  } catch (e) {
    if (e instanceof Error && e.message.includes("larger than the maximum shard size")) {
      throw new InvalidRequestError(e.message, "max-size");
    }
    throw e;
  }
  for (const p of paths) console.log(p);
  return 0;
}
