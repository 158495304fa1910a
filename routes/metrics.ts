/**
 * The Prometheus text of /metrics. Two families: `minicpmv_edge:*` is the contract routers and
 * autoscalers read (the Gateway API Inference Extension's model-server gauges with vLLM's meaning,
 * and llama-server's counters; deploy/README.md maps them), `minicpmv_*` the server's own detail.
 * Counters of the engine (decode calls, tokens sampled) start over when the model reloads after an
 * engine crash; Prometheus' rate() treats that as a counter reset.
 */

import type { MiniCPMV } from "../engine/ts/minicpmv.ts";
import type { ModelService } from "./service.ts";

type Kind = "counter" | "gauge";

/** One metric: its HELP and TYPE lines and its samples (`labels` without braces). */
function metric(name: string, kind: Kind, help: string, samples: [labels: string, value: number][] | number): string[] {
  const rows = typeof samples === "number" ? [["", samples] as [string, number]] : samples;
  return [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${kind}`,
    ...rows.map(([labels, v]) => `${name}${labels ? `{${labels}}` : ""} ${Number.isInteger(v) ? v : v.toFixed(6)}`),
  ];
}

/** What a router needs to pick a replica, read at one moment. */
export interface Load {
  /** admitted requests not generating yet (preparing their media, or waiting for a sequence) */
  waiting: number;
  /** requests generating on a sequence */
  running: number;
  /** context cells held over the context's cells, 0..1 */
  kvCacheUsage: number;
}

export function loadOf(service: ModelService, mm: MiniCPMV | undefined): Load {
  const scheduler = mm?.context.scheduler;
  const running = scheduler?.active ?? 0;
  const cells = mm ? mm.context.sequenceSize * mm.context.sequences : 0;
  return {
    waiting: Math.max(0, service.inFlight - running),
    running,
    kvCacheUsage: cells > 0 ? Math.min(1, scheduler!.cellsInUse / cells) : 0,
  };
}

export function renderMetrics(service: ModelService, mm: MiniCPMV | undefined): string {
  const m = service.metrics;
  const scheduler = mm?.context.scheduler;
  const encodeCache = mm?.cache.size;
  const busy = service.busyMs() / 1000;
  const load = loadOf(service, mm);
  const decodeCalls = scheduler?.decodeCalls ?? 0;
  return [
    ...metric(
      "minicpmv_edge:num_requests_waiting",
      "gauge",
      "Admitted requests not generating yet (vllm:num_requests_waiting).",
      load.waiting,
    ),
    ...metric(
      "minicpmv_edge:num_requests_running",
      "gauge",
      "Requests generating on a sequence (vllm:num_requests_running).",
      load.running,
    ),
    ...metric(
      "minicpmv_edge:kv_cache_usage_perc",
      "gauge",
      "Context cells held over capacity, 0..1, prefix-cache cells included (vllm:kv_cache_usage_perc).",
      load.kvCacheUsage,
    ),
    ...metric(
      "minicpmv_edge:prompt_tokens_total",
      "counter",
      "Prompt tokens decoded, finished requests (llamacpp:prompt_tokens_total).",
      m.promptTokensDecoded,
    ),
    ...metric(
      "minicpmv_edge:prompt_tokens_cached_total",
      "counter",
      "Prompt tokens taken from the prefix cache, finished requests.",
      m.promptTokensCached,
    ),
    ...metric(
      "minicpmv_edge:prompt_seconds_total",
      "counter",
      "Time spent on prompts, finished requests (llamacpp:prompt_seconds_total).",
      m.promptMs / 1000,
    ),
    ...metric(
      "minicpmv_edge:tokens_predicted_total",
      "counter",
      "Generated tokens, finished requests (llamacpp:tokens_predicted_total).",
      m.completionTokens,
    ),
    ...metric(
      "minicpmv_edge:tokens_predicted_seconds_total",
      "counter",
      "Time spent generating, finished requests (llamacpp:tokens_predicted_seconds_total).",
      m.generateMs / 1000,
    ),
    ...metric(
      "minicpmv_edge:n_decode_total",
      "counter",
      "Engine decode calls of requests: prompt chunks and token batches (llamacpp:n_decode_total).",
      decodeCalls,
    ),
    ...metric(
      "minicpmv_edge:n_busy_slots_per_decode",
      "gauge",
      "Running requests per decode call, averaged (llamacpp:n_busy_slots_per_decode).",
      decodeCalls ? scheduler!.decodeBusySlots / decodeCalls : 0,
    ),
    ...metric(
      "minicpmv_requests_total",
      "counter",
      "HTTP requests by route and status.",
      [...m.requests].map(([labels, n]) => [labels, n]),
    ),
    ...metric("minicpmv_prompt_tokens_total", "counter", "Prompt tokens of finished requests.", m.promptTokens),
    ...metric(
      "minicpmv_image_tokens_total",
      "counter",
      "Image embedding positions of finished requests.",
      m.imageTokens,
    ),
    ...metric(
      "minicpmv_video_tokens_total",
      "counter",
      "Video embedding positions of finished requests.",
      m.videoTokens,
    ),
    ...metric(
      "minicpmv_completion_tokens_total",
      "counter",
      "Generated tokens of finished requests.",
      m.completionTokens,
    ),
    ...metric(
      "minicpmv_tokens_generated_total",
      "counter",
      "Tokens sampled by the engine, including unfinished requests.",
      scheduler?.tokensGenerated ?? 0,
    ),
    ...metric("minicpmv_busy_seconds_total", "counter", "Wall time with at least one request in flight.", busy),
    ...metric(
      "minicpmv_tokens_per_second",
      "gauge",
      "Generated tokens per busy second.",
      busy > 0 ? (scheduler?.tokensGenerated ?? 0) / busy : 0,
    ),
    ...metric(
      "minicpmv_encode_cache_entries",
      "gauge",
      "Tile embeddings held by the encode cache.",
      encodeCache?.entries ?? 0,
    ),
    ...metric(
      "minicpmv_encode_cache_bytes",
      "gauge",
      "Bytes of tile embeddings held by the encode cache.",
      encodeCache?.bytes ?? 0,
    ),
    ...metric(
      "minicpmv_engine_crashes_total",
      "counter",
      "Engine crashes (each followed by a model reload).",
      m.engineCrashes,
    ),
    ...metric("minicpmv_requests_active", "gauge", "Requests generating now.", load.running),
    ...metric("minicpmv_queue_depth", "gauge", "Admitted requests not generating yet.", load.waiting),
    "",
  ].join("\n");
}
