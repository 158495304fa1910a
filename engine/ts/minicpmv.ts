/**
 * MiniCPM-V 4.6 end to end: a language model plus an optional mmproj, chat with images and videos.
 * Per request: downsample_mode, max_slice_nums and use_image_id (reference semantics), and for
 * videos max_num_frames and stack_frames, with tile embeddings cached across requests.
 */

import { type ChatMessage, renderChat } from "./chat/template.ts";
import type { Engine } from "./engine.ts";
import { abortable, InvalidRequestError, throwIfAborted } from "./errors.ts";
import { generate } from "./generate.ts";
import type { GenerateOptions, Generation, PromptInput } from "./generation.ts";
import { resolveModelRef, resolveModelRefs, type ResolveOptions } from "./hub/resolve.ts";
import { isRemoteRef } from "./hub/refs.ts";
import { checkMemoryBudget } from "./memory-budget.ts";
import { type Context, inspectModelSource, Model, type ModelSource } from "./model.ts";
import { type FetchLimits, loadMediaBytes, type MediaInput } from "./media-source.ts";
import { MediaDecoder } from "./media/client.ts";
import type { VideoLimits } from "./video/decoder.ts";
import { encodeVideo } from "./video/encode.ts";
import { expandVideos, VIDEO_MARKER, videoPlaceholderRuns } from "./video/layout.ts";
import { planVideo, type VideoMeta, type VideoPlan, type VideoPlanOptions } from "./video/plan.ts";
import { contentHash, EncodeCache, tileKey } from "./vision/encode-cache.ts";
import { expandImages, IMAGE_MARKER, placeholderRuns } from "./vision/layout.ts";
import type { ImagePlan } from "./vision/plan.ts";
import { type Tile, VisionModel } from "./vision/vision-model.ts";

export type ContentPart =
  | { type: "text"; text: string }
  | { type: "image"; image: MediaInput }
  | { type: "video"; video: MediaInput };

export interface Message {
  role: ChatMessage["role"];
  content: string | ContentPart[] | null;
  reasoning_content?: string;
  tool_calls?: unknown[];
  name?: string;
  tool_call_id?: string;
}

/**
 * `downsampleMode`, `maxSliceNums` and `useImageId` apply to images and videos alike; when not
 * given, images default to 9 slices with ids and videos to 1 slice without (the reference's video
 * settings). `maxNumFrames` (128) and `stackFrames` (1) apply to videos.
 */
export interface ChatOptions extends GenerateOptions, VideoPlanOptions {
  /** Qwen3.5 thinking (default false: Instruct checkpoint) */
  enableThinking?: boolean;
  tools?: unknown[];
  templateKwargs?: Record<string, unknown>;
  /** refuse larger images before decoding their pixels (default 50 MP) */
  maxImagePixels?: number;
  /** remote images (and videos, unless `videoFetch` is given) */
  fetch?: FetchLimits;
  /** remote videos (default: `fetch`) */
  videoFetch?: FetchLimits;
  /** frame size, duration and frame-table bounds of videos */
  videoLimits?: VideoLimits;
}

export interface MediaStats {
  /** embedding positions of all images / all videos (markup tokens excluded) */
  imageTokens: number;
  videoTokens: number;
  /** tiles taken from the encode cache / encoded now (images and video units) */
  tilesCached: number;
  tilesEncoded: number;
  /** video frames decoded now (0 when every unit came from the cache) */
  framesDecoded: number;
  /** preparing the media: loading, decoding, encoding (ms) */
  encodeMs: number;
  /** of which waiting for the video decoder (ms) */
  decodeMs: number;
}

/** What usage reports of a prompt's media: embedding positions, markup excluded. */
export type MediaTokens = Pick<MediaStats, "imageTokens" | "videoTokens">;

