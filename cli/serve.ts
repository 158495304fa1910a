/**
 * `serve [--model REF] [--mmproj REF] [--offline] [--host H] [--port P] [--threads N] [--ctx-size N]
 *  [--parallel N] [--cache-ram MB] [--queue N] [--api-key KEY] [--cors-origin O]... [--media-dir DIR]
 *  [--model-name ID] [--vision-weights q8_0|as-is] [--simd auto|relaxed|simd128] [--no-newline-repair]
 *  [--request-timeout S] [--max-connections N] [--allow-private-urls] [--engine-stall-seconds S] [--no-ui]
 *  [--drain-timeout S] [--sleep-idle-seconds S]`
 * OpenAI- and Ollama-compatible HTTP server. REF: a path, a split set's first shard, an http(s)
 * URL, hf:owner/repo/file.gguf or owner/repo:QUANT; without --model the official MiniCPM-V 4.6
 * pair is downloaded (once, into the model cache). Every flag has an environment variable
 * MINICPMV_EDGE_<FLAG> (e.g. MINICPMV_EDGE_API_KEY); flags win. The web chat page is at / and
 * /ui, the model files under /files/ (docs/web.md); --no-ui turns the page off.
 */

import { parseArgs } from "node:util";
import type { EngineOptions } from "../engine/ts/engine.ts";
import { InvalidRequestError } from "../engine/ts/errors.ts";
import { createApp } from "../routes/app.ts";
import { ModelService } from "../routes/service.ts";
import { resolveCliModels } from "./resolve-models.ts";
import { startupApp, StartupStatus } from "../routes/startup.ts";
import { onStopSignal, serveHttp } from "./serve-http.ts";

const FLAGS = {
  model: { type: "string", short: "m" },
  mmproj: { type: "string" },
  offline: { type: "boolean", default: false },
  host: { type: "string", default: "127.0.0.1" },
  port: { type: "string", default: "8080" },
  threads: { type: "string", short: "t" },
  simd: { type: "string", default: "auto" },
  "ctx-size": { type: "string", short: "c", default: "8192" },
  parallel: { type: "string", default: "2" },
  "cache-ram": { type: "string", default: "256" },
  queue: { type: "string", default: "16" },
  "api-key": { type: "string" },
  "cors-origin": { type: "string", multiple: true },
  "media-dir": { type: "string" },
  "model-name": { type: "string" },
  "vision-weights": { type: "string", default: "q8_0" },
  "no-newline-repair": { type: "boolean", default: false },
  "max-body-mb": { type: "string", default: "50" },
  "request-timeout": { type: "string", default: "30" },
  "max-connections": { type: "string", default: "256" },
  "max-images": { type: "string", default: "16" },
  "max-image-mb": { type: "string", default: "20" },
  "image-timeout": { type: "string", default: "15" },
  "max-videos": { type: "string", default: "4" },
  "max-video-mb": { type: "string", default: "100" },
  "max-video-seconds": { type: "string", default: "10800" },
  "allow-private-urls": { type: "boolean", default: false },
  "engine-stall-seconds": { type: "string", default: "120" },
  "drain-timeout": { type: "string", default: "30" },
  "sleep-idle-seconds": { type: "string", default: "0" },
  verbose: { type: "boolean", default: false },
  "no-ui": { type: "boolean", default: false },
} as const;

/** Flag values with MINICPMV_EDGE_* environment fallbacks. */
function withEnv(args: string[]): string[] {
  const env = process.env;
  const extra: string[] = [];
  for (const [name, spec] of Object.entries(FLAGS)) {
    const value = env[`MINICPMV_EDGE_${name.toUpperCase().replaceAll("-", "_")}`];
    if (value === undefined || args.some((a) => a === `--${name}` || a.startsWith(`--${name}=`))) continue;
    if (spec.type === "boolean") {
      if (/^(1|true|yes)$/i.test(value)) extra.push(`--${name}`);
    } else for (const v of "multiple" in spec ? value.split(",") : [value]) extra.push(`--${name}`, v.trim());
  }
  return [...extra, ...args];
}

function int(s: string | undefined, name: string, min: number, max: number): number | undefined {
  if (s === undefined) return undefined;
  const n = Number(s);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InvalidRequestError(`--${name} must be an integer in [${min}, ${max}]`, name);
  }
  return n;
}

/** A duration in seconds, fractions allowed (0: off). */
function seconds(s: string | undefined, name: string): number {
  const n = Number(s);
  if (s === undefined || s.trim() === "" || !Number.isFinite(n) || n < 0 || n > 86_400) {
    throw new InvalidRequestError(`--${name} must be a number of seconds in [0, 86400]`, name);
  }
  return n;
}

function modelIdOf(file: string): string {
  return file.slice(file.lastIndexOf("/") + 1).replace(/(-\d{5}-of-\d{5})?\.gguf$/i, "");
}

