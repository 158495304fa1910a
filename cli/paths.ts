/** Default locations shared by the CLI commands (the build cache of scripts/lib.sh). */

import { fileURLToPath } from "node:url";
import { nodeFs } from "../engine/ts/platform/index.ts";

/** The repository root: the nearest parent of this module holding scripts/lib.sh (works in bundles too). */
export async function projectRoot(): Promise<string> {
  const fs = await nodeFs();
  let dir = fileURLToPath(new URL(".", import.meta.url));
  for (let i = 0; i < 4; i++, dir = `${dir}/..`) {
    if (fs.existsSync(`${dir}/scripts/lib.sh`)) return fs.realpathSync(dir);
  }
  throw new Error("cannot find the minicpmv-edge repository (scripts/lib.sh) above " + import.meta.url);
}

export function buildCacheDir(): string {
  const env = process.env;
  return env.MINICPMV_EDGE_BUILD_CACHE ?? `${env.XDG_CACHE_HOME ?? `${env.HOME}/.cache`}/minicpmv-edge/build`;
}

/** ggml-vocab-qwen35.gguf inside the pinned llama.cpp source that scripts/build-*.sh extract. */
export async function defaultVocabPath(): Promise<string> {
  const fs = await nodeFs();
  const dir = buildCacheDir();
  const src = fs.existsSync(dir) ? fs.readdirSync(dir).filter((d) => d.startsWith("llama.cpp-")).sort() : [];
  if (!src.length) throw new Error(`no llama.cpp source in ${dir}: run scripts/build-wasm.sh first, or pass --vocab`);
  return `${dir}/${src[0]}/models/ggml-vocab-qwen35.gguf`;
}
