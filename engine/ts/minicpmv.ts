/**
 * MiniCPM-V 4.6 end to end: a language model plus an optional mmproj, chat with images.
 * Per request: downsample_mode, max_slice_nums and use_image_id (reference semantics), with
 * tile embeddings cached across requests.
 */

import { type ChatMessage, renderChat } from "./chat/template.ts";
import type { Engine } from "./engine.ts";
import { InvalidRequestError } from "./errors.ts";
import { generate } from "./generate.ts";
import type { GenerateOptions, Generation, PromptInput } from "./generation.ts";
import { resolveModelRef, resolveModelRefs, type ResolveOptions } from "./hub/resolve.ts";
import { isRemoteRef } from "./hub/refs.ts";
import { checkMemoryBudget } from "./memory-budget.ts";
import { type Context, inspectModelSource, Model, type ModelSource } from "./model.ts";
import { decodeImage } from "./vision/decode.ts";
import { contentHash, EncodeCache } from "./vision/encode-cache.ts";
import { type FetchLimits, type ImageInput, loadImageBytes } from "./vision/image-source.ts";
import { expandImages, IMAGE_MARKER, placeholderRuns } from "./vision/layout.ts";
import { type ImagePlan, type PlanOptions, planImage } from "./vision/plan.ts";
import { imageTiles } from "./vision/preprocess.ts";
import { VisionModel } from "./vision/vision-model.ts";

export type ContentPart =
  | { type: "text"; text: string }
  | { type: "image"; image: ImageInput };

export interface Message {
  role: ChatMessage["role"];
  content: string | ContentPart[] | null;
  reasoning_content?: string;
  tool_calls?: unknown[];
  name?: string;
  tool_call_id?: string;
}

export interface ChatOptions extends GenerateOptions, PlanOptions {
  /** Qwen3.5 thinking (default false: Instruct checkpoint) */
  enableThinking?: boolean;
  tools?: unknown[];
  templateKwargs?: Record<string, unknown>;
  /** refuse larger images before decoding their pixels (default 50 MP) */
  maxImagePixels?: number;
  fetch?: FetchLimits;
}

export interface ChatUsageExtra {
  /** embedding positions of all images (markup tokens excluded) */
  imageTokens: number;
  /** tiles taken from the encode cache / encoded now */
  tilesCached: number;
  tilesEncoded: number;
  encodeMs: number;
}

export interface ChatRun {
  generation: Generation;
  plans: ImagePlan[];
  /** the prompt as laid out: token ids (one <|image_pad|> per embedding) and the embeddings */
  prompt: PromptInput;
  promptTokens: number;
  images: ChatUsageExtra;
}

export interface LoadOptions {
  /** a path, Blobs/Files, or a reference: http(s) URL, `hf:owner/repo/file.gguf`, `owner/repo:QUANT` */
  model: ModelSource | ModelSource[];
  /** the same forms; with an `owner/repo:QUANT` model and no mmproj, the repository's own (false: none) */
  mmproj?: string | Blob | false;
  /** downloads: use the model cache only / progress events / cancellation */
  offline?: boolean;
  onProgress?: ResolveOptions["onProgress"];
  signal?: AbortSignal;
  /** vision weights: "q8_0" (default for paths: F16 matrices converted once, ~5x faster in WASM) or "as-is" */
  visionWeights?: "as-is" | "q8_0";
  /** context tokens (default 4096) */
  contextSize?: number;
  batchSize?: number;
  /** requests generating at once (default 1); each gets contextSize / sequences positions */
  sequences?: number;
  /** bytes of tile embeddings kept for later requests (default 256 MiB) */
  encodeCacheBytes?: number;
}

function singleFile(source: string | Blob[]): string | Blob {
  if (typeof source === "string") return source;
  if (source.length !== 1) throw new InvalidRequestError("a split mmproj is not supported: merge it first (cli.ts merge)", "mmproj");
  return source[0];
}