export async function run(args: string[]): Promise<number> {
  const { values: v } = parseArgs({ args: withEnv(args), options: FLAGS });
  const visionWeights = v["vision-weights"];
  if (visionWeights !== "as-is" && visionWeights !== "q8_0") {
    throw new InvalidRequestError("--vision-weights must be as-is or q8_0", "vision-weights");
  }
  const parallel = int(v.parallel, "parallel", 1, 64)!;
  const port = int(v.port, "port", 0, 65535)!;
  const contextSize = int(v["ctx-size"], "ctx-size", 256, 1 << 20);
  const requestTimeoutMs = int(v["request-timeout"], "request-timeout", 0, 86_400)! * 1000;
  const drainTimeoutMs = seconds(v["drain-timeout"], "drain-timeout") * 1000;
  // listening before the model files are resolved: /livez answers and /health says "downloading"
  const startup = new StartupStatus();
  let handler: (req: Request, env?: unknown) => Response | Promise<Response> = startupApp(startup).fetch;
  const server = await serveHttp((req, env) => handler(req, env), {
    hostname: v.host!,
    port,
    requestTimeoutMs,
    maxConnections: int(v["max-connections"], "max-connections", 0, 1_000_000)!,
  });
  console.error(`minicpmv-edge: listening on http://${v.host}:${server.port}`);
  const stop = stopSignals();
  const resolving = new AbortController();
  stop.requested.then(() => resolving.abort());
  let files;
  try {
    files = await resolveCliModels({
      model: v.model,
      mmproj: v.mmproj,
      offline: v.offline,
      signal: resolving.signal,
      onProgress: startup.onProgress,
    });
  } catch (e) {
    await server.close();
    if (resolving.signal.aborted) return 0;
    throw e;
  }
  const service = new ModelService({
    // local paths once resolved (servers get paths; Blob[] is the browser's form)
    load: {
      model: files.model.source as string,
      mmproj: files.mmproj?.source as string | undefined,
      visionWeights,
      contextSize,
      cacheRamBytes: int(v["cache-ram"], "cache-ram", 0, 1 << 20)! * 2 ** 20, // prefix-cache checkpoints
    },
    threads: int(v.threads, "threads", 1, 64),
    simd: v.simd as EngineOptions["simd"], // checked by Engine.create
    parallel,
    queue: int(v.queue, "queue", 0, 10_000)!,
    modelId: v["model-name"] ?? modelIdOf(files.model.source as string),
    mediaDir: v["media-dir"],
    repairNewlines: !v["no-newline-repair"],
    maxImages: int(v["max-images"], "max-images", 0, 1000)!,
    maxImageBytes: int(v["max-image-mb"], "max-image-mb", 1, 4096)! * 1e6,
    imageFetchTimeoutMs: int(v["image-timeout"], "image-timeout", 1, 3600)! * 1000,
    maxVideos: int(v["max-videos"], "max-videos", 0, 100)!,
    maxVideoBytes: int(v["max-video-mb"], "max-video-mb", 1, 4096)! * 1e6,
    maxVideoSeconds: int(v["max-video-seconds"], "max-video-seconds", 1, 1e6)!,
    allowPrivateUrls: v["allow-private-urls"],
    engineStallMs: seconds(v["engine-stall-seconds"], "engine-stall-seconds") * 1000,
    logLevel: v.verbose ? "info" : "error",
  });
  const app = createApp(service, {
    apiKey: v["api-key"],
    corsOrigins: v["cors-origin"],
    maxBodyBytes: int(v["max-body-mb"], "max-body-mb", 1, 4096)! * 1e6,
    requestTimeoutMs,
    ui: !v["no-ui"],
    // unload the model after this long without requests, reload on the next (0: never; routes/idle.ts)
    sleepIdleMs: seconds(v["sleep-idle-seconds"], "sleep-idle-seconds") * 1000,
    modelFiles: { model: files.model.source as string, mmproj: files.mmproj?.source as string | undefined },
  });
  handler = app.fetch;
  console.error(`minicpmv-edge: model '${service.options.modelId}' (${parallel} parallel) loading`);

  const t0 = performance.now();
  try {
    await Promise.race([service.model(), stop.requested]);
  } catch (e) {
    await server.close();
    await service.close();
    throw e;
  }
  if (service.state === "ready") {
    console.error(`minicpmv-edge: model loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s; ready`);
  }

  await stop.requested;
  // the drain: new requests get 503 (a balancer retries them elsewhere), admitted ones run to their end
  service.drain();
  console.error(
    `minicpmv-edge: draining ${server.active} requests (up to ${drainTimeoutMs / 1000} s; a second signal exits now)`,
  );
  const drained = await server.idle(drainTimeoutMs);
  console.error(
    drained
      ? "minicpmv-edge: drained; shutting down"
      : `minicpmv-edge: drain timed out; cutting ${server.active} requests`,
  );
  await service.close(); // ends running generations, so the server need not wait for them
  await server.close();
  return 0;
}

/** The first stop signal (SIGTERM, Ctrl-C) starts the drain; a second one exits at once (status 1). */
function stopSignals(): { requested: Promise<void> } {
  let signals = 0;
  return {
    requested: new Promise((resolve) =>
      onStopSignal(() => {
        if (++signals === 1) return resolve();
        console.error("minicpmv-edge: second stop signal; exiting now");
        process.exit(1);
      })
    ),
  };
}
