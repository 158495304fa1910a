/**
 * minicpmv-edge: MiniCPM-V 4.6 on llama.cpp compiled to WebAssembly, for Deno, Bun, Node.js
 * and the browser.
 *
 * ```ts
 * const engine = await Engine.create();
 * const model = await Model.load(engine, { model: "tiny-llm.gguf" });
 * for await (const piece of model.generate("Hello", { maxTokens: 16 })) console.log(piece.text);
 * ```
 */

export { Engine, type EngineOptions, type LogLevel } from "./engine/ts/engine.ts";
export { AbortError, EngineError, GgufError, InvalidRequestError } from "./engine/ts/errors.ts";
export { Context, type ContextOptions, Model, type ModelInfo, type ModelSource } from "./engine/ts/model.ts";
export {
  type FinishReason,
  generate,
  type GenerateOptions,
  Generation,
  type GenerationPiece,
  type GenerationResult,
  type SamplingOptions,
  type Usage,
} from "./engine/ts/generate.ts";
export { type ChatMessage, renderChat, type RenderOptions } from "./engine/ts/chat/template.ts";
export { type Tile, VisionModel, type VisionInfo } from "./engine/ts/vision/vision-model.ts";
export { type DownsampleMode, type ImagePlan, type PlanOptions, planImage } from "./engine/ts/vision/plan.ts";
