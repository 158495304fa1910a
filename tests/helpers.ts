/** Shared test fixtures: test models, the native oracle, running the CLI on each runtime. */

import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the suite with \`npm test\` (scripts/test.sh)`);
  return v;
}

/** Paths of the tiny test models written by scripts/test-models.sh. */
export function models() {
  const dir = env("MCE_TEST_MODELS");
  return {
    dir,
    llm: `${dir}/tiny-llm.gguf`,
    /** the same architecture with Q4_K/Q6_K/Q8_0 matrices (TINY_Q4K_LLM), for the wasm SIMD kernels */
    llmQ4k: `${dir}/tiny-q4k-llm.gguf`,
    llmSplit: `${dir}/split/tiny-llm-00001-of-00003.gguf`,
    splitDir: `${dir}/split`,
    mmproj16x: `${dir}/tiny-mmproj-16x.gguf`,
    mmproj4x: `${dir}/4x/tiny-mmproj-4x.gguf`,
    /** llama.cpp's tools/mtmd/test-1.jpeg (640x488) */
    testJpeg: `${dir}/test-1.jpeg`,
  };
}

/** A test video written by scripts/test-media.sh (or test-3.mp4 from the pinned llama.cpp). */
export function testMedia(name: string): string {
  return `${env("MCE_TEST_MEDIA")}/${name}`;
}

export function nativeBin(name: string): string {
  return `${env("MCE_NATIVE_BIN")}/${name}`;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(
  cmd: string,
  args: string[],
  options: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...options.env } });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    const timer = setTimeout(() => p.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    p.on("error", reject);
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    p.stdin.end(options.input ?? "");
  });
}

export type RuntimeName = "deno" | "bun" | "node";

/** The CLI on a given runtime: Deno and Bun run the sources, Node the esbuild bundle. */
export function cliCommand(runtime: RuntimeName): [string, string[]] {
  const bin = (n: string) => `${ROOT}/node_modules/.bin/${n}`;
  switch (runtime) {
    // the binary itself, not npm's bin.cjs wrapper (which does not pass signals on)
    case "deno":
      return [`${ROOT}/node_modules/deno/deno`, ["run", "-A", `${ROOT}/cli.ts`]];
    case "bun":
      return [bin("bun"), [`${ROOT}/cli.ts`]];
    case "node":
      return ["node", [`${ROOT}/dist/node/cli.js`]];
  }
}

export async function runCli(runtime: RuntimeName, args: string[]): Promise<RunResult> {
  const [cmd, pre] = cliCommand(runtime);
  return await run(cmd, [...pre, ...args]);
}

export interface TestServer {
  url: string;
  /** what the server printed so far */
  log(): string;
  stop(): Promise<void>;
}

/** Starts `cli serve` on a runtime (port 0) and waits until its model is loaded. */
export function startServer(
  runtime: RuntimeName,
  args: string[],
  env: Record<string, string> = {},
): Promise<TestServer> {
  const [cmd, pre] = cliCommand(runtime);
  const p = spawn(cmd, [...pre, "serve", "--port", "0", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "";
  const exited = new Promise<void>((r) => p.on("close", () => r()));
  const stop = async () => {
    if (p.exitCode !== null) return;
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      p.kill("SIGKILL");
      reject(new Error(`server on ${runtime} did not become ready:\n${out}`));
    }, 120_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m && out.includes("ready")) {
        clearTimeout(timer);
        resolve({ url: m[1], log: () => out, stop });
      }
    };
    p.stdout.on("data", onData);
    p.stderr.on("data", onData);
    p.on("close", (code) => {
      clearTimeout(timer);
      reject(new Error(`server on ${runtime} exited with ${code}:\n${out}`));
    });
  });
}

/** Runs the native oracle (tests/oracle/oracle.cpp). */
export async function oracle(
  args: string[],
): Promise<{ prompt_tokens: number[]; tokens: number[]; text: string; n_vocab: number }> {
  const r = await run(nativeBin("oracle"), args);
  if (r.code !== 0) throw new Error(`oracle failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** max |a - b| over max |b|: differences relative to the reference's scale. */
export function maxRelativeError(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let scale = 0;
  let diff = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  return diff / scale;
}

/** Runs tests/browser/page.html in headless Chromium (tests/browser/run.mjs) and returns its result. */
export async function browserRun<
  T = { tokens: number[]; crossOriginIsolated: boolean; threads: number; simd: string; imageTokens: number },
>(
  args: string[],
): Promise<T> {
  const r = await run("node", ["tests/browser/run.mjs", ...args], { timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`browser run failed: ${r.stderr}`);
  const page = JSON.parse(r.stdout);
  if (page.error) throw new Error(`page error: ${page.error}\n${page.logs?.join("\n")}`);
  return page;
}
