/**
 * Writes MiniCPM-V-4.6-shaped GGUF pairs with seeded random weights: a `qwen35` language
 * model and a `minicpmv4_6` mmproj. "tiny" for tests, "tiny-q4k" (tiny, but with the quantized
 * matrix types of a Q4_K_M file, for kernel parity tests), "real-shape" (true dimensions,
 * quantized LLM, F16 vision tower) for benchmarks. Facts: docs/gguf.md.
 */

import { TensorType, ValueType } from "../gguf/format.ts";
import type { ByteSink, KV, TensorData } from "../gguf/writer.ts";
import { writeGguf } from "../gguf/writer.ts";
import { splitFileName } from "../gguf/model-files.ts";
import type { ByteSource } from "../gguf/reader.ts";
import { CHAT_TEMPLATE } from "./chat-template.ts";
import { type Init, Rng, tensorChunks } from "./random.ts";
import { buildVocab } from "./vocab.ts";

export interface LlmShape {
  embd: number;
  layers: number;
  ff: number;
  heads: number;
  headsKv: number;
  headDim: number;
  rotDims: number;
  ropeSections: [number, number, number, number];
  ropeBase: number;
  ctx: number;
  ssmState: number;
  ssmGroups: number;
  ssmHeads: number;
  convKernel: number;
  /** vocabulary padded to this size (undefined: the BPE's own size) */
  vocab?: number;
  tiedOutput: boolean;
  /** embeddingType: the token embedding and the untied output matrix */
  matrixType: TensorType;
  embeddingType: TensorType;
  fileType: number;
  /** the small linear-attention `ssm_alpha`/`ssm_beta` projections (E x value heads) */
  ssmGateType: TensorType;
  /** Q4_K_M's "more bits": attn_v and ffn_down of the layers llama-quant's use_more_bits picks */
  moreBitsType?: TensorType;
}

export interface VisionShape {
  width: number;
  layers: number;
  ff: number;
  heads: number;
  mergerFf: number;
  projectorFf: number;
  insertLayer: number;
  matrixType: TensorType;
}

export const TINY_LLM: LlmShape = {
  embd: 64,
  layers: 4,
  ff: 128,
  heads: 4,
  headsKv: 2,
  headDim: 32,
  rotDims: 8,
  ropeSections: [2, 1, 1, 0],
  ropeBase: 1e7,
  ctx: 4096,
  ssmState: 16,
  ssmGroups: 2,
  ssmHeads: 2,
  convKernel: 4,
  tiedOutput: false, // a tied head makes a random model repeat one token
  matrixType: TensorType.F32,
  embeddingType: TensorType.Q8_0,
  fileType: 0,
  ssmGateType: TensorType.F32,
};

/**
 * TINY_LLM's architecture with every row length a multiple of 256, so the matrices can take the
 * K-quant types of a Q4_K_M file and the wasm SIMD kernels for Q4_K, Q6_K and Q8_0 all run: Q4_K
 * matrices, Q6_K for embeddings, output and (Q4_K_M's mix) attn_v/ffn_down of layers 2 and 3,
 * Q8_0 for ssm_alpha/ssm_beta (llama-quant would make them Q4_K; the real-shape file keeps them
 * F32; Q8_0 here so its kernels run on the LLM path too).
 */
export const TINY_Q4K_LLM: LlmShape = {
  embd: 256,
  layers: 4,
  ff: 512,
  heads: 4,
  headsKv: 2,
  headDim: 64,
  rotDims: 16,
  ropeSections: [3, 3, 2, 0],
  ropeBase: 1e7,
  ctx: 4096,
  ssmState: 32,
  ssmGroups: 8,
  ssmHeads: 8,
  convKernel: 4,
  tiedOutput: false,
  matrixType: TensorType.Q4_K,
  embeddingType: TensorType.Q6_K,
  fileType: 15,
  ssmGateType: TensorType.Q8_0,
  moreBitsType: TensorType.Q6_K,
};

/** Qwen3.5-0.8B dimensions (docs/gguf.md, "Real dimensions"), Q4_K matrices, Q6_K embeddings (~Q4_K_M size). */
export const REAL_LLM: LlmShape = {
  embd: 1024,
  layers: 24,
  ff: 3584,
  heads: 8,
  headsKv: 2,
  headDim: 256,
  rotDims: 64,
  ropeSections: [11, 11, 10, 0],
  ropeBase: 1e7,
  ctx: 262144,
  ssmState: 128,
  ssmGroups: 16,
  ssmHeads: 16,
  convKernel: 4,
  vocab: 248320,
  tiedOutput: true,
  matrixType: TensorType.Q4_K,
  embeddingType: TensorType.Q6_K,
  fileType: 15,
  ssmGateType: TensorType.F32,
};

