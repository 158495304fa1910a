/**
 * The models a command should load, from its flags: named references are resolved (downloaded
 * into the cache if needed) and, with no --model, the official MiniCPM-V 4.6 pair of the
 * manifest. Draws the download progress on a terminal. For `pull` and `serve`.
 */

import { DEFAULT_MODEL } from "../engine/ts/hub/manifest.ts";
import { resolveDefaultModels, type ResolvedModel, resolveModelRefs } from "../engine/ts/hub/resolve.ts";
import type { DownloadProgress, ProgressListener } from "../engine/ts/hub/progress.ts";
import { terminalProgress } from "./progress.ts";

export interface ModelFlags {
  model?: string;
  /** undefined: the repository's mmproj for owner/repo:QUANT (none otherwise); false: none */
  mmproj?: string | false;
  offline?: boolean;
  signal?: AbortSignal;
  /** download progress, besides the terminal's bar */
  onProgress?: ProgressListener;
}

export async function resolveCliModels(f: ModelFlags): Promise<{ model: ResolvedModel; mmproj?: ResolvedModel }> {
  const progress = terminalProgress();
  if (!f.model) console.error(`model: ${DEFAULT_MODEL.model} + ${DEFAULT_MODEL.mmproj} (pass --model to use another)`);
  try {
    const onProgress = (p: DownloadProgress) => (progress(p), f.onProgress?.(p));
    const o = { offline: f.offline, onProgress, signal: f.signal };
    return f.model ? await resolveModelRefs({ model: f.model, mmproj: f.mmproj }, o) : await resolveDefaultModels(o);
  } finally {
    progress.finish();
  }
}
