/**
 * Text generation: runs a prompt on a context's scheduler (scheduler.ts). The options, results
 * and the streamed Generation are in generation.ts; they are re-exported here with generate().
 */

import type { Context } from "./model.ts";
import type { GenerateOptions, Generation, PromptInput } from "./generation.ts";

export {
  type FinishReason,
  type GenerateOptions,
  Generation,
  type GenerationPiece,
  type GenerationResult,
  type PromptInput,
  type SamplingOptions,
  type Usage,
} from "./generation.ts";
export type { TokenLogprobs } from "./rpc.ts";

function toInput(prompt: ArrayLike<number> | PromptInput): PromptInput {
  return "tokens" in prompt ? prompt as PromptInput : { tokens: Int32Array.from(prompt as ArrayLike<number>) };
}

/**
 * Generates from a prompt on a free sequence of `ctx`. Requests beyond the context's sequences
 * wait; running ones are decoded together, one token each per step.
 */
export function generate(
  ctx: Context,
  prompt: ArrayLike<number> | PromptInput,
  options: GenerateOptions = {},
): Generation {
  return ctx.scheduler.submit(toInput(prompt), options);
}

/**
 * Decodes a prompt (text, or text with image embeddings) on a fresh sequence (or, with
 * `cachePrompt`, from the longest prefix a sequence holds); the logits after it.
 */
export function evaluate(
  ctx: Context,
  prompt: ArrayLike<number> | PromptInput,
  options: { cachePrompt?: boolean } = {},
): Promise<Float32Array> {
  return ctx.scheduler.evaluate(toInput(prompt), options);
}