export const TINY_VISION: VisionShape = {
  width: 64,
  layers: 3,
  ff: 96,
  heads: 4,
  mergerFf: 128,
  projectorFf: 128,
  insertLayer: 1,
  matrixType: TensorType.F32,
};

/** SigLIP2-400M (so400m-14-980): 1152 wide, 27 layers, FFN 4304; F16 as converted upstream. */
export const REAL_VISION: VisionShape = {
  width: 1152,
  layers: 27,
  ff: 4304,
  heads: 16,
  mergerFf: 4608,
  projectorFf: 4608,
  insertLayer: 6,
  matrixType: TensorType.F16,
};

export type DownsampleMode = "16x" | "4x";

export interface GenerateOptions {
  outDir: string;
  realShape?: boolean;
  /** tiny dimensions with Q4_K_M-style quantized LLM matrices (TINY_Q4K_LLM); files `tiny-q4k-*` */
  quantized?: boolean;
  /** write the LLM as a split set of this many shards */
  shards?: number;
  /** mmproj compression mode written into the file; 4x drops the vit_merger tensors */
  mode?: DownsampleMode;
  seed?: number;
  /** ggml-vocab-qwen35.gguf from the pinned llama.cpp source */
  vocab: ByteSource;
  createSink: (path: string) => Promise<ByteSink>;
}

export interface GeneratedPair {
  llm: string[];
  mmproj: string;
}

const u32 = (key: string, value: number): KV => ({ key, type: ValueType.UINT32, value });
const f32 = (key: string, value: number): KV => ({ key, type: ValueType.FLOAT32, value });
const str = (key: string, value: string): KV => ({ key, type: ValueType.STRING, value });
const bool = (key: string, value: boolean): KV => ({ key, type: ValueType.BOOL, value });
const arr = (key: string, itemType: ValueType, value: number[]): KV => ({
  key,
  type: ValueType.ARRAY,
  itemType,
  value,
});

/** Per-tensor random streams, so dropping a tensor does not change the others' values. */
function tensor(seed: number, name: string, shape: number[], type: TensorType, init: Init): TensorData {
  let h = seed | 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  const count = shape.reduce((a, b) => a * b, 1);
  return { name, shape, type, chunks: () => tensorChunks(type, count, init, new Rng(h)) };
}

const normal = (fanIn: number): Init => ({ kind: "normal", std: 1 / Math.sqrt(fanIn) });
const norm: Init = { kind: "normal", std: 0.05, mean: 1 };
const bias: Init = { kind: "normal", std: 0.02 };

/** llama-quant.cpp's use_more_bits: the first and last eighth of the layers and every third between. */
function useMoreBits(i: number, n: number): boolean {
  const eighth = Math.floor(n / 8);
  return i < eighth || i >= Math.floor(7 * n / 8) || (i - eighth) % 3 === 2;
}

export function llmTensors(s: LlmShape, nVocab: number, seed: number): TensorData[] {
  const t = (name: string, shape: number[], type: TensorType, init: Init) => tensor(seed, name, shape, type, init);
  const F32 = TensorType.F32;
  const M = s.matrixType;
  const attnLayers = Array.from({ length: s.layers }, (_, i) => i).filter((i) => (i + 1) % 4 === 0);
  const more = (i: number, n: number) => (s.moreBitsType !== undefined && useMoreBits(i, n) ? s.moreBitsType : M);
  const out: TensorData[] = [
    t("token_embd.weight", [s.embd, nVocab], s.embeddingType, { kind: "normal", std: 1 }),
    t("output_norm.weight", [s.embd], F32, norm),
  ];
  if (!s.tiedOutput) out.push(t("output.weight", [s.embd, nVocab], s.embeddingType, normal(s.embd)));
  const convDim = 2 * s.ssmState * s.ssmGroups + s.ssmState * s.ssmHeads;
  for (let i = 0; i < s.layers; i++) {
    const b = `blk.${i}.`;
    out.push(t(b + "attn_norm.weight", [s.embd], F32, norm));
    if ((i + 1) % 4 === 0) {
      out.push(
        t(b + "attn_q.weight", [s.embd, 2 * s.heads * s.headDim], M, normal(s.embd)),
        t(b + "attn_k.weight", [s.embd, s.headsKv * s.headDim], M, normal(s.embd)),
        t(
          b + "attn_v.weight",
          [s.embd, s.headsKv * s.headDim],
          more(attnLayers.indexOf(i), attnLayers.length),
          normal(s.embd),
        ),
        t(b + "attn_output.weight", [s.heads * s.headDim, s.embd], M, normal(s.heads * s.headDim)),
        t(b + "attn_q_norm.weight", [s.headDim], F32, norm),
        t(b + "attn_k_norm.weight", [s.headDim], F32, norm),
      );
    } else {
      const inner = s.ssmState * s.ssmHeads;
      out.push(
        t(b + "attn_qkv.weight", [s.embd, convDim], M, normal(s.embd)),
        t(b + "attn_gate.weight", [s.embd, inner], M, normal(s.embd)),
        t(b + "ssm_conv1d.weight", [s.convKernel, convDim], F32, normal(s.convKernel)),
        t(b + "ssm_dt.bias", [s.ssmHeads], F32, bias),
        t(b + "ssm_a", [s.ssmHeads], F32, { kind: "normal", std: 0.2, mean: -1 }),
        t(b + "ssm_beta.weight", [s.embd, s.ssmHeads], s.ssmGateType, normal(s.embd)),
        t(b + "ssm_alpha.weight", [s.embd, s.ssmHeads], s.ssmGateType, normal(s.embd)),
        t(b + "ssm_norm.weight", [s.ssmState], F32, norm),
        t(b + "ssm_out.weight", [inner, s.embd], M, normal(inner)),
      );
    }
    out.push(
      t(b + "post_attention_norm.weight", [s.embd], F32, norm),
      t(b + "ffn_gate.weight", [s.embd, s.ff], M, normal(s.embd)),
      t(b + "ffn_up.weight", [s.embd, s.ff], M, normal(s.embd)),
      t(b + "ffn_down.weight", [s.ff, s.embd], more(i, s.layers), normal(s.ff)),
    );
  }
  return out;
}

