/**
 * `generate --model FILE [--prompt TEXT] [--raw] [--temp T] [--seed S] [--max-tokens N]
 *  [--threads N] [--ctx-size N] [--stop S]... [--json]`
 * Without --raw the prompt is one user message rendered with the model's chat template.
 */

import { parseArgs } from "node:util";
import { Engine } from "../engine/ts/engine.ts";
import { InvalidRequestError } from "../engine/ts/errors.ts";
import { renderChat } from "../engine/ts/chat/template.ts";
import { generate } from "../engine/ts/generate.ts";
import { Model } from "../engine/ts/model.ts";

export async function run(args: string[]): Promise<number> {
  const { values: v } = parseArgs({
    args,
    options: {
      model: { type: "string", short: "m" },
      prompt: { type: "string", short: "p", default: "Hello" },
      raw: { type: "boolean", default: false },
      temp: { type: "string", default: "0.8" },
      seed: { type: "string" },
      "max-tokens": { type: "string", short: "n", default: "256" },
      threads: { type: "string", short: "t" },
      "ctx-size": { type: "string", short: "c", default: "4096" },
      stop: { type: "string", multiple: true },
      json: { type: "boolean", default: false },
      verbose: { type: "boolean", default: false },
    },
  });
  if (!v.model) throw new InvalidRequestError("--model FILE is required", "model");
  const int = (s: string | undefined, name: string) => {
    if (s === undefined) return undefined;
    const n = Number(s);
    if (!Number.isFinite(n)) throw new InvalidRequestError(`--${name} must be a number`, name);
    return n;
  };

  const engine = await Engine.create({ threads: int(v.threads, "threads"), logLevel: v.verbose ? "info" : "error" });
  const model = await Model.load(engine, v.model);
  let prompt = v.prompt!;
  if (!v.raw) {
    if (!model.info.chatTemplate) throw new InvalidRequestError(`${v.model} has no chat template; use --raw`, "raw");
    prompt = renderChat(model.info.chatTemplate, [{ role: "user", content: prompt }]);
  }
  const ctx = await model.createContext({ contextSize: int(v["ctx-size"], "ctx-size") });
  const gen = generate(ctx, await model.tokenize(prompt), {
    temperature: int(v.temp, "temp"),
    seed: int(v.seed, "seed"),
    maxTokens: int(v["max-tokens"], "max-tokens"),
    stop: v.stop,
  });
  if (!v.json) {
    for await (const piece of gen) await write(piece.text);
    await write("\n");
  }
  const r = await gen.result;
  if (v.json) {
    console.log(JSON.stringify({
      text: r.text,
      tokens: r.tokens,
      finish_reason: r.finishReason,
      usage: { prompt_tokens: r.usage.promptTokens, completion_tokens: r.usage.completionTokens, total_tokens: r.usage.totalTokens },
      timings: { prompt_ms: +r.timings.promptMs.toFixed(1), generate_ms: +r.timings.generateMs.toFixed(1) },
    }));
  }
  engine.terminate();
  return 0;
}

const encoder = new TextEncoder();
function write(s: string): Promise<void> {
  return new Promise((resolve) => process.stdout.write(encoder.encode(s), () => resolve()));
}
