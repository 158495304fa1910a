/**
 * The two sides of a parity check on one GGUF: a greedy run and prompt logits in the WASM
 * engine, the same through the native oracle (tests/oracle/oracle.cpp).
 */

import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { evaluate, generate, type Model } from "../mod.ts";
import type { PromptInput, TokenLogprobs } from "../engine/ts/generate.ts";
import { nativeBin, oracle, run } from "./helpers.ts";

let seq = 0;
const tmpFile = (kind: string) => `${tmpdir()}/mce-oracle-${process.pid}-${seq++}.${kind}`;

function takeLogits(file: string): Float32Array {
  const logits = new Float32Array(new Uint8Array(readFileSync(file)).buffer);
  rmSync(file);
  return logits;
}

/** WASM: the prompt's tokens, the logits after it, and `n` greedy tokens (with `logprobs` alternatives per step). */
export async function wasmGreedy(model: Model, prompt: string, n: number, logprobs = 0) {
  const ctx = await model.createContext({ contextSize: 1024, batchSize: 512 });
  try {
    const promptTokens = await model.tokenize(prompt);
    const logits = await evaluate(ctx, promptTokens);
    const r = await generate(ctx, promptTokens, { temperature: 0, maxTokens: n, logprobs }).result;
    return { promptTokens: [...promptTokens], tokens: r.tokens, logits, steps: r.logprobs ?? [] as TokenLogprobs[] };
  } finally {
    await ctx.close();
  }
}

/** Native: the same as wasmGreedy (oracle generate, 2 threads, 1024-token context). */
export async function nativeGreedy(model: string, prompt: string, n: number) {
  const file = tmpFile("logits");
  const r = await oracle([
    "generate",
    "--model",
    model,
    "--prompt",
    prompt,
    "--n",
    String(n),
    "--ctx",
    "1024",
    "--threads",
    "2",
    "--logits-out",
    file,
  ]);
  return { ...r, logits: takeLogits(file) };
}

/** Native: the logits after a prompt of tokens (some replaced by embeddings), decoded in 512-token batches. */
export async function nativeEvaluate(model: string, nEmbd: number, prompt: PromptInput): Promise<Float32Array> {
  const { tokens, embeddings = [] } = prompt;
  const parts: ArrayBufferView[] = [Int32Array.of(tokens.length, embeddings.length, nEmbd), tokens];
  for (const e of embeddings) parts.push(Int32Array.of(e.start, e.data.length / nEmbd), e.data);
  const input = tmpFile("bin");
  const logitsFile = tmpFile("logits");
  writeFileSync(input, Buffer.concat(parts.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength))));
  try {
    const r = await run(nativeBin("oracle"), [
      "evaluate",
      "--model",
      model,
      "--input",
      input,
      "--logits-out",
      logitsFile,
    ]);
    if (r.code !== 0) throw new Error(`oracle evaluate failed (${r.code}): ${r.stderr}`);
  } finally {
    rmSync(input);
  }
  return takeLogits(logitsFile);
}

/** log-softmax of one entry, in float64 */
export function logSoftmaxAt(logits: Float32Array, token: number): number {
  let max = -Infinity;
  for (const v of logits) max = Math.max(max, v);
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  return logits[token] - max - Math.log(sum);
}
