/** toHttpError: every engine error as the status, type, param and code clients see; HttpError's OpenAI body. */

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  AbortError,
  EngineError,
  GgufError,
  InvalidRequestError,
  MemoryBudgetError,
  ModelFetchError,
  VideoDecodeError,
} from "../../engine/ts/errors.ts";
import { HttpError, toHttpError } from "../../routes/errors.ts";

/** [status, type, param, code, headers] of the mapped error, and its message. */
const mapped = (e: unknown) => {
  const h = toHttpError(e);
  return { status: h.status, type: h.type, param: h.param, code: h.code, headers: h.headers, message: h.message };
};

test("an HttpError is answered as it is", () => {
  const h = new HttpError(429, "busy", "rate_limit_error", null, "server_busy", { "retry-after": "1" });
  assert.equal(toHttpError(h), h);
});

test("bad requests and bad model files are 400s naming the parameter or the file's problem", () => {
  assert.deepEqual(mapped(new InvalidRequestError("temperature must be a number", "temperature")), {
    status: 400,
    type: "invalid_request_error",
    param: "temperature",
    code: null,
    headers: {},
    message: "temperature must be a number",
  });
  assert.equal(mapped(new InvalidRequestError("no param")).param, null);
  assert.deepEqual(mapped(new GgufError("not_gguf", "/m.gguf", "not a GGUF file")), {
    status: 400,
    type: "invalid_request_error",
    param: null,
    code: "not_gguf",
    headers: {},
    message: "/m.gguf: not a GGUF file",
  });
});

test("a model that cannot be fetched or does not fit: 503, the server cannot serve", () => {
  assert.deepEqual(mapped(new ModelFetchError("network", "cannot reach the hub")), {
    status: 503,
    type: "server_error",
    param: null,
    code: "network",
    headers: {},
    message: "cannot reach the hub",
  });
  const budget = mapped(new MemoryBudgetError("does not fit", 5e9, 4e9));
  assert.deepEqual([budget.status, budget.type, budget.code], [503, "server_error", "memory_budget"]);
});

test("a cancelled request is 499 'cancelled'", () => {
  assert.deepEqual(mapped(new AbortError()), {
    status: 499,
    type: "invalid_request_error",
    param: null,
    code: "cancelled",
    headers: {},
    message: "the request was cancelled",
  });
});

test("engine errors: a bad grammar is the client's (400), a crash is retryable (503), the rest 500", () => {
  assert.deepEqual(mapped(new EngineError("grammar parse error", "invalid_grammar")), {
    status: 400,
    type: "invalid_request_error",
    param: "grammar",
    code: "invalid_grammar",
    headers: {},
    message: "grammar parse error",
  });
  assert.deepEqual(mapped(new EngineError("engine crashed", "engine_crashed")), {
    status: 503,
    type: "server_error",
    param: null,
    code: "engine_crashed",
    headers: { "retry-after": "5" },
    message: "engine crashed",
  });
  assert.deepEqual(mapped(new EngineError("out of memory")), {
    status: 500,
    type: "server_error",
    param: null,
    code: "engine_error",
    headers: {},
    message: "out of memory",
  });
});

test("anything else is a 500 'internal error' with its message", () => {
  assert.equal(mapped(new TypeError("x is undefined")).message, "internal error: x is undefined");
  assert.equal(mapped("a thrown string").message, "internal error: a thrown string");
  assert.equal(mapped(null).message, "internal error: null");
  const u = mapped(undefined);
  assert.deepEqual([u.status, u.type, u.code, u.message], [500, "server_error", null, "internal error: undefined"]);
});

test("the OpenAI error body, field order included", () => {
  const h = new HttpError(404, "no such model", "not_found_error", "model", "model_not_found");
  assert.equal(
    JSON.stringify(h.body()),
    '{"error":{"message":"no such model","type":"not_found_error","param":"model","code":"model_not_found"}}',
  );
  assert.equal(
    JSON.stringify(new HttpError(400, "bad").body()),
    '{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}}',
    "defaults",
  );
});

test("a video the decoder refuses is a 400 naming the reason", () => {
  assert.deepEqual(mapped(new VideoDecodeError("unsupported_codec", "unsupported codec mpeg4")), {
    status: 400,
    type: "invalid_request_error",
    param: "video",
    code: "unsupported_codec",
    headers: {},
    message: "unsupported codec mpeg4",
  });
});
