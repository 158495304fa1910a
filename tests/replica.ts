/**
 * A `serve` process (Deno by default) for the operations tests (health, drain, load balancer): known as soon
 * as it listens (before its model is loaded), with its pid for signals and its exit status.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { cliCommand, ROOT, type RuntimeName } from "./helpers.ts";

export interface Replica {
  url: string;
  process: ChildProcess;
  /** what it printed so far */
  log(): string;
  /** resolves once its model is loaded */
  ready: Promise<void>;
  /** its exit status (null: killed by a signal) */
  exited: Promise<number | null>;
  /** sends a signal (process.kill: Deno's ChildProcess.kill sends one signal per child at most) */
  signal(name: "SIGTERM" | "SIGINT"): void;
  /** SIGKILL unless it has exited */
  kill(): void;
}

export function startReplica(
  args: string[],
  env: Record<string, string> = {},
  runtime: RuntimeName = "deno",
): Promise<Replica> {
  const [cmd, pre] = cliCommand(runtime);
  const p = spawn(cmd, [...pre, "serve", "--port", "0", ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...env },
  });
  let out = "";
  const exited = new Promise<number | null>((r) => p.on("close", (code) => r(code)));
  let onReady = () => {};
  const ready = new Promise<void>((r) => (onReady = r));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      p.kill("SIGKILL");
      reject(new Error(`serve did not start listening:\n${out}`));
    }, 60_000);
    const onData = (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[1],
          process: p,
          log: () => out,
          ready,
          exited,
          signal: (name) => process.kill(p.pid!, name),
          kill: () => void (p.exitCode === null && p.signalCode === null && p.kill("SIGKILL")),
        });
      }
      if (/; ready/.test(out)) onReady();
    };
    p.stdout.on("data", onData);
    p.stderr.on("data", onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${out}`));
    });
  });
}

/** A chat request's body on the tiny model: `tokens` tokens generated whatever the model samples. */
export function chatBody(model: string, tokens: number, stream = false) {
  return {
    model,
    messages: [{ role: "user", content: "Count to ten." }],
    max_tokens: tokens,
    ignore_eos: true,
    temperature: 0,
    stream,
  };
}

/** A streamed response read to its end (or until its connection broke): the `data:` payloads. */
export async function readEvents(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  text = "",
): Promise<{ events: string[]; error?: string }> {
  const decoder = new TextDecoder();
  let error: string | undefined;
  try {
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      text += decoder.decode(r.value, { stream: true });
    }
  } catch (e) {
    error = String(e);
  }
  return { events: text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)), error };
}

/** Polls `url` until `check` accepts the response body (or `timeoutMs` passes: throws). */
export async function waitFor<T>(url: string, check: (status: number, body: T) => boolean, timeoutMs = 60_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const res = await fetch(url).catch(() => undefined);
    const body = res && await res.json().catch(() => undefined);
    if (res && check(res.status, body)) return body as T;
    if (Date.now() > end) throw new Error(`timed out waiting on ${url}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
