/** A loaded language model: validation, tokens, contexts. */

import type { Engine } from "./engine.ts";
import { EngineError, InvalidRequestError } from "./errors.ts";
import { type ModelFiles, type ModelKind, openModelFiles, validateModelSources } from "./gguf/model-files.ts";
import { resolveModelRef, type ResolveOptions } from "./hub/resolve.ts";
import { isRemoteRef } from "./hub/refs.ts";
import { checkMemoryBudget } from "./memory-budget.ts";
import { blobSource, openFile } from "./platform/index.ts";
import { DEFAULT_CACHE_RAM_BYTES, Scheduler } from "./scheduler.ts";
import { Detokenizer, Vocabulary } from "./vocab.ts";

export interface ModelInfo {
  nVocab: number;
  nEmbd: number;
  nCtxTrain: number;
  sizeBytes: number;
  /** "hybrid" (Qwen3.5) / "recurrent": state that cannot be trimmed, only saved and restored */
  memoryKind: "attention" | "recurrent" | "hybrid";
  name?: string;
  chatTemplate?: string;
  /** the files loaded, in order (one, or every shard of a split set) */
  files: string[];
}

export interface ContextOptions {
  /** tokens of context shared by all sequences (default 4096, at most the training context) */
  contextSize?: number;
  /** tokens decoded per call (default 512) */
  batchSize?: number;
  /** sequences decoded together (default 1); each gets contextSize / sequences positions */
  sequences?: number;
  /** host memory for the prefix cache's recurrent-state checkpoints (default 256 MiB; 0: none) */
  cacheRamBytes?: number;
}

export type ModelSource = string | Blob;

function basename(p: string): string {
  return p.slice(p.lastIndexOf("/") + 1);
}

/**
 * Validates a model given as a path (a split set by its first shard) or Blobs/Files (every
 * shard, in order) and returns its headers plus what the engine worker is given to load.
 */
export interface Inspected {
  files: ModelFiles;
  inputs: { name: string; file: string | Blob }[];
}

export async function inspectModelSource(source: ModelSource | ModelSource[], kind: ModelKind): Promise<Inspected> {
  const sources = Array.isArray(source) ? source : [source];
  if (sources.length === 1 && typeof sources[0] === "string") {
    const files = await openModelFiles(sources[0], kind, openFile); // browsers: openFile refuses paths
    return { files, inputs: files.paths.map((p) => ({ name: basename(p), file: p })) };
  }
  if (sources.some((s) => typeof s === "string")) {
    throw new InvalidRequestError("pass one path, or Blobs/Files (every shard, in order)", "model");
  }
  const inputs = sources.map((s, i) => ({ name: (s as File).name || `part-${i + 1}.gguf`, file: s }));
  const files = await validateModelSources(inputs.map((f) => blobSource(f.name, f.file as Blob)), kind);
  return { files, inputs };
}

export class Model {
  private constructor(
    readonly engine: Engine,
    readonly handle: number,
    readonly info: ModelInfo,
    readonly vocab: Vocabulary,
  ) {}

  /**
   * Loads a language model: a path (the first shard of a split set loads the whole set) on
   * Deno/Bun/Node, or Blobs/Files (all shards, in order) anywhere, or a model reference (http(s)
   * URL, `hf:owner/repo/file.gguf`, `owner/repo:QUANT`) downloaded into the model cache first.
   * Files are validated first, so a bad file gives a GgufError naming it, and a model that
   * cannot fit the 4 GiB wasm memory a MemoryBudgetError.
   */
  static async load(engine: Engine, source: ModelSource | ModelSource[], options: ResolveOptions = {}): Promise<Model> {
    if (typeof source === "string" && isRemoteRef(source)) {
      source = (await resolveModelRef(source, options, "model")).source;
    }
    return await Model.loadInspected(engine, await inspectModelSource(source, "llm"));
  }