export function llmMetadata(s: LlmShape, name: string): KV[] {
  const a = "qwen35.";
  return [
    str("general.architecture", "qwen35"),
    str("general.name", name),
    u32("general.file_type", s.fileType),
    u32(a + "context_length", s.ctx),
    u32(a + "embedding_length", s.embd),
    u32(a + "block_count", s.layers),
    u32(a + "feed_forward_length", s.ff),
    u32(a + "attention.head_count", s.heads),
    u32(a + "attention.head_count_kv", s.headsKv),
    u32(a + "attention.key_length", s.headDim),
    u32(a + "attention.value_length", s.headDim),
    u32(a + "rope.dimension_count", s.rotDims),
    arr(a + "rope.dimension_sections", ValueType.INT32, s.ropeSections),
    f32(a + "rope.freq_base", s.ropeBase),
    f32(a + "attention.layer_norm_rms_epsilon", 1e-6),
    u32(a + "ssm.conv_kernel", s.convKernel),
    u32(a + "ssm.state_size", s.ssmState),
    u32(a + "ssm.group_count", s.ssmGroups),
    u32(a + "ssm.time_step_rank", s.ssmHeads),
    u32(a + "ssm.inner_size", s.ssmState * s.ssmHeads),
    u32(a + "full_attention_interval", 4),
  ];
}

export function visionTensors(v: VisionShape, textEmbd: number, mode: DownsampleMode, seed: number): TensorData[] {
  const t = (name: string, shape: number[], type: TensorType, init: Init) => tensor(seed, name, shape, type, init);
  const F32 = TensorType.F32;
  const M = v.matrixType;
  const W = v.width;
  const linear = (name: string, inp: number, out: number) => [
    t(name + ".weight", [inp, out], M, normal(inp)),
    t(name + ".bias", [out], F32, bias),
  ];
  const layerNorm = (
    name: string,
    n: number,
  ) => [t(name + ".weight", [n], F32, norm), t(name + ".bias", [n], F32, bias)];
  const out: TensorData[] = [
    t("v.patch_embd.weight", [14, 14, 3, W], M, normal(14 * 14 * 3)),
    t("v.patch_embd.bias", [W], F32, bias),
    t("v.position_embd.weight", [W, 4900], F32, { kind: "normal", std: 0.1 }),
  ];
  for (let i = 0; i < v.layers; i++) {
    const b = `v.blk.${i}.`;
    out.push(
      ...layerNorm(b + "ln1", W),
      ...linear(b + "attn_q", W, W),
      ...linear(b + "attn_k", W, W),
      ...linear(b + "attn_v", W, W),
      ...linear(b + "attn_out", W, W),
      ...layerNorm(b + "ln2", W),
      ...linear(b + "ffn_up", W, v.ff),
      ...linear(b + "ffn_down", v.ff, W),
    );
  }
  out.push(...layerNorm("v.post_ln", W));
  if (mode === "16x") {
    out.push(
      ...layerNorm("v.vit_merger.ln1", W),
      ...linear("v.vit_merger.attn_q", W, W),
      ...linear("v.vit_merger.attn_k", W, W),
      ...linear("v.vit_merger.attn_v", W, W),
      ...linear("v.vit_merger.attn_out", W, W),
      ...layerNorm("v.vit_merger.ds_ln", 4 * W),
      ...linear("v.vit_merger.ds_ffn_up", 4 * W, v.mergerFf),
      ...linear("v.vit_merger.ds_ffn_down", v.mergerFf, W),
    );
  }
  out.push(
    ...layerNorm("mm.input_norm", 4 * W),
    ...linear("mm.up", 4 * W, v.projectorFf),
    ...linear("mm.down", v.projectorFf, textEmbd),
  );
  return out;
}

