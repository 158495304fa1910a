/** `tiny-model --out DIR [--shards N] [--real-shape | --quantized] [--mode 16x|4x] [--seed S] [--vocab FILE]` */

import { parseArgs } from "node:util";
import { createFileSink, nodeFs, openFile } from "../engine/ts/platform/index.ts";
import { generatePair } from "../engine/ts/tiny-model/generate.ts";
import { defaultVocabPath } from "./paths.ts";

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      out: { type: "string" },
      shards: { type: "string", default: "1" },
      "real-shape": { type: "boolean", default: false },
      quantized: { type: "boolean", default: false },
      mode: { type: "string", default: "16x" },
      seed: { type: "string", default: "42" },
      vocab: { type: "string" },
    },
  });
  if (!values.out) throw new Error("--out DIR is required");
  if (values.mode !== "16x" && values.mode !== "4x") throw new Error("--mode must be 16x or 4x");
  const vocabPath = values.vocab ?? await defaultVocabPath();
  const vocab = await openFile(vocabPath);
  if (!vocab) throw new Error(`vocabulary not found: ${vocabPath}`);
  await (await nodeFs()).promises.mkdir(values.out, { recursive: true });
  const t0 = performance.now();
  const pair = await generatePair({
    outDir: values.out,
    realShape: values["real-shape"],
    quantized: values.quantized,
    shards: Number(values.shards),
    mode: values.mode,
    seed: Number(values.seed),
    vocab,
    createSink: createFileSink,
  });
  console.log(JSON.stringify({ ...pair, seconds: +((performance.now() - t0) / 1000).toFixed(1) }));
  return 0;
}
