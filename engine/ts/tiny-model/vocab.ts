/**
 * The test models' tokenizer: the real Qwen byte-level BPE from llama.cpp's
 * models/ggml-vocab-qwen35.gguf (pinned source; `qwen35` pre-tokenizer), with its
 * reserved slots filled by the special tokens MiniCPM-V 4.6's pipeline and template use.
 */

import { ValueType } from "../gguf/format.ts";
import type { ByteSource } from "../gguf/reader.ts";
import { readGgufHeader } from "../gguf/reader.ts";
import type { KV } from "../gguf/writer.ts";

// llama.cpp token types
const NORMAL = 1;
const CONTROL = 3;
const USER_DEFINED = 4;
const UNUSED = 5;

/** In Qwen's order from the first reserved id (151643); CONTROL = special, else added text tokens. */
const SPECIALS: [string, number][] = [
  ["<|endoftext|>", CONTROL],
  ["<|im_start|>", CONTROL],
  ["<|im_end|>", CONTROL],
  ["<|object_ref_start|>", CONTROL],
  ["<|object_ref_end|>", CONTROL],
  ["<|box_start|>", CONTROL],
  ["<|box_end|>", CONTROL],
  ["<|quad_start|>", CONTROL],
  ["<|quad_end|>", CONTROL],
  ["<|vision_start|>", CONTROL],
  ["<|vision_end|>", CONTROL],
  ["<|vision_pad|>", CONTROL],
  ["<|image_pad|>", CONTROL],
  ["<|video_pad|>", CONTROL],
  ["<tool_call>", USER_DEFINED],
  ["</tool_call>", USER_DEFINED],
  ["<|fim_prefix|>", CONTROL],
  ["<|fim_middle|>", CONTROL],
  ["<|fim_suffix|>", CONTROL],
  ["<|fim_pad|>", CONTROL],
  ["<|repo_name|>", CONTROL],
  ["<|file_sep|>", CONTROL],
  ["<tool_response>", USER_DEFINED],
  ["</tool_response>", USER_DEFINED],
  ["<think>", USER_DEFINED],
  ["</think>", USER_DEFINED],
  // MiniCPM-V image markup
  ["<image>", USER_DEFINED],
  ["</image>", USER_DEFINED],
  ["<slice>", USER_DEFINED],
  ["</slice>", USER_DEFINED],
  ["<image_id>", USER_DEFINED],
  ["</image_id>", USER_DEFINED],
  ["<ref>", USER_DEFINED],
  ["</ref>", USER_DEFINED],
  ["<box>", USER_DEFINED],
  ["</box>", USER_DEFINED],
];

export interface Vocab {
  kvs: KV[];
  size: number;
  idOf: (text: string) => number;
}

/** Builds the tokenizer metadata; `size` pads the vocabulary (real MiniCPM-V 4.6: 248320). */
export async function buildVocab(source: ByteSource, size?: number): Promise<Vocab> {
  const h = await readGgufHeader(source);
  const tokens = [...(h.metadata.get("tokenizer.ggml.tokens") as string[])];
  const merges = h.metadata.get("tokenizer.ggml.merges") as string[];
  const types = [...(h.metadata.get("tokenizer.ggml.token_type") as number[])];
  const first = tokens.indexOf("<|endoftext|>");
  if (first < 0 || h.metadata.get("tokenizer.ggml.pre") !== "qwen35") {
    throw new Error(`${source.name} is not the Qwen3.5 vocabulary`);
  }
  const total = Math.max(size ?? tokens.length, first + SPECIALS.length);
  for (let i = first; i < total; i++) {
    const s = SPECIALS[i - first];
    tokens[i] = s ? s[0] : `[PAD${i}]`;
    types[i] = s ? s[1] : UNUSED;
  }
  tokens.length = types.length = total;
  for (let i = 0; i < first; i++) types[i] = NORMAL;

  const idOf = (text: string) => {
    const id = tokens.indexOf(text, first);
    if (id < 0) throw new Error(`token ${text} not in vocabulary`);
    return id;
  };
  const kvs: KV[] = [
    { key: "tokenizer.ggml.model", type: ValueType.STRING, value: "gpt2" },
    { key: "tokenizer.ggml.pre", type: ValueType.STRING, value: "qwen35" },
    { key: "tokenizer.ggml.tokens", type: ValueType.ARRAY, itemType: ValueType.STRING, value: tokens },
    { key: "tokenizer.ggml.token_type", type: ValueType.ARRAY, itemType: ValueType.INT32, value: types },
    { key: "tokenizer.ggml.merges", type: ValueType.ARRAY, itemType: ValueType.STRING, value: merges },
    { key: "tokenizer.ggml.eos_token_id", type: ValueType.UINT32, value: idOf("<|im_end|>") },
    { key: "tokenizer.ggml.padding_token_id", type: ValueType.UINT32, value: idOf("<|endoftext|>") },
    { key: "tokenizer.ggml.bos_token_id", type: ValueType.UINT32, value: idOf("<|endoftext|>") },
    { key: "tokenizer.ggml.add_bos_token", type: ValueType.BOOL, value: false },
  ];
  return { kvs, size: total, idOf };
}