export function visionMetadata(v: VisionShape, textEmbd: number, mode: DownsampleMode, name: string): KV[] {
  const c = "clip.vision.";
  return [
    str("general.architecture", "clip"),
    str("general.name", name),
    u32("general.file_type", v.matrixType === TensorType.F16 ? 1 : 0),
    str("clip.projector_type", "minicpmv4_6"),
    bool("clip.has_vision_encoder", true),
    bool("clip.use_gelu", true),
    u32(c + "embedding_length", v.width),
    u32(c + "feed_forward_length", v.ff),
    u32(c + "block_count", v.layers),
    u32(c + "attention.head_count", v.heads),
    f32(c + "attention.layer_norm_epsilon", 1e-6),
    u32(c + "projection_dim", textEmbd),
    u32(c + "image_size", 448),
    u32(c + "patch_size", 14),
    arr(c + "image_mean", ValueType.FLOAT32, [0.5, 0.5, 0.5]),
    arr(c + "image_std", ValueType.FLOAT32, [0.5, 0.5, 0.5]),
    u32(c + "projector.scale_factor", mode === "16x" ? 4 : 2),
    arr(c + "wa_layer_indexes", ValueType.INT32, [v.insertLayer]),
  ];
}

/** Splits tensors into `n` contiguous groups of near-equal count, in gguf-split's shard layout. */
export function shardKvs(kvs: KV[], shardTensorCounts: number[]): KV[][] {
  const total = shardTensorCounts.reduce((a, b) => a + b, 0);
  const split = (no: number): KV[] => [
    { key: "split.no", type: ValueType.UINT16, value: no },
    { key: "split.count", type: ValueType.UINT16, value: shardTensorCounts.length },
    { key: "split.tensors.count", type: ValueType.INT32, value: total },
  ];
  return shardTensorCounts.map((_, i) => (i === 0 ? [...kvs, ...split(0)] : split(i)));
}

export async function generatePair(o: GenerateOptions): Promise<GeneratedPair> {
  const seed = o.seed ?? 42;
  const mode = o.mode ?? "16x";
  const llmShape = o.realShape ? REAL_LLM : o.quantized ? TINY_Q4K_LLM : TINY_LLM;
  const visionShape = o.realShape ? REAL_VISION : TINY_VISION;
  const prefix = o.realShape ? "real-shape" : o.quantized ? "tiny-q4k" : "tiny";
  const vocab = await buildVocab(o.vocab, llmShape.vocab);

  const kvs = [
    ...llmMetadata(llmShape, `minicpmv-edge ${prefix} MiniCPM-V-4.6 LLM`),
    ...vocab.kvs,
    str("tokenizer.chat_template", CHAT_TEMPLATE),
  ];
  const tensors = llmTensors(llmShape, vocab.size, seed);
  const shards = Math.max(1, o.shards ?? 1);
  const llmName = `${prefix}-llm`;
  const llm: string[] = [];
  if (shards === 1) {
    const path = `${o.outDir}/${llmName}.gguf`;
    await writeGguf(await o.createSink(path), kvs, tensors);
    llm.push(path);
  } else {
    const per = Math.ceil(tensors.length / shards);
    const groups = Array.from({ length: shards }, (_, i) => tensors.slice(i * per, (i + 1) * per));
    const shardMeta = shardKvs(kvs, groups.map((g) => g.length));
    for (let i = 0; i < shards; i++) {
      const path = `${o.outDir}/${splitFileName(llmName, i, shards)}`;
      await writeGguf(await o.createSink(path), shardMeta[i], groups[i]);
      llm.push(path);
    }
  }

  const mmproj = `${o.outDir}/${prefix}-mmproj-${mode}.gguf`;
  await writeGguf(
    await o.createSink(mmproj),
    visionMetadata(visionShape, llmShape.embd, mode, `minicpmv-edge ${prefix} MiniCPM-V-4.6 mmproj ${mode}`),
    visionTensors(visionShape, llmShape.embd, mode, seed + 1),
  );
  return { llm, mmproj };
}
