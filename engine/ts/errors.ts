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

/**
 * The engine crashed (a trap inside wasm, or its worker died); its model, contexts and KV are gone.
 * `rerunnable` says whether the work this error ended may run again on a new engine: true for calls
 * that were only queued behind the crashing one or made after it (they did not cause the crash and
 * had not run), false for the call that was running when it crashed, and for requests that were
 * generating on the engine (the scheduler marks those, see `crashOfRunningRequest`).
 */
export class EngineCrashError extends EngineError {
  constructor(message: string, readonly rerunnable: boolean) {
    super(message, "engine_crashed");
  }
}

/** The error of a crash as a request that was running on the engine sees it: not rerunnable. */
export function crashOfRunningRequest(e: Error): Error {
  return e instanceof EngineCrashError && e.rerunnable ? new EngineCrashError(e.message, false) : e;
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

/** Throws AbortError when `signal` was aborted: a check between the steps of cancellable work. */
export function throwIfAborted(signal: AbortSignal | undefined, message = "the request was cancelled"): void {
  if (signal?.aborted) throw new AbortError(message);
}

/**
 * `promise`, or an AbortError as soon as `signal` aborts: the caller stops waiting for work it
 * cannot interrupt (a media worker's decode, an engine call) and drops the result when it comes.
 */
export function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => {});
    return Promise.reject(new AbortError("the request was cancelled"));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortError("the request was cancelled"));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
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
