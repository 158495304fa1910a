/** Operations: /health, /v1/health, /livez (routes/health.ts), /metrics (routes/metrics.ts), /tokenize, /detokenize. */

import { type Context, Hono } from "hono";
import { z } from "zod";
import { readBody } from "./body.ts";
import { healthOf } from "./health.ts";
import { limitedArray, promptString, REQUEST_LIMITS } from "./limits.ts";
import { renderMetrics } from "./metrics.ts";
import type { ModelService } from "./service.ts";

export function opsRoutes(service: ModelService): Hono {
  const app = new Hono();

  const health = (c: Context) => {
    const h = healthOf(service);
    return c.json(h, h.status === "ok" ? 200 : 503);
  };
  app.get("/health", health);
  app.get("/v1/health", health);
  app.get("/livez", (c) => c.json({ status: "alive" }));

  app.get("/metrics", async (c) => {
    const mm = service.state === "ready" && !service.sleeping ? await service.model() : undefined;
    return c.text(renderMetrics(service, mm), 200, { "content-type": "text/plain; version=0.0.4" });
  });

  app.post("/tokenize", async (c) => {
    const b = await readBody(
      c,
      z.object({
        content: promptString,
        add_special: z.boolean().optional(),
        parse_special: z.boolean().optional(),
        with_pieces: z.boolean().optional(),
      }),
    );
    const mm = await service.model();
    const tokens = [
      ...await mm.model.tokenize(b.content, { addSpecial: b.add_special, parseSpecial: b.parse_special ?? true }),
    ];
    if (!b.with_pieces) return c.json({ tokens });
    const d = new TextDecoder();
    return c.json({ tokens: tokens.map((id) => ({ id, piece: d.decode(mm.model.vocab.bytes(id)) })) });
  });

  app.post("/detokenize", async (c) => {
    const max = REQUEST_LIMITS.maxDetokenizeTokens;
    const b = await readBody(
      c,
      z.object({ tokens: limitedArray(z.number().int(), max, "tokens", "maxDetokenizeTokens") }),
    );
    const mm = await service.model();
    return c.json({ content: mm.model.detokenize(b.tokens, { special: true }) });
  });

  return app;
}
