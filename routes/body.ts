/**
 * Request bodies: a deadline for receiving them (a client that stalls mid-body gets a 408 and its
 * connection closed, instead of holding it forever), JSON parsing and schema validation with
 * OpenAI-style 400 errors.
 */

import type { Context, MiddlewareHandler } from "hono";
import { z } from "zod";
import { HttpError } from "./errors.ts";
import { REQUEST_LIMITS } from "./limits.ts";

/**
 * Middleware: the request body must arrive completely within `timeoutMs` of the request reaching
 * the app, else reading it fails with a 408 (`request_timeout`, `Connection: close`). Runs before
 * the body limit, which reads chunked bodies itself. Only the receiving is timed: once the body is
 * in, computing and streaming the response take as long as they take.
 */
export function requestBodyDeadline(timeoutMs: number): MiddlewareHandler {
  return async (c, next) => {
    const source = c.req.raw.body;
    if (!source) return await next();
    const timeout = new HttpError(
      408,
      `the request body did not arrive within ${timeoutMs / 1000} s`,
      "invalid_request_error",
      null,
      "request_timeout",
      { connection: "close" },
    );
    const reader = source.getReader();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        timer = setTimeout(() => {
          controller.error(timeout);
          // the source is cancelled only once the 408 has had time to go out (on Node.js cancelling
          // destroys the socket at once); Deno's server would otherwise keep waiting for the body
          setTimeout(() => reader.cancel(timeout).catch(() => {}), 500);
        }, timeoutMs);
      },
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            clearTimeout(timer);
            controller.close();
          } else controller.enqueue(value);
        } catch (e) {
          clearTimeout(timer);
          try {
            controller.error(e);
          } catch { /* already errored by the deadline */ }
        }
      },
      cancel(reason) {
        clearTimeout(timer);
        return reader.cancel(reason);
      },
    });
    c.req.raw = new Request(c.req.raw, { body, duplex: "half" } as RequestInit);
    try {
      await next();
    } finally {
      clearTimeout(timer);
    }
  };
}

/** The whole body as text; a deadline's 408 passes through, any other failure to read is a 400. */
async function bodyText(c: Context): Promise<string> {
  try {
    return await c.req.text();
  } catch (e) {
    if (e instanceof HttpError) throw e;
    throw new HttpError(400, `the request body could not be read: ${(e as Error)?.message ?? String(e)}`);
  }
}

/** Parses the JSON body against `schema`; a malformed or invalid body is a 400 naming the field. */
export async function readBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const text = await bodyText(c);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `the request body is not valid JSON: ${(e as Error).message}`);
  }
  if (raw !== null && typeof raw === "object") checkBodyDepth(raw);
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const param = issue.path.map(String).join(".") || null;
  if (issue.code === "unrecognized_keys") {
    const keys = (issue as { keys: string[] }).keys;
    const where = param ? ` in '${param}'` : "";
    throw new HttpError(
      400,
      `Unrecognized request argument supplied${where}: ${keys.join(", ")}`,
      "invalid_request_error",
      [param, keys[0]].filter(Boolean).join("."),
    );
  }
  throw new HttpError(400, `Invalid value for '${param ?? "body"}': ${issue.message}`, "invalid_request_error", param);
}

/**
 * JSON schemas in a body (OpenAI `response_format`, Ollama `format`, tool `parameters`): their depth
 * is checked with the schema's other limits (engine/ts/chat/schema-limits.ts), whose errors say more.
 */
const SCHEMA_FIELDS = /^(response_format\.json_schema\.schema|format|tools\.\d+\.function\.parameters)$/;

/**
 * Refuses a body nested deeper than any field may be (maxJsonDepth levels inside a field, plus the
 * request's own fields around it), JSON schemas aside: every later walk of the body (validation,
 * templates, JSON.stringify) may recurse, and a 10,000-deep value would overflow the stack as a 500.
 * Iterative, so the check itself cannot overflow.
 */
function checkBodyDepth(raw: unknown) {
  const { maxJsonDepth } = REQUEST_LIMITS.schema;
  const limit = maxJsonDepth + REQUEST_LIMITS.bodyEnvelopeDepth;
  // paths are tracked only as deep as a schema field can sit
  const stack: [unknown, number, string][] = [[raw, 1, ""]];
  while (stack.length) {
    const [v, depth, path] = stack.pop()!;
    if (depth > limit) {
      const field = path.split(".").slice(0, 3).join(".");
      throw new HttpError(
        400,
        `'${field}' nests JSON more than ${limit} levels deep; the limit (maxJsonDepth) is ${maxJsonDepth} ` +
          `levels inside a field, plus ${REQUEST_LIMITS.bodyEnvelopeDepth} for the request's own fields`,
        "invalid_request_error",
        field || null,
      );
    }
    for (const [k, child] of Object.entries(v as object)) {
      if (child === null || typeof child !== "object") continue;
      const at = depth <= 4 ? (path ? `${path}.${k}` : k) : path;
      if (depth <= 4 && SCHEMA_FIELDS.test(at)) continue;
      stack.push([child, depth + 1, at]);
    }
  }
}

export const toolSchema = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string().min(1).max(256),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullish(),
  }),
});
