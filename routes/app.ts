/**
 * The Hono app: OpenAI- and Ollama-compatible APIs plus operations routes, with CORS, an
 * optional API key, a body deadline and size limit, and OpenAI-style errors. Runtime-neutral: serve it with
 * any fetch-style server (see cli/serve.ts).
 */

import { type Context, Hono, type MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { cors } from "hono/cors";
import { apiKeyCheck } from "./auth.ts";
import { requestBodyDeadline } from "./body.ts";
import { HttpError, toHttpError } from "./errors.ts";
import { IdleUnloader } from "./idle.ts";
import { llamaServerRoutes } from "./llama-server.ts";
import { modelFilesRoutes, type ServedModelFiles } from "./model-files.ts";
import { ollamaModelRoutes } from "./ollama-models.ts";
import { ollamaRoutes } from "./ollama.ts";
import { openaiRoutes } from "./openai.ts";
import { opsRoutes } from "./ops.ts";
import type { ModelService } from "./service.ts";
import { uiRoutes } from "./ui.ts";

export interface AppOptions {
  /** Bearer key required on every route but /health */
  apiKey?: string;
  /** allowed CORS origins ("*" for any); no CORS headers when empty */
  corsOrigins?: string[];
  /** largest request body, bytes */
  maxBodyBytes: number;
  /** a request body must arrive within this many ms (else 408); no limit when absent or 0 */
  requestTimeoutMs?: number;
  /** the web chat page at / and /ui (routes/ui.ts) */
  ui?: boolean;
  /** model files served read-only under /files/ (routes/model-files.ts) */
  modelFiles?: ServedModelFiles;
  /** unload the model after this long without requests (Ollama's keep_alive default); Infinity or absent: never */
  sleepIdleMs?: number;
}

const KNOWN_ROUTES = new Set([
  "/v1/chat/completions",
  "/v1/completions",
  "/v1/models",
  "/api/chat",
  "/api/generate",
  "/api/tags",
  "/api/show",
  "/api/version",
  "/api/ps",
  "/api/pull",
  "/api/delete",
  "/completion",
  "/completions",
  "/props",
  "/slots",
  "/health",
  "/v1/health",
  "/livez",
  "/metrics",
  "/tokenize",
  "/detokenize",
]);

export function createApp(service: ModelService, o: AppOptions): Hono {
  const app = new Hono();

  app.use("*", async (c, next) => {
    await next();
    const path = KNOWN_ROUTES.has(c.req.path) ? c.req.path : "other";
    service.metrics.count(path, c.res.status);
  });
  app.use("*", drainGate(service));
  if (o.corsOrigins?.length) {
    const any = o.corsOrigins.includes("*");
    app.use(
      "*",
      cors({
        origin: any ? "*" : o.corsOrigins,
        allowHeaders: ["Authorization", "Content-Type", "X-Stainless-Retry-Count", "X-Stainless-Timeout"],
        allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
        maxAge: 600,
      }),
    );
  }
  if (o.ui) app.route("/", uiRoutes()); // before the key check: the page asks for the key itself
  if (o.apiKey) app.use("*", apiKeyCheck(o.apiKey));
  if (o.requestTimeoutMs) app.use("*", requestBodyDeadline(o.requestTimeoutMs));
  app.use(
    "*",
    bodyLimit({
      maxSize: o.maxBodyBytes,
      onError: () => {
        throw new HttpError(
          413,
          `the request body exceeds ${o.maxBodyBytes} bytes`,
          "invalid_request_error",
          null,
          "body_too_large",
        );
      },
    }),
  );

  app.route("/", opsRoutes(service));
  app.route("/", openaiRoutes(service));
  const idle = new IdleUnloader(service, o.sleepIdleMs || Infinity);
  app.route("/", ollamaRoutes(service, idle));
  app.route("/", ollamaModelRoutes(service));
  app.route("/", llamaServerRoutes(service));
  if (o.modelFiles) app.route("/", modelFilesRoutes(o.modelFiles));

  app.notFound((c) =>
    errorResponse(c, new HttpError(404, `no route ${c.req.method} ${c.req.path}`, "not_found_error", null, "not_found"))
  );
  app.onError((e, c) => errorResponse(c, toHttpError(e)));
  return app;
}

/** Probes and metrics still answer while draining. */
const OPEN_WHILE_DRAINING = new Set(["/livez", "/health", "/v1/health", "/metrics"]);

/**
 * While the server drains (SIGTERM, cli/serve.ts) a new request gets 503 and `Connection: close`,
 * which a load balancer retries on another replica; admitted ones run to their end.
 */
function drainGate(service: ModelService): MiddlewareHandler {
  return async (c, next) => {
    if (!service.draining || OPEN_WHILE_DRAINING.has(c.req.path)) return await next();
    const message = "the server is shutting down; retry on another replica";
    throw new HttpError(503, message, "server_error", null, "draining", { connection: "close", "retry-after": "1" });
  };
}

function errorResponse(c: Context, h: HttpError): Response {
  for (const [k, v] of Object.entries(h.headers)) c.header(k, v);
  // Ollama clients read {"error": "message"}; OpenAI clients {"error": {"message", ...}}
  if (c.req.path.startsWith("/api/")) return c.json({ error: h.message }, h.status as 400);
  return c.json(h.body(), h.status as 400);
}
