/** HTTP errors with OpenAI-style bodies, and the mapping from engine errors to them. */

import {
  AbortError,
  EngineError,
  GgufError,
  InvalidRequestError,
  MemoryBudgetError,
  ModelFetchError,
  VideoDecodeError,
} from "../engine/ts/errors.ts";

export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "not_found_error"
  | "rate_limit_error"
  | "server_error";

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ErrorType = "invalid_request_error",
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  /** `{"error": {"message", "type", "param", "code"}}`, as the OpenAI API answers. */
  body() {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** Any error thrown while serving a request, as the HttpError to answer with. */
export function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof InvalidRequestError) return new HttpError(400, e.message, "invalid_request_error", e.param ?? null);
  if (e instanceof GgufError) return new HttpError(400, e.message, "invalid_request_error", null, e.code);
  // a video the decoder cannot take, or that crashes it (its worker is replaced), is the request's
  if (e instanceof VideoDecodeError) return new HttpError(400, e.message, "invalid_request_error", "video", e.code);
  // the model could not be fetched or does not fit: the server cannot serve (and says why)
  if (e instanceof ModelFetchError || e instanceof MemoryBudgetError) {
    return new HttpError(503, e.message, "server_error", null, e.code);
  }
  if (e instanceof AbortError) {
    return new HttpError(499, "the request was cancelled", "invalid_request_error", null, "cancelled");
  }
  if (e instanceof EngineError) {
    if (e.code === "invalid_grammar") return new HttpError(400, e.message, "invalid_request_error", "grammar", e.code);
    if (e.code === "engine_crashed") {
      return new HttpError(503, e.message, "server_error", null, e.code, { "retry-after": "5" });
    }
    return new HttpError(500, e.message, "server_error", null, e.code);
  }
  return new HttpError(500, `internal error: ${(e as Error)?.message ?? String(e)}`, "server_error");
}
