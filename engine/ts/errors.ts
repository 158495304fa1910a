/** Typed errors. Each names what failed so callers (CLI, HTTP) can report it plainly. */

export type GgufErrorCode =
  | "not_gguf"
  | "truncated"
  | "unsupported_version"
  | "wrong_architecture"
  | "bad_metadata"
  | "split_missing"
  | "split_duplicate"
  | "split_mismatch";

/** A model file that cannot be used, found before any byte reaches the engine. */
export class GgufError extends Error {
  override name = "GgufError";
  constructor(readonly code: GgufErrorCode, readonly file: string, message: string) {
    super(`${file}: ${message}`);
  }
}

/** The engine refused or failed an operation (bad model data, out of memory, bad grammar...). */
export class EngineError extends Error {
  override name = "EngineError";
  constructor(message: string, readonly code = "engine_error") {
    super(message);
  }
}

/** A caller asked for something the engine cannot do with the given arguments. */
export class InvalidRequestError extends Error {
  override name = "InvalidRequestError";
  constructor(message: string, readonly param?: string) {
    super(message);
  }
}

/** The operation was cancelled through its AbortSignal. */
export class AbortError extends Error {
  override name = "AbortError";
  constructor(message = "aborted") {
    super(message);
  }
}

export type ModelFetchErrorCode =
  | "bad_reference"
  | "not_found"
  | "http_error"
  | "network"
  | "checksum_mismatch"
  | "size_mismatch"
  | "wrong_content"
  | "not_cached";

/** A model reference that could not be resolved or downloaded; says what was tried. */
export class ModelFetchError extends Error {
  override name = "ModelFetchError";
  constructor(readonly code: ModelFetchErrorCode, message: string, readonly url?: string) {
    super(message);
  }
}

export type VideoDecodeErrorCode =
  | "not_a_video"
  | "no_video_stream"
  | "unsupported_codec"
  | "truncated"
  | "empty"
  | "bad_metadata"
  | "too_large"
  | "too_long"
  | "too_many_frames"
  | "decode_failed"
  | "decoder_crashed"
  | "out_of_memory";

/** A video that cannot be decoded (engine/ts/video/decoder.ts); the code says why, the message what. */
export class VideoDecodeError extends Error {
  override name = "VideoDecodeError";
  constructor(readonly code: VideoDecodeErrorCode, message: string) {
    super(message);
  }
}

/** Model + mmproj + context would not fit the 4 GB WebAssembly address space. */
export class MemoryBudgetError extends Error {
  override name = "MemoryBudgetError";
  readonly code = "memory_budget";
  constructor(message: string, readonly requiredBytes: number, readonly limitBytes: number) {
    super(message);
  }
}
