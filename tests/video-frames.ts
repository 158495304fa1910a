/**
 * Decodes frames of a video through the worker-backed decoder (engine/ts/media/client.ts)
 * on whatever runtime runs this file and prints the metadata and each frame's SHA-256 as JSON, so
 * tests/video-decode.test.ts can check that Deno and Bun (sources) and Node.js (esbuild bundle)
 * decode the same bytes. Usage: video-frames.ts FILE INDEX...
 */

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { MediaDecoder } from "../engine/ts/media/client.ts";

// deno-lint-ignore no-process-global
const [file, ...indices] = process.argv.slice(2);
const decoder = MediaDecoder.create();
try {
  const bytes = readFileSync(file);
  let info;
  const frames = [];
  for await (const f of decoder.decodeFrames(bytes, indices.map(Number), {}, (i) => (info = i))) {
    const sha256 = createHash("sha256").update(f.rgb).digest("hex");
    frames.push({ index: f.index, width: f.width, height: f.height, sha256 });
  }
  console.log(JSON.stringify({ info, frames }));
} finally {
  decoder.terminate();
}