  /** Loads what inspectModelSource validated, without reading its headers again. */
  static async loadInspected(engine: Engine, { files: set, inputs }: Inspected): Promise<Model> {
    checkMemoryBudget({ model: set });
    const r = await engine.call("loadModel", inputs);
    const info: ModelInfo = {
      ...r.info,
      name: r.name,
      chatTemplate: r.chatTemplate,
      files: inputs.map((f) => (typeof f.file === "string" ? f.file : f.name)),
    };
    return new Model(engine, r.model, info, new Vocabulary(r.vocab));
  }

  async tokenize(text: string, options: { addSpecial?: boolean; parseSpecial?: boolean } = {}): Promise<Int32Array> {
    return await this.engine.call(
      "tokenize",
      this.handle,
      text,
      options.addSpecial ?? false,
      options.parseSpecial ?? true,
    );
  }

  /** Text of tokens; control tokens (e.g. <|im_end|>) only when `special`. */
  detokenize(tokens: ArrayLike<number>, options: { special?: boolean } = {}): string {
    const d = new Detokenizer(this.vocab, options.special);
    let s = "";
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!Number.isInteger(t) || t < 0 || t >= this.vocab.size) {
        throw new InvalidRequestError(`token id ${t} is outside the vocabulary (0..${this.vocab.size - 1})`);
      }
      s += d.push(t);
    }
    return s + d.flush();
  }

  async createContext(options: ContextOptions = {}): Promise<Context> {
    const nCtx = Math.min(options.contextSize ?? 4096, this.info.nCtxTrain);
    const nBatch = Math.min(options.batchSize ?? 512, nCtx);
    const sequences = options.sequences ?? 1;
    if (nCtx < 16) throw new InvalidRequestError("contextSize must be at least 16", "contextSize");
    if (sequences < 1 || sequences > 64) throw new InvalidRequestError("sequences must be 1..64", "sequences");
    const r = await this.engine.call("newContext", this.handle, {
      nCtx,
      nBatch,
      nUbatch: nBatch,
      nSeqMax: sequences,
      threads: this.engine.threads,
    });
    const cacheRamBytes = options.cacheRamBytes ?? DEFAULT_CACHE_RAM_BYTES;
    if (!(cacheRamBytes >= 0)) throw new InvalidRequestError("cacheRamBytes must be >= 0", "cacheRamBytes");
    return new Context(this, r.ctx, r.nCtx, r.nCtxSeq, nBatch, sequences, cacheRamBytes);
  }

  async close(): Promise<void> {
    await this.engine.call("freeModel", this.handle);
  }
}

/**
 * A llama.cpp context: KV/recurrent memory for `sequences` independent sequences, and the
 * scheduler that runs generations on them.
 */
export class Context {
  readonly scheduler: Scheduler;

  constructor(
    readonly model: Model,
    readonly handle: number,
    /** positions of all sequences together */
    readonly size: number,
    /** positions one sequence can hold */
    readonly sequenceSize: number,
    readonly batchSize: number,
    readonly sequences: number,
    /** bytes of prefix-cache checkpoints kept (ContextOptions.cacheRamBytes) */
    readonly cacheRamBytes: number = DEFAULT_CACHE_RAM_BYTES,
  ) {
    this.scheduler = new Scheduler(this);
  }

  /**
   * Forgets a sequence. With one sequence the whole memory is cleared: that also resets where
   * llama.cpp places new cells, so identical requests give identical results (after seq_rm alone
   * a prompt lands in other KV cells and attention sums in another order).
   */
  async clearSequence(seq: number): Promise<void> {
    if (this.sequences === 1) return await this.model.engine.call("memoryClear", this.handle);
    const ok = await this.model.engine.call("seqRm", this.handle, seq, -1, -1);
    if (!ok) throw new EngineError(`could not clear sequence ${seq}`);
  }

  async close(): Promise<void> {
    await this.model.engine.call("freeContext", this.handle);
  }
}