export interface ChatRun {
  generation: Generation;
  /** one per image / video, in prompt order */
  plans: ImagePlan[];
  videoPlans: VideoPlan[];
  /** the prompt as laid out: token ids (one placeholder per embedding) and the embeddings */
  prompt: PromptInput;
  promptTokens: number;
  media: MediaStats;
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
  /** called when loading enters a long stage: the mmproj's one-time Q8_0 rewrite, then loading the weights */
  onStage?: (stage: "converting" | "loading") => void;
  /** vision weights: "q8_0" (default for paths: F16 matrices converted once, ~5x faster in WASM) or "as-is" */
  visionWeights?: "as-is" | "q8_0";
  /** context tokens (default 4096) */
  contextSize?: number;
  batchSize?: number;
  /** requests generating at once (default 1); each gets contextSize / sequences positions */
  sequences?: number;
  /** bytes of tile embeddings kept for later requests (default 256 MiB) */
  encodeCacheBytes?: number;
  /** bytes of prefix-cache checkpoints (ContextOptions.cacheRamBytes, default 256 MiB) */
  cacheRamBytes?: number;
}

function singleFile(source: string | Blob[]): string | Blob {
  if (typeof source === "string") return source;
  if (source.length !== 1) {
    throw new InvalidRequestError("a split mmproj is not supported: merge it first (cli.ts merge)", "mmproj");
  }
  return source[0];
}

/** The values of `promises` once all have settled; throws the first rejection in their order, not in time. */
async function allInOrder<T>(promises: Promise<T>[]): Promise<T[]> {
  return (await Promise.allSettled(promises)).map((r) => {
    if (r.status === "rejected") throw r.reason;
    return r.value;
  });
}

export class MiniCPMV {
  readonly cache: EncodeCache;
  /** requests preparing now (close() leaves the media workers to them) / close() was called */
  private preparing = 0;
  private closed = false;
  /** tile encodes running now, by encode-cache key: a request with the same tile waits for that one */
  private encoding = new Map<string, Promise<Float32Array>>();
  /** the media workers that decode and tile images and videos, started by the first one */
  private media: MediaDecoder | undefined;
  private videoInfos = new Map<string, VideoMeta>();

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
    checkMemoryBudget({
      model: modelIn.files,
      mmproj: mmprojFiles,
      contextSize: o.contextSize,
      batchSize: o.batchSize,
    });

