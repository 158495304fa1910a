/**
 * The official MiniCPM-V 4.6 GGUF pair that `serve` and `pull` fetch when no model is named.
 * The model file is named as the model card's own command names it (`MiniCPM-V-4.6-Q4_K_M.gguf`); neither
 * name can be checked offline, so if one is missing the resolver falls back to picking by quantization and
 * "mmproj" from the repository listing.
 */

export const DEFAULT_REPO = "openbmb/MiniCPM-V-4.6-gguf";
export const DEFAULT_QUANT = "Q4_K_M";

export const DEFAULT_MODEL = {
  /** the Qwen3.5-0.8B language model, Q4_K_M */
  model: `hf:${DEFAULT_REPO}/MiniCPM-V-4.6-Q4_K_M.gguf`,
  /** the SigLIP2 vision encoder + merger (F16) */
  mmproj: `hf:${DEFAULT_REPO}/mmproj-MiniCPM-V-4_6-F16.gguf`,
} as const;

/** Known sizes/hashes of manifest files (checked after download when present). */
export const KNOWN_FILES: Record<string, { size?: number; sha256?: string }> = {};
