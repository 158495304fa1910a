/**
 * Download progress on the terminal (cli-progress): bytes, rate and ETA over every file being
 * fetched. Quiet when stderr is not a terminal (logs, pipes, tests).
 */

import cliProgress from "cli-progress";
import type { DownloadProgress, ProgressListener } from "../engine/ts/hub/progress.ts";

const units = ["B", "kB", "MB", "GB", "TB"];
export function formatBytes(n: number): string {
  let i = 0;
  while (n >= 1000 && i < units.length - 1) [n, i] = [n / 1000, i + 1];
  return `${n.toFixed(i && n < 100 ? 1 : 0)} ${units[i]}`;
}

/** A progress listener that draws a bar on a terminal; `finish()` clears it. */
export function terminalProgress(force = false): ProgressListener & { finish(): void } {
  if (!force && !process.stderr.isTTY) return Object.assign(() => {}, { finish() {} });
  let bar: cliProgress.SingleBar | undefined;
  let t0 = 0;
  let base = 0; // bytes already present (cache or partial) when the bar started
  const listener = (p: DownloadProgress) => {
    if (p.state === "cached" && !bar) return; // nothing to draw for files already cached
    const total = p.overallTotal ?? Math.max(p.overallReceived, 1);
    if (!bar) {
      bar = new cliProgress.SingleBar({
        stream: process.stderr,
        format: " {bar} {percentage}% | {done} / {size} | {rate} | ETA {eta_formatted} | {files}",
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 50,
        fps: 5,
      }, cliProgress.Presets.shades_classic);
      t0 = performance.now();
      base = p.overallReceived;
      bar.start(total, p.overallReceived, payload(p, 0));
    }
    bar.setTotal(total);
    const seconds = (performance.now() - t0) / 1000;
    bar.update(p.overallReceived, payload(p, seconds > 0.2 ? (p.overallReceived - base) / seconds : 0));
  };
  const payload = (p: DownloadProgress, rate: number) => ({
    done: formatBytes(p.overallReceived),
    size: p.overallTotal === undefined ? "?" : formatBytes(p.overallTotal),
    rate: `${formatBytes(rate)}/s`,
    files: p.files > 1 ? `${p.filesDone}/${p.files} files` : p.file,
  });
  return Object.assign(listener, {
    finish() {
      bar?.stop();
      bar = undefined;
    },
  });
}
