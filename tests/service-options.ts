/**
 * ModelService options for tests: the limits every test leaves at small defaults, so that each
 * test names only what it is about (the model, parallelism, a limit under test).
 */

import type { ServiceOptions } from "../routes/service.ts";

/** A model path that never loads: for tests answered before the model is touched. */
export const NO_MODEL = { model: "/nonexistent/minicpmv-edge-unit/model.gguf" };

export function testServiceOptions(o: Partial<ServiceOptions> = {}): ServiceOptions {
  return {
    load: NO_MODEL,
    parallel: 1,
    queue: 0,
    modelId: "tiny",
    repairNewlines: true,
    maxImages: 1,
    maxImageBytes: 1e6,
    imageFetchTimeoutMs: 1000,
    maxVideos: 1,
    maxVideoBytes: 1e6,
    maxVideoSeconds: 60,
    ...o,
  };
}