export class MiniCPMV {
  readonly cache: EncodeCache;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly engine: Engine,
    readonly model: Model,
    readonly vision: VisionModel | undefined,
    readonly context: Context,
    cacheBytes?: number,
  ) {
    this.cache = new EncodeCache(cacheBytes);
  }

  static async load(engine: Engine, o: LoadOptions): Promise<MiniCPMV> {
    // remote references are downloaded (in parallel) before anything is loaded
    let modelSource: ModelSource | ModelSource[] = o.model;
    let mmprojSource: string | Blob | undefined = o.mmproj || undefined;
    const remote = (s: unknown) => typeof s === "string" && isRemoteRef(s);
    const download = { offline: o.offline, onProgress: o.onProgress, signal: o.signal };
    if (remote(o.model)) {
      const mmproj = typeof o.mmproj === "string" || o.mmproj === false ? o.mmproj : undefined;
      const r = await resolveModelRefs({ model: o.model as string, mmproj }, download);
      modelSource = r.model.source;
      if (r.mmproj) mmprojSource = singleFile(r.mmproj.source);
    } else if (remote(o.mmproj)) {
      mmprojSource = singleFile((await resolveModelRef(o.mmproj as string, download, "mmproj")).source);
    }
    // refuse what cannot fit the wasm address space before loading a byte
    // (each header is read once, lean: see ReadOptions)
    const modelIn = await inspectModelSource(modelSource, "llm");
    const mmprojFiles = mmprojSource ? (await inspectModelSource(mmprojSource, "mmproj")).files : undefined;
    checkMemoryBudget({ model: modelIn.files, mmproj: mmprojFiles, contextSize: o.contextSize, batchSize: o.batchSize });

    const model = await Model.loadInspected(engine, modelIn);
    const vision = mmprojSource
      ? await VisionModel.load(engine, mmprojSource, { weights: o.visionWeights, files: mmprojFiles })
      : undefined;
    if (vision && vision.info.nEmbd !== model.info.nEmbd) {
      throw new InvalidRequestError(`the mmproj's output width ${vision.info.nEmbd} does not match the model's ${model.info.nEmbd}`, "mmproj");
    }
    const context = await model.createContext({ contextSize: o.contextSize, batchSize: o.batchSize, sequences: o.sequences });
    return new MiniCPMV(engine, model, vision, context, o.encodeCacheBytes);
  }

  /**
   * Starts a chat completion. Images in messages are decoded, planned, encoded (or taken from
   * the cache) and laid out, one request at a time; then the request generates beside others
   * on the context's sequences (see Scheduler).
   */
  chat(messages: Message[], options: ChatOptions = {}): Promise<ChatRun> {
    const run = this.queue.then(() => this.prepare(messages, options));
    this.queue = run.catch(() => {});
    return run;
  }

  private async prepare(messages: Message[], o: ChatOptions): Promise<ChatRun> {
    const template = this.model.info.chatTemplate;
    if (!template) throw new InvalidRequestError("the model has no chat template", "model");
    const images: ImageInput[] = [];
    const templated: ChatMessage[] = messages.map((m) => {
      if (!Array.isArray(m.content)) return m as ChatMessage;
      const content = m.content.map((p) => {
        if (p.type === "image") {
          images.push(p.image);
          return { type: "image" };
        }
        if (p.text.includes(IMAGE_MARKER)) throw new InvalidRequestError(`text may not contain ${IMAGE_MARKER}`, "messages");
        return p;
      });
      return { ...m, content } as ChatMessage;
    });
    if (images.length && !this.vision) throw new InvalidRequestError("this model was loaded without an mmproj: images are not supported", "messages");

    const rendered = renderChat(template, templated, {
      enableThinking: o.enableThinking,
      tools: o.tools,
      extra: o.templateKwargs,
    });
    const t0 = performance.now();
    const prepared = await Promise.all(images.map(async (img) => {
      const bytes = await loadImageBytes(img, o.fetch);
      return { bytes, hash: await contentHash(bytes) };
    }));
    const decoded = [];
    for (const p of prepared) decoded.push(await decodeImage(p.bytes, { maxPixels: o.maxImagePixels }));
    const plans = decoded.map((img) => planImage({ width: img.width, height: img.height }, o));

    const tokens = await this.model.tokenize(expandImages(rendered, plans));
    const stats: ChatUsageExtra = { imageTokens: 0, tilesCached: 0, tilesEncoded: 0, encodeMs: 0 };
    const input: PromptInput = { tokens, embeddings: [] };
    if (plans.length) {
      const placeholder = this.model.vocab.idOf(IMAGE_MARKER);
      if (placeholder === undefined) throw new InvalidRequestError(`the model's vocabulary has no ${IMAGE_MARKER}`, "model");
      const starts = placeholderRuns(tokens, placeholder, plans);
      let run = 0;
      for (const [k, plan] of plans.entries()) {
        stats.imageTokens += plan.imageTokens;
        const tiles = imageTiles(decoded[k], plan, this.vision!.info.imageMean, this.vision!.info.imageStd);
        for (const [t, tile] of tiles.entries()) {
          const key = `${prepared[k].hash}|${plan.mode}|${plan.overview.width}x${plan.overview.height}|` +
            `${plan.refined?.width}x${plan.refined?.height}|${plan.grid?.rows}x${plan.grid?.cols}|${t}|${this.vision!.info.file}`;
          let data = this.cache.get(key);
          if (data) stats.tilesCached++;
          else {
            data = await this.vision!.encodeTile(tile, plan.mode);
            this.cache.set(key, data);
            stats.tilesEncoded++;
          }
          input.embeddings!.push({ start: starts[run++], data });
        }
      }
    }
    stats.encodeMs = performance.now() - t0;
    return {
      generation: generate(this.context, input, o),
      plans,
      prompt: input,
      promptTokens: tokens.length,
      images: stats,
    };
  }
}
