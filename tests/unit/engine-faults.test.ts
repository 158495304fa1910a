/**
 * The pieces of fault handling that need no engine: a crash's errors (rerunnable or not) and how
 * they map to HTTP, and the cancellation helpers used between the steps of a request's preparation.
 * The behaviour with a real engine is in tests/server-recovery.test.ts and tests/server-concurrency.test.ts.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  abortable,
  AbortError,
  crashOfRunningRequest,
  EngineCrashError,
  EngineError,
  throwIfAborted,
} from "../../engine/ts/errors.ts";
import { toHttpError } from "../../routes/errors.ts";

test("a crash is an engine_crashed EngineError answered 503 with Retry-After, rerunnable or not", () => {
  for (const rerunnable of [true, false]) {
    const e = new EngineCrashError("engine crashed: unreachable", rerunnable);
    assert.ok(e instanceof EngineError);
    assert.equal(e.code, "engine_crashed");
    const h = toHttpError(e);
    assert.deepEqual([h.status, h.type, h.code, h.headers], [503, "server_error", "engine_crashed", {
      "retry-after": "5",
    }]);
    assert.equal(h.message, "engine crashed: unreachable");
  }
});

test("a request that was running sees a crash as not rerunnable; other errors pass through", () => {
  const queued = new EngineCrashError("engine crashed: x (during an earlier call; this one did not run)", true);
  const running = crashOfRunningRequest(queued);
  assert.ok(running instanceof EngineCrashError && !running.rerunnable);
  assert.equal(running.message, queued.message);
  const own = new EngineCrashError("engine crashed: x", false);
  assert.equal(crashOfRunningRequest(own), own);
  const other = new EngineError("decode failed", "decode_failed");
  assert.equal(crashOfRunningRequest(other), other);
});

test("throwIfAborted and abortable: an AbortError (499) once the signal aborts, the value otherwise", async () => {
  const ctrl = new AbortController();
  throwIfAborted(ctrl.signal);
  throwIfAborted(undefined);
  assert.equal(await abortable(Promise.resolve(7), ctrl.signal), 7);
  await assert.rejects(abortable(Promise.reject(new Error("boom")), ctrl.signal), /boom/);

  let finish!: (v: number) => void;
  const slow = new Promise<number>((r) => (finish = r));
  const waiting = abortable(slow, ctrl.signal);
  ctrl.abort();
  await assert.rejects(waiting, (e) => e instanceof AbortError && toHttpError(e).status === 499);
  finish(1); // what finishes later is dropped
  assert.throws(() => throwIfAborted(ctrl.signal), AbortError);
  // already aborted: rejects at once, and a later failure of the work is not an unhandled rejection
  await assert.rejects(abortable(Promise.reject(new Error("late")), ctrl.signal), AbortError);
});
