/**
 * minicpmv-edge: MiniCPM-V 4.6 on llama.cpp compiled to WebAssembly, for Deno, Bun, Node.js
 * and the browser.
 *
 * ```ts
 * const engine = await Engine.create();
 * const mm = await MiniCPMV.load(engine, { model: "model-Q4_K_M.gguf", mmproj: "mmproj.gguf" });
 * const run = await mm.chat([{ role: "user", content: [
 *   { type: "image", image: "photo.jpg" }, { type: "text", text: "What is in the image?" },
 * ] }], { downsampleMode: "16x", maxSliceNums: 9, maxTokens: 128 });
 * for await (const piece of run.generation) console.log(piece.text);
 * ```
 * Lower level: Model (tokens, contexts), generate(), VisionModel (tiles), planImage().
 */

export { Engine, type EngineOptions, type LogLevel } from "./engine/ts/engine.ts";
export type { SimdLevel } from "./engine/ts/wasm/module.ts";
export {
  AbortError,
  EngineError,
  GgufError,
  InvalidRequestError,
  MemoryBudgetError,
  ModelFetchError,
  VideoDecodeError,
  type VideoDecodeErrorCode,
} from "./engine/ts/errors.ts";
export { Context, type ContextOptions, Model, type ModelInfo, type ModelSource } from "./engine/ts/model.ts";
export {
  type ModelRefs,
  resolveDefaultModels,
  type ResolvedModel,
  resolveModelRef,
  resolveModelRefs,
  type ResolveOptions,
} from "./engine/ts/hub/resolve.ts";
export { type DownloadProgress, type ProgressListener } from "./engine/ts/hub/progress.ts";
export { type ModelRef, parseModelRef } from "./engine/ts/hub/refs.ts";
export { DEFAULT_MODEL, DEFAULT_QUANT, DEFAULT_REPO } from "./engine/ts/hub/manifest.ts";
export { type CachedModel, listCachedModels } from "./engine/ts/hub/cache.ts";
export {
  checkMemoryBudget,
  estimateMemory,
  type MemoryEstimate,
  WASM_MEMORY_LIMIT,
} from "./engine/ts/memory-budget.ts";
export { mergeGguf, splitGguf, type SplitOptions } from "./engine/ts/gguf/split.ts";
export { cacheDir } from "./engine/ts/hub/cache.ts";
export {
  evaluate,
  type FinishReason,
  generate,
  type GenerateOptions,
  Generation,
  type GenerationPiece,
  type GenerationResult,
  type PromptInput,
  type SamplingOptions,
  type Usage,
} from "./engine/ts/generate.ts";
export { type ChatMessage, renderChat, type RenderOptions } from "./engine/ts/chat/template.ts";
export {
  type AssistantMessage,
  type AssistantOutputOptions,
  AssistantOutputParser,
  type OutputEvent,
  parseAssistantOutput,
} from "./engine/ts/chat/output.ts";
export {
  newToolCallId,
  parseToolCalls,
  type ToolCall,
  ToolCallCollector,
  type ToolCallEvent,
  ToolCallParser,
  type ToolCallParserOptions,
  type ToolDef,
} from "./engine/ts/chat/tool-calls.ts";
export { toolCallGrammar, type ToolGrammarOptions } from "./engine/ts/chat/tool-grammar.ts";
export { type ReasoningEvent, ReasoningSplitter, splitReasoning } from "./engine/ts/chat/reasoning.ts";
export { NewlineRepair, repairNewlines } from "./engine/ts/chat/newlines.ts";
export { type Tile, type VisionInfo, VisionModel } from "./engine/ts/vision/vision-model.ts";
export { type DownsampleMode, type ImagePlan, planImage, type PlanOptions } from "./engine/ts/vision/plan.ts";
export {
  planVideo,
  type VideoMeta,
  type VideoPlan,
  type VideoPlanOptions,
  type VideoUnit,
} from "./engine/ts/video/plan.ts";
export {
  type ChatOptions,
  type ChatRun,
  type ContentPart,
  type LoadOptions,
  type MediaStats,
  type Message,
  MiniCPMV,
} from "./engine/ts/minicpmv.ts";
export { decodeImage, type DecodeOptions, probeImage } from "./engine/ts/vision/decode.ts";
export type { FetchLimits, MediaInput } from "./engine/ts/media-source.ts";
export { MediaDecoder, type MediaDecoderOptions } from "./engine/ts/media/client.ts";
export type { DecodedFrame, VideoInfo, VideoLimits } from "./engine/ts/video/decoder.ts";
export type { RgbImage } from "./engine/ts/vision/resize.ts";
