/** A loaded MiniCPM-V 4.6 mmproj: encodes preprocessed tiles in 16x or 4x, chosen per call. */

import type { Engine } from "../engine.ts";
import { InvalidRequestError } from "../errors.ts";
import { type ModelFiles, openModelFiles, validateModelSources } from "../gguf/model-files.ts";
import { cacheDir } from "../hub/cache.ts";
import { blobSource, createFileSink, nodeFs, openFile } from "../platform/index.ts";
import { convertMmprojToQ8, isF16Matrix } from "./convert.ts";
import type { DownsampleMode } from "./plan.ts";

export interface Tile {
  width: number;
  height: number;
  /** height x width x 3 normalised floats, interleaved RGB */
  data: Float32Array;
}

export interface VisionInfo {
  /** embedding width (equals the language model's) */
  nEmbd: number;
  /** false for a 4x-only file (converted without the vit_merger) */
  supports16x: boolean;
  imageMean: number[];
  imageStd: number[];
  file: string;
}

const MERGE: Record<DownsampleMode, number> = { "16x": 4, "4x": 2 };

export interface VisionLoadOptions {
  /**
   * "q8_0" (default for paths) rewrites the file's F16 matrices as Q8_0 (F32 where rows are not
   * multiples of 32) into `convertedDir` once, reused later: WASM has no F16 arithmetic, so this
   * encodes about 5x faster, with embeddings within cosine 0.9997 of F16 (real-shape file).
   * "as-is" (default for Blobs, which have no file cache) loads the file's weights unchanged.
   */
  weights?: "as-is" | "q8_0";
  /** where converted files are kept (default: the model cache, see cacheDir()) */
  convertedDir?: string;
  /** the source's headers, already validated (MiniCPMV.load reads them once for the memory check) */
  files?: ModelFiles;
  /** called before the Q8_0 rewrite runs (not when a converted file is reused), and once it is done */
  onConvert?: (done: boolean) => void;
}

/** The Q8_0 rewrite of an mmproj file, made once per source file (name, size and mtime). */
export async function convertedPath(
  source: string,
  dir = cacheDir(),
  onConvert?: (done: boolean) => void,
): Promise<string> {
  const fs = await nodeFs();
  const st = await fs.promises.stat(source);
  const base = source.slice(source.lastIndexOf("/") + 1).replace(/\.gguf$/, "");
  const out = `${dir}/${base}-${st.size}-${Math.floor(st.mtimeMs)}-q8_0.gguf`;
  if (!fs.existsSync(out)) {
    await fs.promises.mkdir(dir, { recursive: true });
    const tmp = `${out}.${crypto.randomUUID()}.tmp`; // unique per writer, renamed into place when complete
    onConvert?.(false);
    await convertMmprojToQ8((await openFile(source))!, await createFileSink(tmp));
    await fs.promises.rename(tmp, out);
    onConvert?.(true);
  }
  return out;
}

export class VisionModel {
  private constructor(readonly engine: Engine, readonly handle: number, readonly info: VisionInfo) {}

  /** Loads an mmproj from a path (validated first) or a Blob/File. */
  static async load(engine: Engine, source: string | Blob, options: VisionLoadOptions = {}): Promise<VisionModel> {
    let files: ModelFiles;
    let name: string;
    if (typeof source === "string") {
      files = options.files ?? await openModelFiles(source, "mmproj", openFile);
      const convertible = files.headers[0].tensors.some(isF16Matrix);
      if ((options.weights ?? "q8_0") === "q8_0" && convertible) {
        source = await convertedPath(source, options.convertedDir ?? cacheDir(), options.onConvert);
      }
      name = source.slice(source.lastIndexOf("/") + 1);
    } else {
      if (options.weights === "q8_0") {
        throw new InvalidRequestError('weights: "q8_0" needs a file path (Deno, Bun, Node)');
      }
      name = (source as File).name || "mmproj.gguf";
      files = options.files ?? await validateModelSources([blobSource(name, source)], "mmproj");
    }
    const meta = files.headers[0].metadata;
    const mean = (meta.get("clip.vision.image_mean") as number[] | undefined) ?? [0.5, 0.5, 0.5];
    const std = (meta.get("clip.vision.image_std") as number[] | undefined) ?? [0.5, 0.5, 0.5];
    const r = await engine.call("loadVision", { name, file: source });
    return new VisionModel(engine, r.vision, {
      nEmbd: r.nEmbd,
      supports16x: r.fileMerge === 4,
      imageMean: mean,
      imageStd: std,
      file: typeof source === "string" ? source : name,
    });
  }

  /** Embeddings of one tile: (width/14 * height/14) / 16 (16x) or / 4 (4x) vectors of nEmbd. */
  async encodeTile(tile: Tile, mode: DownsampleMode = "16x"): Promise<Float32Array> {
    if (mode !== "16x" && mode !== "4x") {
      throw new InvalidRequestError(
        `downsample_mode must be "16x" or "4x", got ${JSON.stringify(mode)}`,
        "downsample_mode",
      );
    }
    if (mode === "16x" && !this.info.supports16x) {
      throw new InvalidRequestError(
        `${this.info.file} is a 4x-only mmproj (no vit_merger): use downsample_mode "4x"`,
        "downsample_mode",
      );
    }
    if (tile.data.length !== tile.width * tile.height * 3) {
      throw new InvalidRequestError(
        `tile data has ${tile.data.length} floats, expected ${tile.width * tile.height * 3}`,
      );
    }
    return await this.engine.call("encodeTile", this.handle, MERGE[mode], tile.width, tile.height, tile.data.slice());
  }

  async close(): Promise<void> {
    await this.engine.call("freeVision", this.handle);
  }
}
