/**
 * Requests an engine crash did not touch run again. A crash fails the engine call that was running
 * and every request generating on the engine (their KV memory is gone): those answer 503. A request
 * that was still preparing (fetching, decoding, tokenizing, encoding) or waiting for a sequence did
 * not cause the crash and has sent nothing yet, so it runs again, once, on the reloaded model
 * (EngineCrashError.rerunnable, set by the engine client and cleared by the scheduler for requests
 * that had a sequence).
 */

import { EngineCrashError } from "../engine/ts/errors.ts";
import { Generation } from "../engine/ts/generation.ts";
import type { MiniCPMV } from "../engine/ts/minicpmv.ts";
import type { ModelService } from "./service.ts";

/** runs of one request after its first: one reload is the fault's, a second in a row is not worth waiting for */
const MAX_RERUNS = 1;

/**
 * Starts a request with `start` on the loaded model. When a crash stops it before it generated
 * anything, `start` runs again on the reloaded model; the returned value's generation relays the
 * run that counts, and its other fields are those of that run.
 */
export async function startRerunnable<R extends { generation: Generation }>(
  service: ModelService,
  signal: AbortSignal,
  start: (mm: MiniCPMV) => Promise<R>,
): Promise<R> {
  let reruns = 0;
  const mayRerun = (e: unknown) =>
    e instanceof EngineCrashError && e.rerunnable && !signal.aborted && reruns++ < MAX_RERUNS;
  const attempt = async (): Promise<R> => {
    for (;;) {
      try {
        return await start(await service.model());
      } catch (e) {
        if (!mayRerun(e)) throw e;
      }
    }
  };
  let current = await attempt();
  const relay = new Generation();
  const run: R = { ...current, generation: relay };
  (async () => {
    for (;;) {
      let sent = false;
      try {
        for await (const piece of current.generation) {
          sent = true;
          relay.emit(piece);
        }
        return relay.finish(await current.generation.result);
      } catch (e) {
        if (sent || !mayRerun(e)) return relay.finish(e as Error);
      }
      try {
        current = await attempt();
        Object.assign(run, current, { generation: relay });
      } catch (e) {
        return relay.finish(e as Error);
      }
    }
  })();
  return run;
}
