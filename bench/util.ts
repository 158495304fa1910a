/** Small helpers shared by the benchmark modules. */

import { type ChildProcess, spawn } from "node:child_process";
import { Rng } from "../engine/ts/tiny-model/random.ts";

export function sh(cmd: string, args: string[], env?: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.on("error", reject);
    p.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

/** The URL a spawned `serve` listens on, once it says it is listening and its model is ready. */
export function serverUrl(p: ChildProcess): Promise<string> {
  let log = "";
  return new Promise((resolve, reject) => {
    const on = (d: Buffer) => {
      log += d;
      const m = /listening on (http:\/\/\S+)/.exec(log);
      if (m && log.includes("ready")) resolve(m[1]);
    };
    p.stdout?.on("data", on);
    p.stderr?.on("data", on);
    p.on("close", (code) => reject(new Error(`server exited with ${code}:\n${log}`)));
  });
}

/** Peak resident memory of this process in bytes, or NaN where the runtime cannot tell. */
export function peakRssBytes(): number {
  const p = (globalThis as { process?: { resourceUsage?: () => { maxRSS: number } } }).process;
  return typeof p?.resourceUsage === "function" ? p.resourceUsage().maxRSS * 1024 : NaN; // maxRSS is in KiB
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** A preprocessed tile (values in [-1, 1]) that both engines encode. */
export function benchTile(size: number) {
  const rng = new Rng(7);
  return { width: size, height: size, data: Float32Array.from({ length: size * size * 3 }, () => rng.float() * 2 - 1) };
}
