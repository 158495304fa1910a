/** Operations: /health, /metrics (Prometheus text), /tokenize, /detokenize (llama-server style). */

import { Hono } from "hono";
import { z } from "zod";
import { readBody } from "./body.ts";
import type { ModelService } from "./service.ts";

export function opsRoutes(service: ModelService): Hono {
  const app = new Hono();

  app.get("/health", (c) => {
    if (service.state === "ready") return c.json({ status: "ok" });
    if (service.state === "loading") return c.json({ status: "loading" }, 503);
    return c.json({ status: "error", error: service.error }, 503);
  });

  app.get("/metrics", async (c) => {
    const m = service.metrics;
    const scheduler = service.state === "ready" ? (await service.model()).context.scheduler : undefined;
    const busy = service.busyMs() / 1000;
    const lines = [
      "# HELP minicpmv_requests_total HTTP requests by route and status.",
      "# TYPE minicpmv_requests_total counter",
      ...[...m.requests].map(([labels, n]) => `minicpmv_requests_total{${labels}} ${n}`),
      "# HELP minicpmv_prompt_tokens_total Prompt tokens of finished requests.",
      "# TYPE minicpmv_prompt_tokens_total counter",
      `minicpmv_prompt_tokens_total ${m.promptTokens}`,
      "# HELP minicpmv_image_tokens_total Image embedding positions of finished requests.",
      "# TYPE minicpmv_image_tokens_total counter",
      `minicpmv_image_tokens_total ${m.imageTokens}`,
      "# HELP minicpmv_video_tokens_total Video embedding positions of finished requests.",
      "# TYPE minicpmv_video_tokens_total counter",
      `minicpmv_video_tokens_total ${m.videoTokens}`,
      "# HELP minicpmv_completion_tokens_total Generated tokens of finished requests.",
      "# TYPE minicpmv_completion_tokens_total counter",
      `minicpmv_completion_tokens_total ${m.completionTokens}`,
      "# HELP minicpmv_tokens_generated_total Tokens sampled by the engine, including unfinished requests.",
      "# TYPE minicpmv_tokens_generated_total counter",
      `minicpmv_tokens_generated_total ${scheduler?.tokensGenerated ?? 0}`,
      "# HELP minicpmv_busy_seconds_total Wall time with at least one request in flight.",
      "# TYPE minicpmv_busy_seconds_total counter",
      `minicpmv_busy_seconds_total ${busy.toFixed(3)}`,
      "# HELP minicpmv_tokens_per_second Generated tokens per busy second.",
      "# TYPE minicpmv_tokens_per_second gauge",
      `minicpmv_tokens_per_second ${busy > 0 ? ((scheduler?.tokensGenerated ?? 0) / busy).toFixed(3) : 0}`,
      "# HELP minicpmv_requests_active Requests generating now.",
      "# TYPE minicpmv_requests_active gauge",
      `minicpmv_requests_active ${scheduler?.active ?? 0}`,
      "# HELP minicpmv_queue_depth Admitted requests not generating yet.",
      "# TYPE minicpmv_queue_depth gauge",
      `minicpmv_queue_depth ${Math.max(0, service.inFlight - (scheduler?.active ?? 0))}`,
      "",
    ];
    return c.text(lines.join("\n"), 200, { "content-type": "text/plain; version=0.0.4" });
  });

  app.post("/tokenize", async (c) => {
    const b = await readBody(
      c,
      z.object({
        content: z.string(),
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
    const b = await readBody(c, z.object({ tokens: z.array(z.number().int()) }));
    const mm = await service.model();
    return c.json({ content: mm.model.detokenize(b.tokens, { special: true }) });
  });

  return app;
}
