/** The native side of the benchmark: llama.cpp's llama-bench and our oracle, same pinned source. */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { benchTile, median, sh } from "./util.ts";

/** One llama-bench round (prefill and decode tok/s). */
export async function nativeSpeed(bin: string, model: string, threads: number, prompt: number, gen: number) {
  const out = await sh(`${bin}/llama-bench`, [
    "-m",
    model,
    "-t",
    String(threads),
    "-p",
    String(prompt),
    "-n",
    String(gen),
    "-r",
    "1",
    "-o",
    "json",
  ]);
  const rows = JSON.parse(out) as { n_prompt: number; n_gen: number; avg_ts: number }[];
  return {
    prefill: rows.find((r) => r.n_prompt > 0)!.avg_ts,
    decode: rows.find((r) => r.n_gen > 0)!.avg_ts,
  };
}

/**
 * Seconds per tile (median of `reps` after one warm-up encode), and the embeddings; the tile is
 * preprocessed (our pipeline's values), by default the bench's 448x448 tile.
 */
export async function nativeEncodeTime(
  bin: string,
  mmproj: string,
  threads: number,
  merge: number,
  reps: number,
  tile: { width: number; height: number; data: Float32Array } = benchTile(448),
) {
  const dir = mkdtempSync(`${tmpdir()}/mce-bench-`);
  try {
    writeFileSync(`${dir}/tile.f32`, new Uint8Array(tile.data.buffer, tile.data.byteOffset, tile.data.byteLength));
    const out = await sh(`${bin}/oracle`, [
      "encode",
      "--mmproj",
      mmproj,
      "--tile",
      `${dir}/tile.f32`,
      "--width",
      String(tile.width),
      "--height",
      String(tile.height),
      "--merge",
      String(merge),
      "--threads",
      String(threads),
      "--repeat",
      String(reps + 1),
      "--out",
      `${dir}/embd.f32`,
    ]);
    const s = median((JSON.parse(out).ms as number[]).slice(1)) / 1000;
    return { s, embd: new Float32Array(readFileSync(`${dir}/embd.f32`).buffer.slice(0)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Load time, time to first token for one image prompt, and peak RSS of a fresh native process. */
export async function nativeChat(bin: string, llm: string, mmproj: string, image: string, threads: number) {
  const prompt = "<|im_start|>user\n<__media__>\nDescribe it.<|im_end|>\n<|im_start|>assistant\n";
  const out = await sh(`${bin}/oracle`, [
    "chat",
    "--model",
    llm,
    "--mmproj",
    mmproj,
    "--image",
    image,
    "--prompt",
    prompt,
    "--threads",
    String(threads),
  ]);
  const r = JSON.parse(out) as { load_ms: number; ttft_ms: number; max_rss_kb: number; n_tokens: number };
  return { loadS: r.load_ms / 1000, ttftS: r.ttft_ms / 1000, peakRssMB: r.max_rss_kb / 1024, promptTokens: r.n_tokens };
}
