/** Request bodies: JSON parsing and schema validation with OpenAI-style 400 errors. */

import type { Context } from "hono";
import { z } from "zod";
import { HttpError } from "./errors.ts";

/** Parses the JSON body against `schema`; a malformed or invalid body is a 400 naming the field. */
export async function readBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await c.req.text());
  } catch (e) {
    throw new HttpError(400, `the request body is not valid JSON: ${(e as Error).message}`);
  }
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

/** A string or a list of strings (OpenAI `stop`). */
export const stopSchema = z.union([z.string(), z.array(z.string()).max(16)]).nullish()
  .transform((s) => (s == null ? undefined : typeof s === "string" ? [s] : s));

export const toolSchema = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string().min(1).max(256),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullish(),
  }),
});
