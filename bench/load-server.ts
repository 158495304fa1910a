/**
 * What the load benchmarks (overload.ts, soak.ts) share: a `serve` process on the tiny test pair
 * (or the real-shape pair), its resident memory read from /proc (Linux), requests of each kind
 * they send (text, image, streamed, streamed and dropped, invalid), and percentiles.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import jpeg from "jpeg-js";
import { buildCacheDir, projectRoot } from "../cli/paths.ts";
import { serverUrl } from "./util.ts";

export const MODEL = "bench";

/** The model pair: the tiny test pair ($MCE_TEST_MODELS, scripts/test-models.sh) or the real-shape one. */
export function modelPair(realShape: boolean): { model: string; mmproj: string } {
  if (realShape) {
    const dir = `${buildCacheDir()}/real-shape-v1`;
    return { model: `${dir}/real-shape-llm.gguf`, mmproj: `${dir}/real-shape-mmproj-16x.gguf` };
  }
  const dir = process.env.MCE_TEST_MODELS;
  if (!dir || !existsSync(`${dir}/tiny-llm.gguf`)) {
    throw new Error(
      "MCE_TEST_MODELS must name the tiny test models (source /tmp/env.sh or run scripts/test-models.sh)",
    );
  }
  return { model: `${dir}/tiny-llm.gguf`, mmproj: `${dir}/tiny-mmproj-16x.gguf` };
}

export interface ServeProcess {
  url: string;
  process: ChildProcess;
  /** resident memory now and at its peak (VmRSS, VmHWM), MB */
  memory(): { rssMB: number; peakMB: number };
  stop(): Promise<void>;
}

/** Starts `node dist/node/cli.js serve` on a free port with `flags` and waits until the model is loaded. */
export async function startServe(pair: { model: string; mmproj: string }, flags: string[]): Promise<ServeProcess> {
  const p = spawn("node", [
    `${await projectRoot()}/dist/node/cli.js`,
    "serve",
    "--port",
    "0",
    "--model",
    pair.model,
    "--mmproj",
    pair.mmproj,
    "--model-name",
    MODEL,
    ...flags,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  const url = await serverUrl(p);
  const exited = new Promise<void>((r) => p.on("close", () => r()));
  return {
    url,
    process: p,
    memory() {
      const s = readFileSync(`/proc/${p.pid}/status`, "utf8");
      const mb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) / 1024;
      return { rssMB: mb("VmRSS"), peakMB: mb("VmHWM") };
    },
    async stop() {
      if (p.exitCode !== null) return;
      p.kill("SIGTERM");
      const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** A w x h JPEG whose pixels depend on `seed` (a different seed: a different image, an encode-cache miss). */
export function seededJpegDataUrl(seed: number, w = 96, h = 64): string {
  const data = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) {
    data.set([(i * 7 + seed * 31) & 255, ((i >> 6) + seed * 17) & 255, (i * 13 + seed) & 255, 255], i * 4);
  }
  return `data:image/jpeg;base64,${
    Buffer.from(jpeg.encode({ data, width: w, height: h }, 85).data).toString("base64")
  }`;
}

export const textChat = (i: number, maxTokens: number) => ({
  model: MODEL,
  temperature: 0,
  max_tokens: maxTokens,
  messages: [{ role: "user", content: `Request ${i}: say hello.` }],
});

export const imageChat = (imageUrl: string, maxTokens: number) => ({
  model: MODEL,
  temperature: 0,
  max_tokens: maxTokens,
  messages: [{
    role: "user",
    content: [{ type: "image_url", image_url: { url: imageUrl } }, { type: "text", text: "What is this?" }],
  }],
});

export interface Answer {
  status: number;
  ms: number;
  retryAfter: string | null;
  /** the client left mid-stream on purpose */
  dropped?: boolean;
  error?: string;
}

/**
 * POSTs a chat and reads the whole answer (a stream to its end); `dropAfterChunks`: leave after
 * that many streamed chunks (a client that disconnects mid-stream).
 */
export async function postChat(
  url: string,
  body: Record<string, unknown> | string,
  o: { dropAfterChunks?: number; timeoutMs?: number } = {},
): Promise<Answer> {
  const t0 = performance.now();
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new Error("client timeout")), o.timeoutMs ?? 120_000);
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
      signal: controller.signal,
    });
    const retryAfter = res.headers.get("retry-after");
    if (o.dropAfterChunks !== undefined && res.ok && res.body) {
      const reader = res.body.getReader();
      for (let n = 0; n < o.dropAfterChunks; n++) if ((await reader.read()).done) break;
      controller.abort(new Error("dropped"));
      await reader.cancel().catch(() => {});
      return { status: res.status, ms: performance.now() - t0, retryAfter, dropped: true };
    }
    await res.arrayBuffer();
    return { status: res.status, ms: performance.now() - t0, retryAfter };
  } catch (e) {
    return { status: 0, ms: performance.now() - t0, retryAfter: null, error: String((e as Error)?.message ?? e) };
  } finally {
    clearTimeout(timer);
  }
}

/** The q-th percentile (0..100) of `xs` (nearest rank); NaN when empty. */
export function percentile(xs: number[], q: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((q / 100) * s.length) - 1))];
}

/** The server's gauges from /metrics: requests generating and admitted-but-waiting. */
export async function gauges(url: string): Promise<{ active: number; queued: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const g = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
  return { active: g("minicpmv_requests_active"), queued: g("minicpmv_queue_depth") };
}
