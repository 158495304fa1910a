/**
 * The metadata types an mmproj must have for the keys clip.cpp (llama.cpp tools/mtmd) reads
 * with gguf_get_val_*: those getters assert the type, so a mistyped key (e.g. image_size stored
 * as FLOAT32) aborts the whole wasm engine instead of failing the load. Checked in TS before the
 * engine sees the file (found by tests/unit/gguf-fuzz.test.ts and tests/gguf-fuzz-engine.test.ts).
 * Arrays are left out: clip.cpp checks their types itself and fails the load cleanly.
 */

import { ValueType } from "./format.ts";

const U32_KEYS = [
  "clip.vision.image_size",
  "clip.vision.image_min_pixels",
  "clip.vision.image_max_pixels",
  "clip.vision.preproc_min_tiles",
  "clip.vision.preproc_max_tiles",
  "clip.vision.preproc_image_size",
  "clip.vision.patch_size",
  "clip.vision.projector.scale_factor",
  "clip.vision.projector.query_side",
  "clip.vision.projector.window_side",
  "clip.vision.spatial_merge_size",
  "clip.vision.n_wa_pattern",
  "clip.vision.window_size",
  "clip.vision.sam.head_count",
  "clip.vision.sam.block_count",
  "clip.vision.sam.embedding_length",
  "clip.vision.expert_used_count",
  "clip.minicpmv_query_num",
  "clip.audio.num_mel_bins",
  "clip.audio.projector.stack_factor",
  "clip.audio.chunk_size",
  "clip.audio.conv_kernel_size",
  "clip.audio.max_pos_emb",
  "clip.audio.projector.window_size",
  "clip.audio.projector.downsample_rate",
  "clip.audio.projector.head_count",
  "clip.audio.rvq.num_quantizers",
  "clip.audio.window_size",
  "clip.audio.local_block_count",
  "clip.audio.local_group_size",
  "clip.audio.subsampling_factor",
];
/** clip.%s.* read per modality */
const U32_PER_MODALITY = [
  "embedding_length",
  "feed_forward_length",
  "block_count",
  "projection_dim",
  "attention.head_count",
  "attention.head_count_kv",
  "attention.head_dim",
];
const STRING_KEYS = [
  "general.name",
  "general.description",
  "clip.projector_type",
  "clip.vision.projector_type",
  "clip.audio.projector_type",
  "clip.gen.audio.projector_type",
  "clip.gen.audio.model_variant",
  "clip.vision.mm_patch_merge_type",
];
const BOOL_KEYS = [
  "clip.has_audio_encoder",
  "clip.has_vision_encoder",
  "clip.has_gen_audio_encoder",
  "clip.use_gelu",
  "clip.use_silu",
];

export const CLIP_KEY_TYPES: ReadonlyMap<string, ValueType> = new Map<string, ValueType>([
  ...U32_KEYS.map((k) => [k, ValueType.UINT32] as const),
  ...["vision", "audio"].flatMap((m) => U32_PER_MODALITY.map((k) => [`clip.${m}.${k}`, ValueType.UINT32] as const)),
  ...STRING_KEYS.map((k) => [k, ValueType.STRING] as const),
  ...BOOL_KEYS.map((k) => [k, ValueType.BOOL] as const),
  ["clip.vision.attention.layer_norm_epsilon", ValueType.FLOAT32],
  ["clip.audio.attention.layer_norm_epsilon", ValueType.FLOAT32],
  ["clip.minicpmv_version", ValueType.INT32],
]);
