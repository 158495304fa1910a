/** Numbers for people: sizes, rates, durations, the stats line under an answer. */

import type { AnswerStats } from "./chat-types.ts";

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${Math.round(s)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

/** "120 prompt tokens (64 image) · first token 0.42 s · 31.5 tokens/s · server" */
export function formatStats(s: AnswerStats): string {
  const media = [
    s.imageTokens ? `${s.imageTokens} image` : "",
    s.videoTokens ? `${s.videoTokens} video` : "",
  ].filter(Boolean).join(", ");
  return [
    `${s.promptTokens} prompt tokens${media ? ` (${media})` : ""}`,
    `${s.completionTokens} generated`,
    `first token ${(s.firstTokenMs / 1000).toFixed(2)} s`,
    `${s.tokensPerSecond.toFixed(1)} tokens/s`,
    s.engine,
  ].join(" · ");
}

/** "12 MB of 40 MB · 3.1 MB/s · 9 s left" */
export function formatProgress(received: number, total: number, bytesPerSecond: number): string {
  if (!total) return "Starting the download…";
  const eta = bytesPerSecond > 0 ? (total - received) / bytesPerSecond : Infinity;
  return `${formatBytes(received)} of ${formatBytes(total)} · ${formatBytes(bytesPerSecond)}/s · ${
    formatSeconds(eta)
  } left`;
}