    const model = await Model.loadInspected(engine, modelIn);
    const vision = mmprojSource
      ? await VisionModel.load(engine, mmprojSource, {
        weights: o.visionWeights,
        files: mmprojFiles,
        onConvert: (done) => o.onStage?.(done ? "loading" : "converting"),
      })
      : undefined;
    if (vision && vision.info.nEmbd !== model.info.nEmbd) {
      throw new InvalidRequestError(
        `the mmproj's output width ${vision.info.nEmbd} does not match the model's ${model.info.nEmbd}`,
        "mmproj",
      );
    }
    const context = await model.createContext({
      contextSize: o.contextSize,
      batchSize: o.batchSize,
      sequences: o.sequences,
      cacheRamBytes: o.cacheRamBytes,
    });
    return new MiniCPMV(engine, model, vision, context, o.encodeCacheBytes);
  }

  /** Stops the media workers (the engine is the caller's), once the requests preparing now are done. */
  close(): void {
    this.closed = true;
    if (this.preparing === 0) this.stopMedia();
  }

  private stopMedia() {
    this.media?.terminate();
    this.media = undefined;
  }

  /**
   * Starts a chat completion. Images and videos in messages are fetched, decoded, planned, encoded
   * (or taken from the cache) and laid out; then the request generates beside others on the
   * context's sequences (see Scheduler). Requests prepare side by side: fetches and media decoding
   * overlap, and their engine calls (tokenization, tile encodes) take turns in the engine worker,
   * each call self-contained. `options.signal` cancels the request between any two steps
   * (AbortError); a crashed engine stops it too (EngineCrashError).
   */
  async chat(messages: Message[], options: ChatOptions = {}): Promise<ChatRun> {
    this.preparing++;
    try {
      return await this.prepare(messages, options);
    } finally {
      if (--this.preparing === 0 && this.closed) this.stopMedia();
    }
  }

  private async prepare(messages: Message[], o: ChatOptions): Promise<ChatRun> {
    const signal = o.signal;
    /** between two steps: stop when the client left or the engine is gone */
    const checkpoint = () => {
      throwIfAborted(signal);
      this.engine.checkAlive();
    };
    checkpoint();
    const template = this.model.info.chatTemplate;
    if (!template) throw new InvalidRequestError("the model has no chat template", "model");
    const images: MediaInput[] = [];
    const videos: MediaInput[] = [];
    const templated: ChatMessage[] = messages.map((m) => {
      if (!Array.isArray(m.content)) return m as ChatMessage;
      const content = m.content.map((p) => {
        if (p.type === "image") {
          images.push(p.image);
          return { type: "image" };
        }
        if (p.type === "video") {
          videos.push(p.video);
          return { type: "video" };
        }
        for (const marker of [IMAGE_MARKER, VIDEO_MARKER]) {
          if (p.text.includes(marker)) throw new InvalidRequestError(`text may not contain ${marker}`, "messages");
        }
        return p;
      });
      return { ...m, content } as ChatMessage;
    });
    if ((images.length || videos.length) && !this.vision) {
      const kind = images.length ? "images" : "videos";
      throw new InvalidRequestError(`this model was loaded without an mmproj: ${kind} are not supported`, "messages");
    }

    const rendered = renderChat(template, templated, {
      enableThinking: o.enableThinking,
      tools: o.tools,
      extra: o.templateKwargs,
    });
    const t0 = performance.now();
    const stats: MediaStats = {
      imageTokens: 0,
      videoTokens: 0,
      tilesCached: 0,
      tilesEncoded: 0,
      framesDecoded: 0,
      encodeMs: 0,
      decodeMs: 0,
    };
    const loaded = (inputs: MediaInput[], fetch: FetchLimits | undefined, kind: "image" | "video") =>
      Promise.all(inputs.map(async (input) => {
        const bytes = await loadMediaBytes(input, fetch, kind);
        return { bytes, hash: await contentHash(bytes) };
      }));
    // a remote fetch stops at once when the request is cancelled
    const withSignal = (f: FetchLimits | undefined): FetchLimits => ({ ...f, signal: f?.signal ?? signal });
    const [imageFiles, videoFiles] = await Promise.all([
      loaded(images, withSignal(o.fetch), "image"),
      loaded(videos, withSignal(o.videoFetch ?? o.fetch), "video"),
    ]);
    checkpoint();
    const vision = this.vision!; // there whenever there are images or videos (checked above)
    // images are decoded, planned and cut into tiles in the media workers, side by side; a cancelled
    // request stops waiting for them (a worker finishes the image it is on, and its tiles are dropped)
    const tiledImages = await abortable(
      allInOrder(imageFiles.map((p) =>
        this.mediaDecoder().tileImage(p.bytes, {
          maxPixels: o.maxImagePixels,
          plan: { downsampleMode: o.downsampleMode, maxSliceNums: o.maxSliceNums, useImageId: o.useImageId },
          mean: vision.info.imageMean,
          std: vision.info.imageStd,
        })
      )),
      signal,
    );
    const plans = tiledImages.map((r) => r.plan);
    const videoPlans: VideoPlan[] = [];
    for (const v of videoFiles) {
      videoPlans.push(planVideo(await abortable(this.videoInfo(v.bytes, v.hash, o.videoLimits), signal), o));
    }

    checkpoint();
    const tokens = await abortable(
      this.model.tokenize(expandVideos(expandImages(rendered, plans), videoPlans)),
      signal,
    );
    // the plans know every placeholder: a prompt that cannot fit is refused before anything is encoded
    if (tokens.length >= this.context.sequenceSize) {
      throw new InvalidRequestError(
        `the prompt has ${tokens.length} tokens (images and videos included); at most ` +
          `${this.context.sequenceSize - 1} fit a sequence of this context`,
        "messages",
      );
    }
    const input: PromptInput = { tokens, embeddings: [] };
    if (plans.length) {
      const starts = placeholderRuns(tokens, this.placeholderId(IMAGE_MARKER), plans);
      let run = 0;
      for (const [k, plan] of plans.entries()) {
        stats.imageTokens += plan.imageTokens;
        for (const [t, tile] of tiledImages[k].tiles.entries()) {
          checkpoint();
          const key = tileKey(imageFiles[k].hash, plan, t, vision.info.file);
          const data = await this.encodeTile(key, tile, plan.mode, stats, signal);
          input.embeddings!.push({ start: starts[run++], data, key }); // key: the prefix cache's identity
        }
      }
    }
    if (videoPlans.length) {
      const starts = videoPlaceholderRuns(tokens, this.placeholderId(VIDEO_MARKER), videoPlans);
      let run = 0;
      for (const [k, plan] of videoPlans.entries()) {
        stats.videoTokens += plan.videoTokens;
        const file = videoFiles[k];
        const embeddings = await encodeVideo({
          ...file,
          plan,
          media: this.mediaDecoder(),
          vision,
          cache: this.cache,
          limits: o.videoLimits,
          signal,
        }, stats);
        for (const data of embeddings) input.embeddings!.push({ start: starts[run++], data });
      }
    }
    stats.encodeMs = performance.now() - t0;
    checkpoint();
    return {
      generation: generate(this.context, input, o),
      plans,
      videoPlans,
      prompt: input,
      promptTokens: tokens.length,
      media: stats,
    };
  }

  /**
   * A tile's embeddings from the encode cache, from an encode of the same tile another request
   * started, or encoded now. A cancelled request stops waiting; the encode it started still fills
   * the cache (one engine call, which cannot be interrupted).
   */
  private encodeTile(
    key: string,
    tile: Tile,
    mode: ImagePlan["mode"],
    stats: MediaStats,
    signal: AbortSignal | undefined,
  ): Promise<Float32Array> {
    const cached = this.cache.get(key);
    let running = this.encoding.get(key);
    if (cached || running) stats.tilesCached++;
    if (cached) return Promise.resolve(cached);
    if (!running) {
      stats.tilesEncoded++;
      running = this.vision!.encodeTile(tile, mode).then((data) => {
        this.cache.set(key, data);
        return data;
      }).finally(() => this.encoding.delete(key));
      this.encoding.set(key, running);
    }
    return abortable(running, signal);
  }

  private placeholderId(marker: string): number {
    const id = this.model.vocab.idOf(marker);
    if (id === undefined) throw new InvalidRequestError(`the model's vocabulary has no ${marker}`, "model");
    return id;
  }

  private mediaDecoder(): MediaDecoder {
    return this.media ??= MediaDecoder.create();
  }

  /** Container metadata, remembered by content so a second question about a video opens nothing. */
  private async videoInfo(bytes: Uint8Array, hash: string, limits?: VideoLimits): Promise<VideoMeta> {
    // keyed by the limits too: a request with tighter limits than an earlier one probes (and refuses) again
    const key = `${hash}|${JSON.stringify(limits ?? {})}`;
    const known = this.videoInfos.get(key);
    if (known) return known;
    const { fps, frameCount, width, height } = await this.mediaDecoder().probe(bytes, limits);
    // the duration as transformers' PyAV and decord loaders (and vLLM's OpenCV one) compute it: frames / fps,
    // not the container's, which a longer audio track can stretch (docs/input-pipeline.md, "Video")
    const meta = { durationSeconds: frameCount / fps, fps, frameCount, width, height };
    this.videoInfos.set(key, meta);
    if (this.videoInfos.size > 256) this.videoInfos.delete(this.videoInfos.keys().next().value!);
    return meta;
  }
}
