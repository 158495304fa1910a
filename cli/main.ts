/** Dispatches CLI commands; each lives in its own module. */

import {
  EngineError,
  GgufError,
  InvalidRequestError,
  MemoryBudgetError,
  ModelFetchError,
} from "../engine/ts/errors.ts";

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ run(args: string[]): Promise<number> }> }> = {
  serve: { summary: "OpenAI- and Ollama-compatible HTTP server", load: () => import("./serve.ts") },
  generate: { summary: "run a prompt through a model", load: () => import("./generate.ts") },
  "tiny-model": {
    summary: "write a MiniCPM-V-4.6-shaped GGUF pair with random weights",
    load: () => import("./tiny-model.ts"),
  },
  bench: { summary: "WASM vs native llama.cpp speed on the real-shape model", load: () => import("./bench.ts") },
  pull: {
    summary: "download a model into the cache (default: the official MiniCPM-V 4.6 pair)",
    load: () => import("./pull.ts"),
  },
  models: { summary: "list the models in the cache, with sizes", load: () => import("./models.ts") },
  split: { summary: "split a GGUF into shards (llama.cpp gguf-split format)", load: () => import("./split.ts") },
  merge: { summary: "merge the shards of a split GGUF into one file", load: () => import("./merge.ts") },
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  const command = name ? COMMANDS[name] : undefined;
  if (!command) {
    const list = Object.entries(COMMANDS).map(([n, c]) => `  ${n.padEnd(12)} ${c.summary}`).join("\n");
    console.error(`usage: minicpmv-edge <command> [options]\n\ncommands:\n${list}`);
    return name && name !== "help" ? 2 : 0;
  }
  try {
    return await (await command.load()).run(args);
  } catch (e) {
    if (
      e instanceof GgufError || e instanceof InvalidRequestError || e instanceof EngineError ||
      e instanceof ModelFetchError || e instanceof MemoryBudgetError
    ) {
      console.error(`error: ${e.message}`);
      return 1;
    }
    if ((e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      console.error(`error: ${(e as Error).message}`);
      return 2;
    }
    throw e;
  }
}
